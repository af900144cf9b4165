//! Shared by the spec tests: where the OASIS vectors are, and how their placeholders become
//! concrete values.
//!
//! The vectors are read in place from `KMIP_VECTORS_DIR` (default `../shared/kmip/vectors`
//! beside the repository); they are public OASIS material that this repository does not copy.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The vectors folder, or a panic that says how to point the tests at it.
pub fn vectors_dir() -> PathBuf {
    let dir = std::env::var_os("KMIP_VECTORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/kmip/vectors"));
    assert!(
        dir.is_dir(),
        "the OASIS KMIP test vectors are not at {}: set KMIP_VECTORS_DIR to the folder holding \
         v2.1/, v1.4/, v1.0/ and ttlv-hex-pairs/ (see ../shared/kmip/README.md)",
        dir.display()
    );
    dir
}

/// The XML files of one folder, sorted.
pub fn xml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    files
}

/// The profile test-case folders, in a fixed order.
pub const FOLDERS: &[&str] = &[
    "v2.1/mandatory",
    "v2.1/optional",
    "v1.4/mandatory",
    "v1.4/optional",
    "v1.0/mandatory",
    "v1.0/optional",
];

/// Replaces the test cases' run-time placeholders by fixed values, so that the XML parser,
/// which rightly refuses `$NOW` as a Date-Time, can read them:
/// - `$NOW`, `$NOW-3600`, ... in a Date-Time: a fixed instant (offset applied);
/// - `$KEY_MATERIAL_n`, `$DATA_n`, ... in a Byte String: fixed bytes derived from the name;
/// - Text String placeholders (`$UNIQUE_IDENTIFIER_n`) stay as they are: they are valid text.
pub fn substitute_placeholders(xml: &str) -> String {
    const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(at) = rest.find("value=\"$") {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        let start = "value=\"".len();
        let end = tail[start..]
            .find('"')
            .map(|e| e + start)
            .unwrap_or(tail.len());
        let placeholder = &tail[start..end];
        let item_type = head
            .rfind("type=\"")
            .map(|t| &head[t + 6..])
            .and_then(|t| t.split('"').next())
            .unwrap_or("");
        let value = match item_type {
            "DateTime" => {
                let offset: i64 = placeholder
                    .strip_prefix("$NOW")
                    .filter(|o| !o.is_empty())
                    .and_then(|o| o.parse().ok())
                    .unwrap_or(0);
                time::OffsetDateTime::from_unix_timestamp(NOW + offset)
                    .expect("fixed instant")
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("formats")
            }
            "ByteString" => {
                let seed = placeholder.bytes().fold(0u8, |a, b| a.wrapping_add(b));
                (0..16u8)
                    .map(|i| format!("{:02x}", seed.wrapping_add(i)))
                    .collect()
            }
            _ => placeholder.to_string(),
        };
        out.push_str("value=\"");
        out.push_str(&value);
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}
