//! Bad input on the socket while a well-behaved client is being served: the real dispatcher
//! behind the real server over TLS on 127.0.0.1:0.
//!
//! A background client keeps creating and reading keys on one connection for the whole
//! test. Meanwhile other connections send random bytes, truncated frames, a declared length
//! over the limit, a half-sent message that stalls, an unknown operation, a wrong item type,
//! missing required fields and unknown tags. Each must get the right Result Reason (and the
//! connection stays usable) or a clean close without an answer; and after each, the good
//! client must have been answered again.

mod kms_util;
mod server_util;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use kmipd::kmip::*;
use kmipd::server::Limits;
use kmipd::ttlv::{self, Item, Tag, Value};
use kms_util::*;
use server_util::PATIENCE;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use KmipVersion::*;

fn limits() -> Limits {
    Limits {
        handshake_timeout: Duration::from_secs(5),
        // Small, so that the stalled message is dropped soon; the good client is never
        // idle that long (it sends its next request as soon as it has an answer).
        idle_timeout: Duration::from_secs(3),
        ..server_util::test_limits()
    }
}

/// A reproducible byte source (xorshift), so a failure can be replayed.
struct Noise(u64);

impl Noise {
    fn byte(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

fn int(tag: Tag, v: i32) -> Item<'static> {
    Item::new(tag, Value::Integer(v))
}

fn text(tag: Tag, v: &str) -> Item<'static> {
    Item::new(tag, Value::TextString(v.to_string().into()))
}

fn enumeration(tag: Tag, v: u32) -> Item<'static> {
    Item::new(tag, Value::Enumeration(v))
}

/// A request message built item by item, so that it can be wrong in chosen ways.
fn raw_request(version: KmipVersion, items: Vec<Item<'static>>) -> Vec<u8> {
    let mut children = vec![Item::structure(
        Tag::RequestHeader,
        vec![
            Item::structure(
                Tag::ProtocolVersion,
                vec![
                    int(Tag::ProtocolVersionMajor, version.major()),
                    int(Tag::ProtocolVersionMinor, version.minor()),
                ],
            ),
            int(Tag::BatchCount, items.len() as i32),
        ],
    )];
    children.extend(items);
    ttlv::encode(&Item::structure(Tag::RequestMessage, children))
}

