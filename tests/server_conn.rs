//! The connection layer under abuse, over real TLS on 127.0.0.1:0: unframeable input,
//! truncated and oversized messages, stalled and silent clients, the connection cap and
//! graceful shutdown, each while a well-behaved client keeps being served.
//!
//! Timeouts are small (2 s) but every assertion is about behaviour, never about speed:
//! waits are bounded only by the generous `PATIENCE`.

mod server_util;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use server_util::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A client that keeps making requests until told to stop; returns how many it made.
fn well_behaved_client(
    addr: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let mut stream = connect(addr, config).await.unwrap();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let answer = roundtrip(&mut stream, &request(n as i32)).await.unwrap();
            assert_eq!(answer, expected("admin", &request(n as i32)));
            n += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        n
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_clients_do_not_disturb_a_good_one() {
    let (_tmp, pki) = new_pki();
    let limits = test_limits();
    let server = TestServer::echo(&pki, limits).await;
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let good = well_behaved_client(addr, admin_client(&pki), stop.clone());
    let config = admin_client(&pki);

    let garbage = async {
        let mut s = connect(addr, config.clone()).await.unwrap();
        let noise: Vec<u8> = (0u32..256)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        s.write_all(&noise).await.unwrap();
        expect_closed(&mut s).await;
    };
    let garbage_before_tls = async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: kmip\r\n\r\n")
            .await
            .unwrap();
        expect_closed(&mut s).await;
    };
    let truncated_then_closed = async {
        let mut s = connect(addr, config.clone()).await.unwrap();
        s.write_all(&request(1)[..12]).await.unwrap();
        s.flush().await.unwrap();
        s.shutdown().await.unwrap();
    };
    let oversized = async {
        let mut s = connect(addr, config.clone()).await.unwrap();
        // Declares ~4 GiB: closed on the header alone, nothing allocated for it.
        s.write_all(&[0x42, 0x00, 0x78, 0x01, 0xFF, 0xFF, 0xFF, 0xF0])
            .await
            .unwrap();
        s.flush().await.unwrap();
        expect_closed(&mut s).await;
    };
    let not_a_structure = async {
        let mut s = connect(addr, config.clone()).await.unwrap();
        s.write_all(&[0x42, 0x00, 0x78, 0x02, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0])
            .await
            .unwrap();
        s.flush().await.unwrap();
        expect_closed(&mut s).await;
    };
    let stalled = async {
        let mut s = connect(addr, config.clone()).await.unwrap();
        s.write_all(&request(2)[..12]).await.unwrap();
        s.flush().await.unwrap();
        expect_closed(&mut s).await;
    };
    let trickle = async {
        // One byte every 300 ms keeps the socket busy but the message never completes within
        // the idle timeout, which runs from the message's first byte.
        let s = connect(addr, config.clone()).await.unwrap();
        let (mut rd, mut wr) = tokio::io::split(s);
        let writer = async {
            let header = [0x42, 0x00, 0x78, 0x01, 0x00, 0x00, 0x0F, 0x00];
            for byte in header.iter().copied().chain(std::iter::repeat(0)) {
                if wr.write_all(&[byte]).await.is_err() || wr.flush().await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        };
        tokio::select! {
            () = writer => {}
            () = expect_closed(&mut rd) => {}
        }
    };
    let silent = async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        expect_closed(&mut s).await;
    };
    tokio::join!(
        garbage,
        garbage_before_tls,
        truncated_then_closed,
        oversized,
        not_a_structure,
        stalled,
        trickle,
        silent
    );

    server
        .wait_for("all bad connections gone", |m| m.connections_active == 1)
        .await;
    stop.store(true, Ordering::Relaxed);
    let served = good.await.unwrap();
    assert!(served > 0);
    let m = server.metrics.snapshot();
    assert_eq!(m.framing_errors, 3, "{m:?}");
    assert_eq!(m.idle_timeouts, 2, "{m:?}");
    assert_eq!(m.handshake_failures, 2, "{m:?}");
    assert_eq!(m.requests, u64::from(served), "{m:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_closed() {
    let (_tmp, pki) = new_pki();
    let mut limits = test_limits();
    limits.max_connections = 2;
    let server = TestServer::echo(&pki, limits).await;
    let config = admin_client(&pki);

    let mut first = connect(server.addr, config.clone()).await.unwrap();
    let mut second = connect(server.addr, config.clone()).await.unwrap();
    roundtrip(&mut first, &request(1)).await.unwrap();
    roundtrip(&mut second, &request(2)).await.unwrap();
    assert!(
        try_request(server.addr, config.clone(), &request(3))
            .await
            .is_err()
    );
    assert_eq!(server.metrics.snapshot().connections_refused, 1);

    drop(first);
    server
        .wait_for("a free slot", |m| m.connections_active == 1)
        .await;
    let answer = try_request(server.addr, config.clone(), &request(4))
        .await
        .unwrap();
    assert_eq!(answer, expected("admin", &request(4)));
    roundtrip(&mut second, &request(5)).await.unwrap();
    let m = server.metrics.snapshot();
    assert_eq!(
        (m.connections_accepted, m.connections_refused),
        (3, 1),
        "{m:?}"
    );
    server.shutdown().await;
}

/// A client that goes on sending a message the server has already refused (its declared
/// length is over the limit, so the server closes as soon as it reads the header) sees a
/// clean TLS close, not a connection reset: its writes go through, because the server reads
/// and discards until the client closes too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_still_sending_when_its_connection_is_closed_sees_a_clean_close() {
    let (_tmp, pki) = new_pki();
    let server = TestServer::echo(&pki, test_limits()).await;
    let mut stream = connect(server.addr, admin_client(&pki)).await.unwrap();
    let mut header = vec![0x42, 0x00, 0x78, 0x01];
    header.extend((1u32 << 20).to_be_bytes());
    stream.write_all(&header).await.unwrap();
    stream.flush().await.unwrap();
    server
        .wait_for("the framing error", |m| m.framing_errors == 1)
        .await;
    let chunk = vec![0u8; 16 * 1024];
    for n in 0..16 {
        let sent = async {
            stream.write_all(&chunk).await?;
            stream.flush().await
        };
        sent.await
            .unwrap_or_else(|e| panic!("chunk {n} after the close: {e}"));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut rest = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest))
        .await
        .expect("the server closes");
    assert!(
        read.is_ok() && rest.is_empty(),
        "{read:?}, {} bytes",
        rest.len()
    );
    drop(stream);
    server.shutdown().await;
}

