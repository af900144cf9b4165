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

/// Replaces the test cases' run-time placeholders by fixed values (see
/// `kmipd::ttlv::placeholders`), at a fixed instant.
pub fn substitute_placeholders(xml: &str) -> String {
    kmipd::ttlv::placeholders::substitute(xml, 1_700_000_000)
}
