//! Every message of every OASIS profile test case (KMIP 2.1, 1.4 and 1.0–1.2) parses into the
//! typed message model of its protocol version, and the typed model writes the same bytes as
//! the XML converted straight to TTLV.

mod support;

use kmipd::kmip::KmipNames;
use kmipd::kmip::messages::{RequestMessage, RequestPayload, ResponseMessage, ResponsePayload};
use kmipd::ttlv::{self, Tag};

use support::{FOLDERS, substitute_placeholders, vectors_dir, xml_files};

/// Types one message and writes it back; returns the first difference, if any.
fn typed_round_trip(bytes: &[u8]) -> Result<String, String> {
    let item = ttlv::decode(bytes).map_err(|e| format!("decode: {e}"))?;
    let (typed, version) = match item.tag {
        Tag::RequestMessage => {
            let (m, cx) = RequestMessage::from_item(&item).map_err(|e| format!("typing: {e}"))?;
            if let Some(b) = m
                .batch_item
                .iter()
                .find(|b| matches!(b.request_payload, RequestPayload::Other(_)))
            {
                return Err(format!("{:?} request payload left untyped", b.operation));
            }
            (m.to_bytes(&cx), cx.version)
        }
        Tag::ResponseMessage => {
            let (m, cx) = ResponseMessage::from_item(&item).map_err(|e| format!("typing: {e}"))?;
            if let Some(b) = m
                .batch_item
                .iter()
                .find(|b| matches!(b.response_payload, Some(ResponsePayload::Other(_))))
            {
                return Err(format!("{:?} response payload left untyped", b.operation));
            }
            (m.to_bytes(&cx), cx.version)
        }
        other => return Err(format!("not a message: {other}")),
    };
    if typed != bytes {
        let at = typed
            .iter()
            .zip(bytes)
            .position(|(a, b)| a != b)
            .unwrap_or(typed.len().min(bytes.len()));
        return Err(format!(
            "typed re-encoding differs at byte {at} (lengths {} and {})",
            typed.len(),
            bytes.len()
        ));
    }
    Ok(version.to_string())
}

#[test]
fn every_profile_message_types_and_re_encodes_identically() {
    let root = vectors_dir();
    let mut failures = Vec::new();
    let mut total = 0;
    for folder in FOLDERS {
        let (mut files, mut messages) = (0, 0);
        let mut versions = std::collections::BTreeMap::<String, usize>::new();
        for path in xml_files(&root.join(folder)) {
            files += 1;
            let text = std::fs::read_to_string(&path).expect("readable vector");
            let items = match ttlv::messages_from_xml(&substitute_placeholders(&text), &KmipNames) {
                Ok(items) => items,
                Err(e) => {
                    failures.push(format!("{}: XML: {e}", path.display()));
                    continue;
                }
            };
            for (i, item) in items.iter().enumerate() {
                messages += 1;
                let bytes = ttlv::encode(item);
                match typed_round_trip(&bytes) {
                    Ok(version) => *versions.entry(version).or_default() += 1,
                    Err(e) => failures.push(format!("{} message {i}: {e}", path.display())),
                }
            }
        }
        total += messages;
        println!("{folder}: {files} files, {messages} messages, by version {versions:?}");
    }
    println!("{total} messages in all, {} failures", failures.len());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
