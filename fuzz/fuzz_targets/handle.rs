//! The dispatcher: any sequence of messages sent by one client to a fresh server (the
//! in-memory store) gets one answer per message, never a panic, and every answer is a TTLV
//! Response Message that types in its own protocol version, with at least one batch item
//! and a Time Stamp, whatever the request was (a valid message, a mangled one, a response,
//! random bytes).
//!
//! Input: messages back to back, each as long as its own TTLV header says (the last one takes
//! whatever is left). Seed corpus: the OASIS test cases converted to binary
//! (`fuzz/seed-handle.sh`), so the fuzzer starts from real request sequences (create, then
//! get, activate, revoke, destroy...).
#![no_main]

use std::sync::Arc;

use kmipd::kmip::codec::{DateTime, ModelError};
use kmipd::kmip::messages::ResponseMessage;
use kmipd::ops::Kms;
use kmipd::policy::Principal;
use kmipd::store::memory::MemoryStore;
use kmipd::ttlv::{self, Tag};
use kmipd::ttlv::frame::{self, Frame};
use libfuzzer_sys::fuzz_target;

/// Messages per input: enough for create → use → destroy sequences.
const MAX_MESSAGES: usize = 16;
/// 2026-01-01T00:00:00Z, as the server's clock.
const NOW: i64 = 1_767_225_600;

fuzz_target!(|data: &[u8]| {
    let kms = Kms::new(Arc::new(MemoryStore::new()));
    let who = Principal::new("fuzz");
    let mut rest = data;
    for i in 0..MAX_MESSAGES {
        if rest.is_empty() {
            break;
        }
        let len = match frame::check(rest, usize::MAX) {
            Ok(Frame::Complete(n)) => n,
            _ => rest.len(),
        };
        let (message, tail) = rest.split_at(len);
        rest = tail;
        let now = NOW + i as i64;
        let response = kms.handle(&who, message, now);
        let item = ttlv::decode(&response).expect("every answer is TTLV");
        assert_eq!(item.tag, Tag::ResponseMessage, "every answer is a Response Message");
        match ResponseMessage::from_item(&item) {
            Ok((typed, _)) => {
                assert!(!typed.batch_item.is_empty(), "an answer has a batch item");
                assert_eq!(
                    typed.response_header.time_stamp,
                    DateTime(now),
                    "an answer carries the server's Time Stamp"
                );
                assert_eq!(
                    typed.response_header.batch_count as usize,
                    typed.batch_item.len(),
                    "Batch Count counts the batch items"
                );
            }
            // The answer to an unsupported version echoes that version, which does not type.
            Err(ModelError::UnsupportedVersion { .. }) => {}
            Err(e) => panic!("the answer does not type: {e}"),
        }
    }
});
