//! Key rotation against the real `kmipd serve` (redb store, write-ahead log, its own date
//! sweep every second), over mutual TLS with the development client:
//! - Re-key by a client, in KMIP 1.4 and 2.1: the replacement has new material, the name
//!   moves to it and survives a restart of the server;
//! - automatic rotation (2.1 Rotate Automatic, Rotate Interval): the server re-keys the key
//!   on its own once the interval has passed, with no request, and Locate by the name then
//!   finds the replacement, linked to the key it replaced.

mod daemon_util;
mod kms_util;
mod server_util;

use std::time::{Duration, Instant};

use kmipd::kmip::attributes::{Attribute, Link};
use kmipd::kmip::codec::Interval;
use kmipd::kmip::messages::*;
use kmipd::kmip::payloads::*;
use kmipd::kmip::*;
use kmipd::ttlv::Tag;
use kms_util::*;
use server_util::PATIENCE;

use KmipVersion::*;

fn serve(data: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kmipd"));
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data)
        .args(["--listen", "127.0.0.1:0"]);
    cmd
}

async fn connect(daemon: &daemon_util::Daemon, data: &std::path::Path) -> Client {
    let addr: std::net::SocketAddr = daemon.addr.parse().unwrap();
    let stream = server_util::connect(addr, server_util::dev_admin_client(data))
        .await
        .expect("TLS connection");
    Client { stream }
}

fn rekey(uid: &str) -> RequestPayload {
    RequestPayload::ReKey(RekeyRequest {
        unique_identifier: Some(uid.into()),
        offset: None,
        template_attribute: None,
        attributes: None,
        protection_storage_masks: None,
    })
}

/// The objects Locate finds by `name`, newest first in 2.1.
async fn named(client: &mut Client, version: KmipVersion, value: &str) -> Vec<String> {
    let ResponsePayload::Locate(l) = client
        .ok(
            version,
            Operation::Locate,
            locate(version, vec![name(value)], None, None),
        )
        .await
    else {
        panic!("not a Locate answer")
    };
    l.unique_identifier
}

async fn link_of(client: &mut Client, uid: &str) -> Vec<Attribute> {
    let ResponsePayload::GetAttributes(g) = client
        .ok(
            V2_1,
            Operation::GetAttributes,
            get_attributes(V2_1, Some(uid), &[Tag::Link]),
        )
        .await
    else {
        panic!("not a Get Attributes answer")
    };
    attributes_of(V2_1, g)
}

async fn material(client: &mut Client, version: KmipVersion, uid: &str) -> Vec<u8> {
    let ResponsePayload::Get(g) = client.ok(version, Operation::Get, get(uid, None)).await else {
        panic!("not a Get answer")
    };
    key_bytes(&g)
}

#[test]
fn keys_are_rotated_by_rekey_and_by_the_server_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let daemon = daemon_util::Daemon::spawn(serve(&data), dir.path().join("kmipd.log"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut replaced = Vec::new();
    rt.block_on(async {
        let mut client = connect(&daemon, &data).await;
        for version in [V1_4, V2_1] {
            let label = format!("rekeyed-{version}");
            let ResponsePayload::Create(c) = client
                .ok(version, Operation::Create, create(version, 256, &label))
                .await
            else {
                panic!("not a Create answer")
            };
            let before = material(&mut client, version, &c.unique_identifier).await;
            let ResponsePayload::ReKey(r) = client
                .ok(version, Operation::ReKey, rekey(&c.unique_identifier))
                .await
            else {
                panic!("not a Re-key answer")
            };
            assert_ne!(r.unique_identifier, c.unique_identifier);
            let after = material(&mut client, version, &r.unique_identifier).await;
            assert_eq!(after.len(), 32);
            assert_ne!(after, before);
            assert_eq!(
                named(&mut client, version, &label).await,
                vec![r.unique_identifier.clone()]
            );
            replaced.push((version, label, r.unique_identifier));
        }

        // Automatic rotation: every 2 s from the key's Initial Date, by the server's sweep.
        let attrs = vec![
            Attribute::CryptographicAlgorithm(CryptographicAlgorithm::AES),
            Attribute::CryptographicLength(128),
            name("rotating"),
            Attribute::RotateAutomatic(true),
            Attribute::RotateInterval(Interval(2)),
        ];
        let ResponsePayload::Create(c) = client
            .ok(V2_1, Operation::Create, create_with(V2_1, attrs))
            .await
        else {
            panic!("not a Create answer")
        };
        let first = c.unique_identifier;
        let deadline = Instant::now() + PATIENCE;
        let rotated = loop {
            let found = named(&mut client, V2_1, "rotating").await;
            if found != vec![first.clone()] {
                break found;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not rotate the key within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(rotated.len(), 1, "the name is on one key: {rotated:?}");
        let second = &rotated[0];
        assert!(
            link_of(&mut client, second)
                .await
                .contains(&Attribute::Link(Link {
                    link_type: LinkType::ReplacedObjectLink,
                    linked_object_identifier: first.clone(),
                }))
        );
        assert_eq!(material(&mut client, V2_1, second).await.len(), 16);
    });
    assert!(daemon.stop().success());

    // What a client re-keyed is as it left it after a restart.
    let daemon = daemon_util::Daemon::spawn(serve(&data), dir.path().join("kmipd2.log"));
    rt.block_on(async {
        let mut client = connect(&daemon, &data).await;
        for (version, label, uid) in &replaced {
            assert_eq!(named(&mut client, *version, label).await, vec![uid.clone()]);
        }
    });
    assert!(daemon.stop().success());
    let log = std::fs::read_to_string(dir.path().join("kmipd.log")).unwrap();
    assert!(!log.contains("cannot be re-keyed"), "{log}");
}
