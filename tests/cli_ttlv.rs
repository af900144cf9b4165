//! `kmipd ttlv convert` and `kmipd ttlv show`, run as an operator would run them.

use std::io::Write;
use std::process::{Command, Stdio};

fn kmipd(args: &[&str], stdin: &[u8]) -> (bool, Vec<u8>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kmipd"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kmipd runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A 1.0 Query request (KMIP Additional Message Encodings, MSGENC-XML-M-1-10 step 0).
const QUERY_HEX: &str = "42007801000000904200770100000048420069010000002042006a0200000004000000010000000042006b020000000400000000000000004200500200000004000001000000000042000d0200000004000000010000000042000f010000003842005c0500000004000000180000000042007901000000204200740500000004000000010000000042007405000000040000000200000000";

#[test]
fn convert_between_all_forms_and_back() {
    let (ok, xml, err) = kmipd(
        &["ttlv", "convert", "--from", "hex", "--to", "xml"],
        QUERY_HEX.as_bytes(),
    );
    assert!(ok, "{err}");
    let xml_text = String::from_utf8(xml.clone()).unwrap();
    assert!(
        xml_text.contains("<QueryFunction type=\"Enumeration\" value=\"QueryOperations\"/>"),
        "{xml_text}"
    );
    let (ok, json, err) = kmipd(&["ttlv", "convert", "--from", "xml", "--to", "json"], &xml);
    assert!(ok, "{err}");
    let (ok, ttlv, err) = kmipd(
        &["ttlv", "convert", "--from", "json", "--to", "ttlv"],
        &json,
    );
    assert!(ok, "{err}");
    let (ok, hex, err) = kmipd(&["ttlv", "convert", "--from", "ttlv", "--to", "hex"], &ttlv);
    assert!(ok, "{err}");
    assert_eq!(String::from_utf8(hex).unwrap().trim(), QUERY_HEX);
}

#[test]
fn show_names_tags_and_enumerations() {
    let (ok, out, err) = kmipd(
        &["ttlv", "show", "--from", "hex", "-"],
        QUERY_HEX.as_bytes(),
    );
    assert!(ok, "{err}");
    let out = String::from_utf8(out).unwrap();
    for expected in [
        "RequestMessage",
        "ProtocolVersionMajor",
        "Query",
        "QueryObjects",
    ] {
        assert!(out.contains(expected), "{expected} missing from:\n{out}");
    }
}

#[test]
fn an_oasis_test_case_converts_every_message() {
    let dir = std::env::var_os("KMIP_VECTORS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kmip/vectors")
        });
    let file = dir.join("v1.4/mandatory/SKLC-M-1-14.xml");
    assert!(
        file.is_file(),
        "set KMIP_VECTORS_DIR: {} is missing",
        file.display()
    );
    let (ok, out, err) = kmipd(
        &[
            "ttlv",
            "convert",
            "--placeholders",
            "--from",
            "xml",
            "--to",
            "hex",
            file.to_str().unwrap(),
        ],
        b"",
    );
    assert!(ok, "{err}");
    let lines = String::from_utf8(out).unwrap().lines().count();
    let messages = std::fs::read_to_string(&file)
        .unwrap()
        .matches("<RequestMessage>")
        .count()
        * 2;
    assert_eq!(lines, messages);
    // Without --placeholders, `$NOW` is refused, with its place named.
    let (ok, _, err) = kmipd(
        &[
            "ttlv",
            "convert",
            "--from",
            "xml",
            "--to",
            "hex",
            file.to_str().unwrap(),
        ],
        b"",
    );
    assert!(!ok && err.contains("$NOW") && err.contains("line"), "{err}");
}

#[test]
fn errors_name_the_offset_and_the_rule() {
    // A Boolean of value 2 inside a structure.
    let bad = "42007801000000104200010600000008000000000000000200";
    let (ok, _, err) = kmipd(
        &["ttlv", "convert", "--from", "hex", "--to", "xml"],
        bad.as_bytes(),
    );
    assert!(!ok);
    assert!(err.contains("offset") && err.contains("Boolean"), "{err}");
}