/// A TCP connection from `source` (another loopback address: all of 127/8 reaches the
/// server) that never starts its TLS handshake.
async fn stalled_from(source: [u8; 4], addr: std::net::SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    socket.connect(addr).await.unwrap()
}

fn patient_handshakes(max_connections: usize, per_address: usize) -> kmipd::server::Limits {
    let mut limits = test_limits();
    limits.max_connections = max_connections;
    limits.max_handshakes_per_address = per_address;
    // Longer than the test: stalled handshakes end only when the test or the server ends
    // them.
    limits.handshake_timeout = Duration::from_secs(60);
    limits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_fill_the_server_with_stalled_handshakes() {
    let (_tmp, pki) = new_pki();
    let server = TestServer::echo(&pki, patient_handshakes(16, 3)).await;
    let addr = server.addr;
    let config = admin_client(&pki);

    let mut from_2 = Vec::new();
    for _ in 0..6 {
        from_2.push(stalled_from([127, 0, 0, 2], addr).await);
    }
    server
        .wait_for("3 held and 3 refused", |m| {
            m.connections_accepted == 3 && m.handshakes_refused_per_address == 3
        })
        .await;
    for refused in &mut from_2[3..] {
        expect_closed(refused).await;
    }
    // Another address has its own allowance.
    let mut from_3 = Vec::new();
    for _ in 0..4 {
        from_3.push(stalled_from([127, 0, 0, 3], addr).await);
    }
    server
        .wait_for("3 more held, 1 more refused", |m| {
            m.connections_active == 6 && m.handshakes_refused_per_address == 4
        })
        .await;

    // A real client, with its own address, is served while the others stall; its
    // established connection does not count against its address.
    let mut held = Vec::new();
    for n in 0..4 {
        let mut client = connect(addr, config.clone()).await.unwrap();
        let answer = roundtrip(&mut client, &request(n)).await.unwrap();
        assert_eq!(answer, expected("admin", &request(n)));
        held.push(client);
    }

    // A stalled connection that goes away gives its address's allowance back.
    drop(from_2.swap_remove(0));
    server
        .wait_for("the handshake ended", |m| m.handshake_failures == 1)
        .await;
    let _again = stalled_from([127, 0, 0, 2], addr).await;
    server
        .wait_for("a new handshake from 127.0.0.2", |m| {
            m.connections_accepted == 3 + 3 + 4 + 1
        })
        .await;
    for client in &mut held {
        roundtrip(client, &request(9)).await.unwrap();
    }
    let m = server.metrics.snapshot();
    assert_eq!(
        (m.handshakes_refused_per_address, m.connections_refused),
        (4, 0),
        "{m:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_full_the_oldest_stalled_handshake_gives_way() {
    let (_tmp, pki) = new_pki();
    let server = TestServer::echo(&pki, patient_handshakes(3, 32)).await;
    let addr = server.addr;
    let config = admin_client(&pki);

    let mut first = connect(addr, config.clone()).await.unwrap();
    roundtrip(&mut first, &request(1)).await.unwrap();
    // Two stalled handshakes from two addresses fill the server.
    let mut older = stalled_from([127, 0, 0, 2], addr).await;
    server
        .wait_for("the older handshake", |m| m.connections_active == 2)
        .await;
    let mut younger = stalled_from([127, 0, 0, 3], addr).await;
    server
        .wait_for("a full server", |m| m.connections_active == 3)
        .await;

    // Once they have stalled for longer than a handshake takes, a new client takes the
    // oldest one's slot.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let mut second = connect(addr, config.clone()).await.unwrap();
    let answer = roundtrip(&mut second, &request(2)).await.unwrap();
    assert_eq!(answer, expected("admin", &request(2)));
    expect_closed(&mut older).await;
    assert_eq!(server.metrics.snapshot().handshakes_evicted, 1);

    // Then the next oldest.
    let mut third = connect(addr, config.clone()).await.unwrap();
    roundtrip(&mut third, &request(3)).await.unwrap();
    expect_closed(&mut younger).await;

    // Established clients never give way: with every slot theirs, a new one is refused.
    assert!(
        try_request(addr, config.clone(), &request(4))
            .await
            .is_err()
    );
    for (n, client) in [&mut first, &mut second, &mut third]
        .into_iter()
        .enumerate()
    {
        let answer = roundtrip(client, &request(10 + n as i32)).await.unwrap();
        assert_eq!(answer, expected("admin", &request(10 + n as i32)));
    }
    let m = server.metrics.snapshot();
    assert_eq!(
        (
            m.handshakes_evicted,
            m.connections_refused,
            m.connections_active
        ),
        (2, 1, 3),
        "{m:?}"
    );
    server.shutdown().await;
}

/// With `max_connections_per_principal`, a client that holds its share of connections gets
/// no more (each further one is closed after its handshake) while other principals connect;
/// a connection it closes gives its place back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_holds_no_more_connections_than_its_cap() {
    let (tmp, pki) = new_pki();
    let mut limits = test_limits();
    limits.max_connections_per_principal = Some(2);
    let server = TestServer::echo(&pki, limits).await;
    let admin = admin_client(&pki);
    let (cert, key) =
        kmipd::server::issue_client(&pki.dir, "other", &tmp.path().join("clients")).unwrap();
    let other = client_config(&pki.ca_cert, &cert, &key);

    let mut first = connect(server.addr, admin.clone()).await.unwrap();
    let mut second = connect(server.addr, admin.clone()).await.unwrap();
    roundtrip(&mut first, &request(1)).await.unwrap();
    roundtrip(&mut second, &request(2)).await.unwrap();
    assert!(
        try_request(server.addr, admin.clone(), &request(3))
            .await
            .is_err()
    );
    assert_eq!(
        server.metrics.snapshot().connections_refused_per_principal,
        1
    );
    // Another principal is not held back by admin's cap.
    let answer = try_request(server.addr, other, &request(4)).await.unwrap();
    assert_eq!(answer, expected("other", &request(4)));

    drop(first);
    server
        .wait_for("admin's first connection gone", |m| {
            m.connections_active == 1
        })
        .await;
    let mut third = connect(server.addr, admin.clone()).await.unwrap();
    roundtrip(&mut third, &request(5)).await.unwrap();
    roundtrip(&mut second, &request(6)).await.unwrap();
    let m = server.metrics.snapshot();
    assert_eq!(
        (m.connections_refused_per_principal, m.connections_refused),
        (1, 0),
        "{m:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_answers_requests_in_flight_then_refuses() {
    let (_tmp, pki) = new_pki();
    let mut server = TestServer::start(
        settings(tls_settings(&pki), test_limits()),
        Echo {
            delay: Duration::from_millis(200),
        },
    )
    .await;
    let config = admin_client(&pki);
    let mut busy = connect(server.addr, config.clone()).await.unwrap();
    let mut idle = connect(server.addr, config.clone()).await.unwrap();
    roundtrip(&mut idle, &request(0)).await.unwrap();

    busy.write_all(&request(1)).await.unwrap();
    busy.flush().await.unwrap();
    server
        .wait_for("the request in the handler", |m| m.requests == 2)
        .await;
    server.signal_shutdown();

    let answer = tokio::time::timeout(PATIENCE, read_message(&mut busy))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, expected("admin", &request(1)));
    expect_closed(&mut busy).await;
    expect_closed(&mut idle).await;
    assert!(
        try_request(server.addr, config.clone(), &request(2))
            .await
            .is_err()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_vanishes_mid_request_ends_its_task() {
    let (_tmp, pki) = new_pki();
    let server = TestServer::start(
        settings(tls_settings(&pki), test_limits()),
        Echo {
            delay: Duration::from_millis(200),
        },
    )
    .await;
    let mut stream = connect(server.addr, admin_client(&pki)).await.unwrap();
    stream.write_all(&request(1)).await.unwrap();
    stream.flush().await.unwrap();
    server
        .wait_for("the request in the handler", |m| m.requests == 1)
        .await;
    drop(stream);
    server
        .wait_for("the connection gone", |m| m.connections_active == 0)
        .await;
    assert!(
        try_request(server.addr, admin_client(&pki), &request(2))
            .await
            .is_ok()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_response_nobody_reads_does_not_hold_the_server() {
    // The client sends many requests and never reads: once the socket buffers fill, the
    // server's write waits at most the idle timeout, then the connection is dropped.
    let (_tmp, pki) = new_pki();
    let server = TestServer::start(settings(tls_settings(&pki), test_limits()), BigAnswer).await;
    let mut stream = connect(server.addr, admin_client(&pki)).await.unwrap();
    let burst: Vec<u8> = (0..64).flat_map(request).collect();
    let _ = tokio::time::timeout(PATIENCE, async {
        while stream.write_all(&burst).await.is_ok() {}
    })
    .await;
    server
        .wait_for("the writer to give up", |m| m.idle_timeouts == 1)
        .await;
    server
        .wait_for("the connection gone", |m| m.connections_active == 0)
        .await;
    drop(stream);
    server.shutdown().await;
}

/// Answers every request with 256 KiB, to fill the socket buffers quickly.
struct BigAnswer;

impl kmipd::server::Handler for BigAnswer {
    fn handle(&self, _: &kmipd::server::Principal, _: &[u8]) -> Vec<u8> {
        let mut answer = vec![0u8; 256 * 1024];
        answer[..8].copy_from_slice(&[0x42, 0x00, 0x7B, 0x01, 0x00, 0x03, 0xFF, 0xF8]);
        answer
    }
}
