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
use tokio::io::AsyncWriteExt;
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
    let server = TestServer::start(
        settings(tls_settings(&pki), limits),
        Echo {
            delay: Duration::ZERO,
        },
    )
    .await;
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
    let server = TestServer::start(
        settings(tls_settings(&pki), limits),
        Echo {
            delay: Duration::ZERO,
        },
    )
    .await;
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