fn raw_item(operation: u32, payload: Vec<Item<'static>>) -> Item<'static> {
    Item::structure(
        Tag::BatchItem,
        vec![
            enumeration(Tag::Operation, operation),
            Item::structure(Tag::RequestPayload, payload),
        ],
    )
}

/// Reads until the server closes; returns what it sent first. Fails after [`PATIENCE`].
async fn read_to_close<S: AsyncReadExt + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut got = Vec::new();
    let mut scratch = [0u8; 1024];
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&scratch[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open");
    got
}

/// The good client: Create then Get on one connection until told to stop.
struct Steady {
    answered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Steady {
    async fn start(kmsd: &Kmsd) -> Steady {
        let mut c = kmsd.connect().await;
        let answered = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, halt) = (answered.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut n = 0;
            while !halt.load(Ordering::Relaxed) {
                n += 1;
                let v = if n % 2 == 0 { V1_2 } else { V2_1 };
                let uid = c.create(v, 256, &format!("steady-{n}")).await;
                let g = c.get(v, &uid, None).await;
                assert_eq!(key_bytes(&g).len(), 32);
                count.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        Steady {
            answered,
            stop,
            task,
        }
    }

    /// Waits until the good client has been answered again.
    async fn progressed(&self, after: &str) {
        let before = self.answered.load(Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.answered.load(Ordering::Relaxed) <= before {
            assert!(
                !self.task.is_finished(),
                "the good client failed (after {after})"
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "the good client was not answered after {after}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("the good client stops")
            .expect("the good client never failed");
        self.answered.load(Ordering::Relaxed)
    }
}

/// Sends `request` on a fresh connection; expects a failed batch item with `reason`, then
/// that the same connection still answers a good request.
async fn expect_reason(kmsd: &Kmsd, what: &str, request: &[u8], reason: ResultReason) {
    let mut c = kmsd.connect().await;
    let answer = c
        .raw(request)
        .await
        .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
    let r = decode_response(&answer);
    assert_eq!(r.batch_item.len(), 1, "{what}");
    let it = &r.batch_item[0];
    assert_eq!(
        (it.result_status, it.result_reason),
        (ResultStatus::OperationFailed, Some(reason)),
        "{what}: {:?}",
        it.result_message
    );
    assert!(it.response_payload.is_none());
    let uid = c.create(V1_4, 128, "still-served").await;
    assert_eq!(
        key_bytes(&c.get(V1_4, &uid, None).await).len(),
        16,
        "{what}"
    );
}

/// Sends `bytes` on a fresh connection (then half-closes if `eof`); expects a close
/// without any answer.
async fn expect_closed_silently(kmsd: &Kmsd, what: &str, bytes: &[u8], eof: bool) {
    let mut c = kmsd.connect().await;
    c.stream.write_all(bytes).await.unwrap();
    c.stream.flush().await.unwrap();
    if eof {
        c.stream.shutdown().await.unwrap();
    }
    let got = read_to_close(&mut c.stream).await;
    assert!(got.is_empty(), "{what}: answered {got:02x?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_while_a_good_client_is_served() {
    let kmsd = Kmsd::start(limits()).await;
    let steady = Steady::start(&kmsd).await;
    steady.progressed("start").await;
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);

    // Random bytes that cannot be framed: closed without an answer.
    let mut junk = noise.bytes(300);
    junk[0] = 0x13;
    expect_closed_silently(&kmsd, "random bytes", &junk, false).await;
    steady.progressed("random bytes").await;
    // Text that is neither TTLV nor an HTTP request (HTTP requests are served: kms_http.rs).
    expect_closed_silently(&kmsd, "plain text", b"hello, is this KMIP?\r\n\r\n", false).await;

    // Random bytes inside a well-framed Request Message: answered (Invalid Message), or at
    // worst closed; never a success, never a hang.
    for round in 0..16 {
        let len = 8 * (1 + noise.byte() as usize % 48);
        let mut frame = vec![0x42, 0x00, 0x78, 0x01];
        frame.extend_from_slice(&(len as u32).to_be_bytes());
        frame.extend(noise.bytes(len));
        let mut c = kmsd.connect().await;
        match c.raw(&frame).await {
            Ok(answer) => {
                let r = decode_response(&answer);
                assert_eq!(
                    r.batch_item[0].result_reason,
                    Some(ResultReason::InvalidMessage),
                    "round {round}"
                );
            }
            Err(e) => {
                assert!(read_to_close(&mut c.stream).await.is_empty(), "{e}");
            }
        }
    }
    steady.progressed("random frames").await;

    // A truncated frame: the header promises more than ever comes, then end of stream.
    let good = raw_request(
        V1_2,
        vec![raw_item(
            Operation::Query.value(),
            vec![enumeration(Tag::QueryFunction, 1)],
        )],
    );
    expect_closed_silently(&kmsd, "truncated frame", &good[..good.len() - 8], true).await;
    // A truncated item inside a whole frame: the Request Header claims more than it holds.
    let mut inner = good.clone();
    let header_len = u32::from_be_bytes(inner[12..16].try_into().unwrap());
    inner[12..16].copy_from_slice(&(header_len + 64).to_be_bytes());
    expect_reason(
        &kmsd,
        "truncated item",
        &inner,
        ResultReason::InvalidMessage,
    )
    .await;
    steady.progressed("truncated frames").await;

    // A declared length over the limit: closed before anything is read or allocated.
    let framing_errors = kmsd.server.metrics.snapshot().framing_errors;
    let mut huge = vec![0x42, 0x00, 0x78, 0x01];
    huge.extend_from_slice(&0x4000_0000u32.to_be_bytes());
    huge.extend(noise.bytes(64));
    expect_closed_silently(&kmsd, "declared length over the limit", &huge, false).await;
    let mut just_over = vec![0x42, 0x00, 0x78, 0x01];
    just_over.extend_from_slice(&(4096u32 - 8 + 8).to_be_bytes());
    expect_closed_silently(&kmsd, "one item over the limit", &just_over, false).await;
    assert!(kmsd.server.metrics.snapshot().framing_errors >= framing_errors + 2);
    steady.progressed("oversized").await;

    // A half-sent message that stalls: dropped at the idle timeout; the good client is
    // answered meanwhile.
    let idle_before = kmsd.server.metrics.snapshot().idle_timeouts;
    let mut stalled = kmsd.connect().await;
    stalled.stream.write_all(&good[..20]).await.unwrap();
    stalled.stream.flush().await.unwrap();
    steady.progressed("a stalled message started").await;
    let got = read_to_close(&mut stalled.stream).await;
    assert!(
        got.is_empty(),
        "the stalled client was answered: {got:02x?}"
    );
    assert!(kmsd.server.metrics.snapshot().idle_timeouts > idle_before);
    steady.progressed("stalled message").await;

    // An unknown operation, and one that exists but is not served here.
    expect_reason(
        &kmsd,
        "unknown operation",
        &raw_request(V1_4, vec![raw_item(0x7777, vec![])]),
        ResultReason::OperationNotSupported,
    )
    .await;
    expect_reason(
        &kmsd,
        "Archive",
        &raw_request(
            V2_1,
            vec![raw_item(
                Operation::Archive.value(),
                vec![text(Tag::UniqueIdentifier, "x")],
            )],
        ),
        ResultReason::OperationNotSupported,
    )
    .await;

    // A wrong item type in a known field: a Unique Identifier that is an Integer.
    for v in [V1_0, V1_2, V2_1] {
        expect_reason(
            &kmsd,
            "Integer Unique Identifier",
            &raw_request(
                v,
                vec![raw_item(
                    Operation::Get.value(),
                    vec![int(Tag::UniqueIdentifier, 5)],
                )],
            ),
            ResultReason::InvalidMessage,
        )
        .await;
    }
    // ... and a Batch Count that is Text.
    let mut bad_count = raw_request(V1_2, vec![]);
    let at = bad_count
        .windows(4)
        .position(|w| w == [0x42, 0x00, 0x0D, 0x02])
        .unwrap();
    bad_count[at + 3] = 0x07; // Integer → Text String, same length, still framable
    expect_reason(
        &kmsd,
        "Text Batch Count",
        &bad_count,
        ResultReason::InvalidMessage,
    )
    .await;
    // A Text String whose length counts its padding (IBM Db2 sent these): a clear Invalid
    // Field, not an Item Not Found for an identifier with NULs at its end.
    for v in [V1_0, V2_1] {
        expect_reason(
            &kmsd,
            "Text String length with its padding",
            &raw_request(
                v,
                vec![raw_item(
                    Operation::Get.value(),
                    vec![text(Tag::UniqueIdentifier, "abc\0\0\0\0\0")],
                )],
            ),
            ResultReason::InvalidField,
        )
        .await;
    }
    steady.progressed("wrong item types").await;

    // Missing required fields: Create without Object Type, Revoke without Revocation Reason.
    for v in [V1_2, V2_0] {
        expect_reason(
            &kmsd,
            "Create without Object Type",
            &raw_request(v, vec![raw_item(Operation::Create.value(), vec![])]),
            ResultReason::InvalidMessage,
        )
        .await;
        expect_reason(
            &kmsd,
            "Revoke without Revocation Reason",
            &raw_request(
                v,
                vec![raw_item(
                    Operation::Revoke.value(),
                    vec![text(Tag::UniqueIdentifier, "x")],
                )],
            ),
            ResultReason::InvalidMessage,
        )
        .await;
    }
    steady.progressed("missing fields").await;

    // An unknown tag in a payload, and a known tag where it does not belong.
    for v in [V1_2, V2_1] {
        expect_reason(
            &kmsd,
            "unknown tag",
            &raw_request(
                v,
                vec![raw_item(
                    Operation::Get.value(),
                    vec![
                        text(Tag::UniqueIdentifier, "x"),
                        text(Tag(0x42_7F00), "who knows"),
                    ],
                )],
            ),
            ResultReason::InvalidField,
        )
        .await;
        expect_reason(
            &kmsd,
            "misplaced tag",
            &raw_request(
                v,
                vec![raw_item(
                    Operation::Get.value(),
                    vec![text(Tag::UniqueIdentifier, "x"), int(Tag::BatchCount, 1)],
                )],
            ),
            ResultReason::InvalidField,
        )
        .await;
    }
    steady.progressed("unknown tags").await;

    // Several of these in a row on one connection, each answered, then a good request.
    let mut c = kmsd.connect().await;
    for bad in [
        raw_request(V1_4, vec![raw_item(0x7777, vec![])]),
        raw_request(V1_4, vec![raw_item(Operation::Create.value(), vec![])]),
        raw_request(
            V1_4,
            vec![raw_item(
                Operation::Get.value(),
                vec![int(Tag::UniqueIdentifier, 1)],
            )],
        ),
    ] {
        let r = decode_response(&c.raw(&bad).await.unwrap());
        assert_eq!(r.batch_item[0].result_status, ResultStatus::OperationFailed);
    }
    let uid = c.create(V2_0, 192, "after-the-storm").await;
    assert_eq!(key_bytes(&c.get(V2_0, &uid, None).await).len(), 24);
    drop(c);

    let served = steady.finish().await;
    assert!(served > 0);
    // Every bad connection is gone; nothing leaked.
    kmsd.server
        .wait_for("all connections closed", |m| m.connections_active == 0)
        .await;
    println!("the good client was answered {served} times during the test");
    kmsd.server.shutdown().await;
}
