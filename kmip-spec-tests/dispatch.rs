//! Every request of every OASIS profile test case, in its test case's order, and mutants of
//! each (bytes flipped, zeroed or set, a cut, bytes inserted, an item's type or length
//! changed), sent by one client to a fresh dispatcher: each gets exactly one answer, never a
//! panic, and every answer is a Response Message that types in its own protocol version,
//! with a Batch Count equal to its batch items, at least one item, and the server's Time
//! Stamp. The same property the `handle` fuzz target (`fuzz/`) explores without end; this
//! test holds it in CI from the real clients' messages.
//!
//! The dispatcher runs on the in-memory store: this is about reading messages and shaping
//! answers, not storage (the redb store has its own tests, and the server tests send bad
//! input over real TLS).

mod support;

use std::sync::Arc;

use kmipd::kmip::KmipNames;
use kmipd::kmip::ResultStatus;
use kmipd::kmip::codec::{DateTime, ModelError};
use kmipd::kmip::messages::ResponseMessage;
use kmipd::ops::Kms;
use kmipd::policy::Principal;
use kmipd::store::memory::MemoryStore;
use kmipd::ttlv::{self, Tag};

use support::{FOLDERS, substitute_placeholders, vectors_dir, xml_files};

/// Mutants of each request.
const MUTANTS: usize = 12;
/// The server's clock at the first message of a test case.
const NOW: i64 = 1_700_000_000;

/// A small deterministic generator (xorshift64*), so a failure names a reproducible mutant.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutant of `message`: which kind is chosen by `kind`, where by `rng`.
fn mutate(message: &[u8], kind: usize, rng: &mut Rng) -> Vec<u8> {
    let mut m = message.to_vec();
    let at = rng.below(m.len());
    // TTLV items start on 8-byte boundaries: tag (3), type (1), length (4).
    let item = at & !7;
    match kind % 8 {
        0 => m[at] ^= 1 << rng.below(8),
        1 => m[at] = 0,
        2 => m[at] = 0xFF,
        3 => m.truncate(at),
        4 => {
            let junk: Vec<u8> = (0..8).map(|_| rng.next() as u8).collect();
            m.splice(at..at, junk);
        }
        5 if item + 4 <= m.len() => m[item + 3] = 1 + rng.below(11) as u8, // another item type
        6 if item + 8 <= m.len() => {
            let len = rng.next() as u32 % 64;
            m[item + 4..item + 8].copy_from_slice(&len.to_be_bytes()); // another length
        }
        _ => {
            // A copy of an 8-byte-aligned run somewhere else: repeated or misplaced fields.
            let from = rng.below(m.len() / 8) * 8;
            let len = (8 * (1 + rng.below(4))).min(m.len() - from);
            let run = m[from..from + len].to_vec();
            let to = rng.below(m.len() / 8) * 8;
            m.splice(to..to, run);
        }
    }
    m
}

/// Checks one answer; returns the Result Status of its first batch item when it types.
fn check_answer(answer: &[u8], now: i64) -> Result<Option<ResultStatus>, String> {
    let item = ttlv::decode(answer).map_err(|e| format!("the answer is not TTLV: {e}"))?;
    if item.tag != Tag::ResponseMessage {
        return Err(format!(
            "the answer is a {}, not a Response Message",
            item.tag
        ));
    }
    let typed = match ResponseMessage::from_item(&item) {
        Ok((typed, _)) => typed,
        // The answer to an unsupported version echoes that version, which does not type.
        Err(ModelError::UnsupportedVersion { .. }) => return Ok(None),
        Err(e) => return Err(format!("the answer does not type: {e}")),
    };
    let header = &typed.response_header;
    if header.batch_count as usize != typed.batch_item.len() || typed.batch_item.is_empty() {
        return Err(format!(
            "Batch Count {} with {} batch items",
            header.batch_count,
            typed.batch_item.len()
        ));
    }
    if header.time_stamp != DateTime(now) {
        return Err(format!(
            "Time Stamp {:?}, the server's clock said {now}",
            header.time_stamp
        ));
    }
    Ok(Some(typed.batch_item[0].result_status))
}

#[test]
fn every_profile_request_and_its_mutants_get_a_well_formed_answer() {
    let root = vectors_dir();
    let who = Principal::new("spec-client");
    let mut failures = Vec::new();
    let (mut requests, mut sent, mut succeeded) = (0usize, 0usize, 0usize);
    let mut reasons = std::collections::BTreeMap::<String, usize>::new();
    for folder in FOLDERS {
        for path in xml_files(&root.join(folder)) {
            let text = std::fs::read_to_string(&path).expect("readable vector");
            let Ok(items) = ttlv::messages_from_xml(&substitute_placeholders(&text), &KmipNames)
            else {
                continue; // reported by the `vectors` test
            };
            let kms = Kms::new(Arc::new(MemoryStore::new()));
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ requests as u64);
            let mut now = NOW;
            let mut send = |what: String, message: &[u8], sent: &mut usize| {
                now += 1;
                *sent += 1;
                let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    kms.handle(&who, message, now)
                }));
                match answer {
                    Ok(answer) => check_answer(&answer, now).map_err(|e| format!("{what}: {e}")),
                    Err(_) => Err(format!("{what}: the dispatcher panicked")),
                }
            };
            for (i, item) in items.iter().enumerate() {
                if item.tag != Tag::RequestMessage {
                    continue;
                }
                requests += 1;
                let message = ttlv::encode(item);
                let name = format!("{} message {i}", path.display());
                match send(name.clone(), &message, &mut sent) {
                    Ok(Some(ResultStatus::Success)) => succeeded += 1,
                    Ok(_) => {}
                    Err(e) => failures.push(e),
                }
                for kind in 0..MUTANTS {
                    let mutant = mutate(&message, kind, &mut rng);
                    match send(format!("{name}, mutant {kind}"), &mutant, &mut sent) {
                        Ok(Some(status)) => *reasons.entry(format!("{status:?}")).or_default() += 1,
                        Ok(None) => *reasons.entry("unsupported version".into()).or_default() += 1,
                        Err(e) => failures.push(e),
                    }
                }
            }
        }
    }
    println!(
        "{requests} profile requests ({succeeded} answered Success as sent), {sent} messages \
         with the mutants; mutants' first items: {reasons:?}"
    );
    // Well over a thousand requests in the three profile suites: a smaller count means the
    // vectors were not all read.
    assert!(requests > 1_000, "only {requests} requests read");
    // A regression floor, not a goal: many requests name objects by the identifiers of the
    // OASIS run, and the cryptographic, certificate and key-pair operations come with later
    // issues (256 of 1,622 answered Success on 2026-11-30; the count grows as operations land).
    assert!(
        succeeded >= 256,
        "only {succeeded} of {requests} succeeded as sent"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
}
