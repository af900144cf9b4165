//! The machine's floor for one connection: a bare TCP round trip over loopback (200 bytes
//! each way, blocking sockets, `TCP_NODELAY`, no TLS, no KMIP), between two threads that the
//! scheduler places on any vCPU, and between two threads pinned to the same vCPU.
//!
//! A one-connection benchmark of any server (`kmipd bench --connections 1`) is a chain of
//! such round trips plus the work on both sides, so its rate can't exceed this floor. On a
//! virtual machine, the cross-vCPU figure is dominated by waking the other side (an
//! inter-processor interrupt and a host wake-up of the sleeping vCPU), not by TCP. Figures
//! and what they imply for the targets are in `docs/benchmarks.md`.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use criterion::{Criterion, criterion_group, criterion_main};

const MESSAGE: usize = 200;

/// Pins the calling thread to `cpu` (Linux); false if the kernel refused.
fn pin_to(cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET and sched_setaffinity only read
    // and write the set passed to them.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// A connected pair; the far end echoes every message on its own thread (pinned to `pin`
/// if given) until the near end closes.
fn echo_pair(pin: Option<usize>) -> TcpStream {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        if let Some(cpu) = pin {
            assert!(pin_to(cpu), "pinning the echo thread");
        }
        let (mut s, _) = listener.accept().expect("accept");
        s.set_nodelay(true).expect("nodelay");
        let mut buf = [0u8; MESSAGE];
        while s.read_exact(&mut buf).is_ok() {
            if s.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s
}

fn round_trips(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp_round_trip_200B");
    // SAFETY: sched_getaffinity fills the zeroed set it is given.
    let before = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        set
    };
    // The first vCPU this process may run on.
    // SAFETY: CPU_ISSET reads the set filled above.
    let first = (0..libc::CPU_SETSIZE as usize).find(|&c| unsafe { libc::CPU_ISSET(c, &before) });
    for (name, pin) in [("any_vcpu", None), ("same_vcpu", first)] {
        if name == "same_vcpu" && pin.is_none_or(|cpu| !pin_to(cpu)) {
            eprintln!("same_vcpu: cannot pin threads here; skipped");
            continue;
        }
        let mut s = echo_pair(pin);
        let mut buf = [7u8; MESSAGE];
        group.bench_function(name, |b| {
            b.iter(|| {
                s.write_all(&buf).expect("write");
                s.read_exact(&mut buf).expect("read");
                black_box(&buf);
            })
        });
        drop(s);
        // SAFETY: restores the mask read above (the measuring thread was pinned for
        // `same_vcpu`).
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &before);
        }
    }
    group.finish();
}

criterion_group!(benches, round_trips);
criterion_main!(benches);
