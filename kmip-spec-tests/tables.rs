//! The generator of `src/kmip/tables/{tags,enums,masks}.rs`, and the tests that hold the
//! tables to the spec data and to the OASIS test vectors.
//!
//! The generator reads the OASIS spec files from `KMIP_SPEC_DIR` (default
//! `../shared/kmip/spec`, relative to the crate), builds the tables and compares them with the
//! committed files; `KMIPD_BLESS=1` rewrites the files instead. The vector test walks every
//! `.xml` under `KMIP_VECTORS_DIR` (default `../shared/kmip/vectors`) and resolves every tag,
//! enumeration and mask name it finds through `kmipd::kmip`.
//!
//! Spec sources, newest first (a name is taken from the newest source that has the value):
//! 2.1 csv files + 2.1 spec text (masks only), 2.0 spec text, 1.4 csv, 1.0 spec text.
//! Versions 1.1–1.3 have no spec file here; see `V1X_*` below for how they are placed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kmipd::kmip::{KmipNames, KmipVersion, tag_by_name};
use kmipd::ttlv::{NameContext, Names, Tag};

// ---------------------------------------------------------------------------------------------
// Facts about KMIP 1.1, 1.2 and 1.3, for which no spec file is kept here. Tags and enumeration
// values are numbered sequentially, so each version is a range that ends at the value below.
// ---------------------------------------------------------------------------------------------

/// Last tag of 1.1 (X.509 Certificate Subject), 1.2 (Attestation Capable Indicator) and 1.3
/// (Capability Information). 1.2: the tag table of the 1.2 spec (exact). 1.1: the 1.2 table
/// continues with Key Value Location (`0x4200B8`), the first 1.2 feature, and libkmip groups
/// `0x4200AA..=0x4200B0` under 1.1 and `0x4200C5..` under 1.2 (high confidence). 1.3: libkmip
/// groups Key Wrap Type `0x4200F8` under 1.4 and the 1.3 additions (RNG, validation, profile
/// and capability information) end at Capability Information (approximate).
const V1X_LAST_TAG: [(KmipVersion, u32); 3] = [
    (KmipVersion::V1_1, 0x4200B7),
    (KmipVersion::V1_2, 0x4200D3),
    (KmipVersion::V1_3, 0x4200F7),
];

/// Last value of some enumerations in 1.1 (approximate: Re-key Key Pair and Discover
/// Versions, Query Extension List/Map, Encoding Option Error and the Device credential were
/// the 1.1 additions).
const V1_1_LAST_VALUE: &[(&str, u32)] = &[
    ("Operation", 0x1E),
    ("Query Function", 0x06),
    ("Result Reason", 0x12),
    ("Credential Type", 0x02),
];

/// Last value of each enumeration in 1.2, from the 1.2 spec's tables (exact).
const V1_2_LAST_VALUE: &[(&str, u32)] = &[
    ("Alternative Name Type", 0x07),
    ("Attestation Type", 0x03),
    ("Batch Error Continuation Option", 0x03),
    ("Block Cipher Mode", 0x11),
    ("Cancellation Result", 0x05),
    ("Certificate Request Type", 0x04),
    ("Certificate Type", 0x02),
    ("Credential Type", 0x03),
    ("Cryptographic Algorithm", 0x1A),
    ("Derivation Method", 0x07),
    ("Digital Signature Algorithm", 0x10),
    ("Encoding Option", 0x02),
    ("Hashing Algorithm", 0x0D),
    ("Key Compression Type", 0x04),
    ("Key Format Type", 0x13),
    ("Key Role Type", 0x15),
    ("Key Value Location Type", 0x02),
    ("Link Type", 0x10B),
    ("Name Type", 0x02),
    ("Object Group Member", 0x02),
    ("Object Type", 0x09),
    ("Operation", 0x29),
    ("Padding Method", 0x0A),
    ("Put Function", 0x02),
    ("Query Function", 0x07),
    ("Recommended Curve", 0x44),
    ("Result Reason", 0x15),
    ("Result Status", 0x03),
    ("Revocation Reason Code", 0x07),
    ("Secret Data Type", 0x02),
    ("Split Key Method", 0x04),
    ("State", 0x06),
    ("Usage Limits Unit", 0x02),
    ("Validity Indicator", 0x03),
    ("Wrapping Method", 0x05),
];

/// Last value of each enumeration in 1.3, from the 1.3 spec's tables (exact for the listed
/// categories).
const V1_3_LAST_VALUE: &[(&str, u32)] = &[
    ("Alternative Name Type", 0x07),
    ("Attestation Type", 0x03),
    ("Batch Error Continuation Option", 0x03),
    ("Block Cipher Mode", 0x11),
    ("Cancellation Result", 0x05),
    ("Certificate Request Type", 0x04),
    ("Certificate Type", 0x02),
    ("Client Registration Method", 0x05),
    ("Credential Type", 0x03),
    ("Cryptographic Algorithm", 0x1B),
    ("DRBG Algorithm", 0x05),
    ("Derivation Method", 0x07),
    ("Destroy Action", 0x07),
    ("Digital Signature Algorithm", 0x10),
    ("Encoding Option", 0x02),
    ("FIPS186 Variation", 0x07),
    ("Hashing Algorithm", 0x0D),
    ("Key Compression Type", 0x04),
    ("Key Format Type", 0x15),
    ("Key Role Type", 0x15),
    ("Key Value Location Type", 0x02),
    ("Link Type", 0x10B),
    ("Name Type", 0x02),
    ("Object Group Member", 0x02),
    ("Object Type", 0x09),
    ("Operation", 0x29),
    ("Padding Method", 0x0A),
    ("Profile Name", 0x78),
    ("Put Function", 0x02),
    ("Query Function", 0x0C),
    ("RNG Algorithm", 0x06),
    ("RNG Mode", 0x03),
    ("Recommended Curve", 0x44),
    ("Result Reason", 0x15),
    ("Result Status", 0x03),
    ("Revocation Reason Code", 0x07),
    ("Secret Data Type", 0x02),
    ("Shredding Algorithm", 0x03),
    ("Split Key Method", 0x04),
    ("State", 0x06),
    ("Unwrap Mode", 0x03),
    ("Usage Limits Unit", 0x02),
    ("Validation Authority Type", 0x03),
    ("Validation Type", 0x05),
    ("Validity Indicator", 0x03),
    ("Wrapping Method", 0x05),
];

/// Tags whose Enumeration values come from an enumeration of another name. `"Tag"` is the
/// Tag Enumeration: the values are tags (KMIP 2.x `Attribute Reference`).
const EXTRA_ENUM_TAGS: &[(&str, &str)] = &[
    ("Mask Generator Hashing Algorithm", "Hashing Algorithm"),
    ("Attribute Reference", "Tag"),
    ("Attribute Name", "Tag"),
    ("Private Key Unique Identifier", "Unique Identifier"),
    ("Public Key Unique Identifier", "Unique Identifier"),
];

const MASKS: &[&str] = &[
    "Cryptographic Usage Mask",
    "Storage Status Mask",
    "Protection Storage Mask",
];

/// Known defects of the spec data, corrected here: `(category, value, name in the data,
/// corrected name)`. The 2.1 csv misspells MGF1, and its rendering of the 2.1 tables lost the
/// superscripts of GF(2^16) and GF(2^8) (the 1.x spelling is kept).
const ERRATA: &[(&str, u32, &str, &str)] = &[
    ("Mask Generator", 0x01, "MFG1", "MGF1"),
    (
        "Split Key Method",
        0x02,
        "Polynomial Sharing GF (216)",
        "Polynomial Sharing GF (2^16)",
    ),
    (
        "Split Key Method",
        0x04,
        "Polynomial Sharing GF (28)",
        "Polynomial Sharing GF (2^8)",
    ),
];

/// The PKCS#11 Function and PKCS#11 Return Code enumerations (KMIP 2.0 11.38, 11.39) have no
/// table in the KMIP spec: they are "the 1-based offset count of the function in the
/// CK_FUNCTION_LIST_3_0 structure" and "the CK_RV values" of PKCS#11 3.0. These are those
/// lists (PKCS#11 3.0 `pkcs11f.h` order and `pkcs11t.h` values, `CKR_` dropped as the vectors
/// write `OK`).
const PKCS11_FUNCTIONS: &[&str] = &[
    "C_Initialize",
    "C_Finalize",
    "C_GetInfo",
    "C_GetFunctionList",
    "C_GetSlotList",
    "C_GetSlotInfo",
    "C_GetTokenInfo",
    "C_GetMechanismList",
    "C_GetMechanismInfo",
    "C_InitToken",
    "C_InitPIN",
    "C_SetPIN",
    "C_OpenSession",
    "C_CloseSession",
    "C_CloseAllSessions",
    "C_GetSessionInfo",
    "C_GetOperationState",
    "C_SetOperationState",
    "C_Login",
    "C_Logout",
    "C_CreateObject",
    "C_CopyObject",
    "C_DestroyObject",
    "C_GetObjectSize",
    "C_GetAttributeValue",
    "C_SetAttributeValue",
    "C_FindObjectsInit",
    "C_FindObjects",
    "C_FindObjectsFinal",
    "C_EncryptInit",
    "C_Encrypt",
    "C_EncryptUpdate",
    "C_EncryptFinal",
    "C_DecryptInit",
    "C_Decrypt",
    "C_DecryptUpdate",
    "C_DecryptFinal",
    "C_DigestInit",
    "C_Digest",
    "C_DigestUpdate",
    "C_DigestKey",
    "C_DigestFinal",
    "C_SignInit",
    "C_Sign",
    "C_SignUpdate",
    "C_SignFinal",
    "C_SignRecoverInit",
    "C_SignRecover",
    "C_VerifyInit",
    "C_Verify",
    "C_VerifyUpdate",
    "C_VerifyFinal",
    "C_VerifyRecoverInit",
    "C_VerifyRecover",
    "C_DigestEncryptUpdate",
    "C_DecryptDigestUpdate",
    "C_SignEncryptUpdate",
    "C_DecryptVerifyUpdate",
    "C_GenerateKey",
    "C_GenerateKeyPair",
    "C_WrapKey",
    "C_UnwrapKey",
    "C_DeriveKey",
    "C_SeedRandom",
    "C_GenerateRandom",
    "C_GetFunctionStatus",
    "C_CancelFunction",
    "C_WaitForSlotEvent",
    "C_GetInterfaceList",
    "C_GetInterface",
    "C_LoginUser",
    "C_SessionCancel",
    "C_MessageEncryptInit",
    "C_EncryptMessage",
    "C_EncryptMessageBegin",
    "C_EncryptMessageNext",
    "C_MessageEncryptFinal",
    "C_MessageDecryptInit",
    "C_DecryptMessage",
    "C_DecryptMessageBegin",
    "C_DecryptMessageNext",
    "C_MessageDecryptFinal",
    "C_MessageSignInit",
    "C_SignMessage",
    "C_SignMessageBegin",
    "C_SignMessageNext",
    "C_MessageSignFinal",
    "C_MessageVerifyInit",
    "C_VerifyMessage",
    "C_VerifyMessageBegin",
    "C_VerifyMessageNext",
    "C_MessageVerifyFinal",
];

const PKCS11_RETURN_CODES: &[(&str, u32)] = &[
    ("OK", 0x000),
    ("CANCEL", 0x001),
    ("HOST_MEMORY", 0x002),
    ("SLOT_ID_INVALID", 0x003),
    ("GENERAL_ERROR", 0x005),
    ("FUNCTION_FAILED", 0x006),
    ("ARGUMENTS_BAD", 0x007),
    ("NO_EVENT", 0x008),
    ("NEED_TO_CREATE_THREADS", 0x009),
    ("CANT_LOCK", 0x00A),
    ("ATTRIBUTE_READ_ONLY", 0x010),
    ("ATTRIBUTE_SENSITIVE", 0x011),
    ("ATTRIBUTE_TYPE_INVALID", 0x012),
    ("ATTRIBUTE_VALUE_INVALID", 0x013),
    ("ACTION_PROHIBITED", 0x01B),
    ("DATA_INVALID", 0x020),
    ("DATA_LEN_RANGE", 0x021),
    ("DEVICE_ERROR", 0x030),
    ("DEVICE_MEMORY", 0x031),
    ("DEVICE_REMOVED", 0x032),
    ("ENCRYPTED_DATA_INVALID", 0x040),
    ("ENCRYPTED_DATA_LEN_RANGE", 0x041),
    ("AEAD_DECRYPT_FAILED", 0x042),
    ("FUNCTION_CANCELED", 0x050),
    ("FUNCTION_NOT_PARALLEL", 0x051),
    ("FUNCTION_NOT_SUPPORTED", 0x054),
    ("KEY_HANDLE_INVALID", 0x060),
    ("KEY_SIZE_RANGE", 0x062),
    ("KEY_TYPE_INCONSISTENT", 0x063),
    ("KEY_NOT_NEEDED", 0x064),
    ("KEY_CHANGED", 0x065),
    ("KEY_NEEDED", 0x066),
    ("KEY_INDIGESTIBLE", 0x067),
    ("KEY_FUNCTION_NOT_PERMITTED", 0x068),
    ("KEY_NOT_WRAPPABLE", 0x069),
    ("KEY_UNEXTRACTABLE", 0x06A),
    ("MECHANISM_INVALID", 0x070),
    ("MECHANISM_PARAM_INVALID", 0x071),
    ("OBJECT_HANDLE_INVALID", 0x082),
    ("OPERATION_ACTIVE", 0x090),
    ("OPERATION_NOT_INITIALIZED", 0x091),
    ("PIN_INCORRECT", 0x0A0),
    ("PIN_INVALID", 0x0A1),
    ("PIN_LEN_RANGE", 0x0A2),
    ("PIN_EXPIRED", 0x0A3),
    ("PIN_LOCKED", 0x0A4),
    ("SESSION_CLOSED", 0x0B0),
    ("SESSION_COUNT", 0x0B1),
    ("SESSION_HANDLE_INVALID", 0x0B3),
    ("SESSION_PARALLEL_NOT_SUPPORTED", 0x0B4),
    ("SESSION_READ_ONLY", 0x0B5),
    ("SESSION_EXISTS", 0x0B6),
    ("SESSION_READ_ONLY_EXISTS", 0x0B7),
    ("SESSION_READ_WRITE_SO_EXISTS", 0x0B8),
    ("SIGNATURE_INVALID", 0x0C0),
    ("SIGNATURE_LEN_RANGE", 0x0C1),
    ("TEMPLATE_INCOMPLETE", 0x0D0),
    ("TEMPLATE_INCONSISTENT", 0x0D1),
    ("TOKEN_NOT_PRESENT", 0x0E0),
    ("TOKEN_NOT_RECOGNIZED", 0x0E1),
    ("TOKEN_WRITE_PROTECTED", 0x0E2),
    ("UNWRAPPING_KEY_HANDLE_INVALID", 0x0F0),
    ("UNWRAPPING_KEY_SIZE_RANGE", 0x0F1),
    ("UNWRAPPING_KEY_TYPE_INCONSISTENT", 0x0F2),
    ("USER_ALREADY_LOGGED_IN", 0x100),
    ("USER_NOT_LOGGED_IN", 0x101),
    ("USER_PIN_NOT_INITIALIZED", 0x102),
    ("USER_TYPE_INVALID", 0x103),
    ("USER_ANOTHER_ALREADY_LOGGED_IN", 0x104),
    ("USER_TOO_MANY_TYPES", 0x105),
    ("WRAPPED_KEY_INVALID", 0x110),
    ("WRAPPED_KEY_LEN_RANGE", 0x112),
    ("WRAPPING_KEY_HANDLE_INVALID", 0x113),
    ("WRAPPING_KEY_SIZE_RANGE", 0x114),
    ("WRAPPING_KEY_TYPE_INCONSISTENT", 0x115),
    ("RANDOM_SEED_NOT_SUPPORTED", 0x120),
    ("RANDOM_NO_RNG", 0x121),
    ("DOMAIN_PARAMS_INVALID", 0x130),
    ("CURVE_NOT_SUPPORTED", 0x140),
    ("BUFFER_TOO_SMALL", 0x150),
    ("SAVED_STATE_INVALID", 0x160),
    ("INFORMATION_SENSITIVE", 0x170),
    ("STATE_UNSAVEABLE", 0x180),
    ("CRYPTOKI_NOT_INITIALIZED", 0x190),
    ("CRYPTOKI_ALREADY_INITIALIZED", 0x191),
    ("MUTEX_BAD", 0x1A0),
    ("MUTEX_NOT_LOCKED", 0x1A1),
    ("NEW_PIN_MODE", 0x1B0),
    ("NEXT_OTP", 0x1B1),
    ("EXCEEDED_MAX_ITERATIONS", 0x1B5),
    ("FIPS_SELF_TEST_FAILED", 0x1B6),
    ("LIBRARY_LOAD_FAILED", 0x1B7),
    ("PIN_TOO_WEAK", 0x1B8),
    ("PUBLIC_KEY_INVALID", 0x1B9),
    ("FUNCTION_REJECTED", 0x200),
    ("TOKEN_RESOURCE_EXCEEDED", 0x201),
    ("OPERATION_CANCEL_FAILED", 0x202),
];

/// Fills the PKCS#11 enumerations, which the KMIP spec defines by reference only.
fn add_pkcs11(enums: &mut Categories) {
    for (category, values) in [
        (
            "PKCS#11 Function",
            PKCS11_FUNCTIONS
                .iter()
                .zip(1u32..)
                .map(|(name, v)| (v, name.to_string()))
                .collect::<Values>(),
        ),
        (
            "PKCS#11 Return Code",
            PKCS11_RETURN_CODES
                .iter()
                .map(|&(name, v)| (v, name.to_string()))
                .collect(),
        ),
    ] {
        let entry = enums.entry(category.to_string()).or_default();
        if entry.is_empty() {
            *entry = values;
        }
    }
}

const HEADER: &str =
    "// generated by kmip-spec-tests/tables.rs from ../shared/kmip/spec; do not edit\n";

// ---------------------------------------------------------------------------------------------
// Reading the spec files
// ---------------------------------------------------------------------------------------------

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn spec_dir() -> PathBuf {
    let dir = match std::env::var_os("KMIP_SPEC_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => manifest_dir().join("../shared/kmip/spec"),
    };
    assert!(
        dir.join("kmip-2.1-tags.csv").is_file(),
        "the KMIP spec files are not in {} (set KMIP_SPEC_DIR to the folder holding \
         kmip-2.1-tags.csv, kmip-1.4-tags.csv and the kmip-spec-*.txt files)",
        dir.display()
    );
    dir
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.join(name).display()))
        .replace('\r', "")
}

/// Splits one CSV line, honouring double quotes.
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields.into_iter().map(|f| f.trim().to_string()).collect()
}

/// A value cell: `420001`, `0x420001`, `00000001`, `00000004 (deprecated)`. Ranges and
/// patterns (`8XXXXXXX`, `4200A2 - 42FFFF`) give `None`.
fn parse_hex(cell: &str) -> Option<u32> {
    let cell = cell.trim();
    let cell = cell.strip_suffix("(deprecated)").unwrap_or(cell).trim();
    let digits = cell.strip_prefix("0x").unwrap_or(cell);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

fn is_reserved(name: &str) -> bool {
    matches!(
        name,
        "(Reserved)" | "Reserved" | "(Unused)" | "Extensions" | ""
    )
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The rows of the first `Name | Value` (or `Object | Tag Value`) box table in `lines`.
fn name_value_rows(lines: &[&str]) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let mut in_table = false;
    let mut cells: Vec<String> = Vec::new();
    let flush = |cells: &mut Vec<String>, rows: &mut Vec<(String, String)>| {
        if cells.len() == 2 {
            rows.push((collapse(&cells[0]), collapse(&cells[1])));
        }
        cells.clear();
    };
    for line in lines {
        let t = line.trim();
        if !t.starts_with('|') && !t.starts_with('+') {
            if in_table && !t.is_empty() {
                break;
            }
            continue;
        }
        if t.starts_with('+') {
            if in_table {
                flush(&mut cells, &mut rows);
                break;
            }
            continue;
        }
        if t.chars().all(|c| matches!(c, '|' | '-' | '+')) {
            if in_table {
                flush(&mut cells, &mut rows);
            }
            continue;
        }
        let parts: Vec<&str> = t.trim_matches('|').split('|').map(str::trim).collect();
        if !in_table {
            if parts.len() == 2
                && matches!(parts[0], "Name" | "Object")
                && matches!(parts[1], "Value" | "Tag Value")
            {
                in_table = true;
            }
            continue;
        }
        if cells.is_empty() {
            cells = vec![String::new(); parts.len()];
        }
        for (cell, part) in cells.iter_mut().zip(&parts) {
            if part.is_empty() {
                continue;
            }
            if !cell.is_empty() && !cell.ends_with('-') && !cell.ends_with('/') {
                cell.push(' ');
            }
            cell.push_str(part);
        }
    }
    rows
}

/// Section headings `<number> <title>` whose number starts with `prefix` (`"11."`), skipping
/// table-of-contents lines (which end with a page number).
fn sections<'a>(lines: &[&'a str], prefix: &str) -> Vec<(usize, &'a str)> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix(prefix) else {
            continue;
        };
        let Some((num, title)) = rest.split_once(char::is_whitespace) else {
            continue;
        };
        if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let title = title.trim();
        let toc = title
            .rsplit_once(". ")
            .is_some_and(|(_, page)| page.chars().all(|c| c.is_ascii_digit()));
        if !title.is_empty() && !toc {
            out.push((i, title));
        }
    }
    out
}

type Values = BTreeMap<u32, String>;
type Categories = BTreeMap<String, Values>;

/// The enumeration or mask tables of a spec text: headings under `prefix`, titled
/// `<Category> Enumeration[ for ...]` (`strip = true`) or just `<Category>`.
fn text_tables(text: &str, prefix: &str, strip: bool) -> Categories {
    let lines: Vec<&str> = text.lines().collect();
    let heads = sections(&lines, prefix);
    let mut out = Categories::new();
    for (n, &(start, title)) in heads.iter().enumerate() {
        let category = if strip {
            let Some((cat, _)) = title
                .split_once(" Enumeration for ")
                .or_else(|| title.strip_suffix(" Enumeration").map(|c| (c, "")))
            else {
                continue;
            };
            cat
        } else {
            title
        };
        let end = heads.get(n + 1).map_or(lines.len(), |&(e, _)| e);
        let mut values = Values::new();
        for (name, value) in name_value_rows(&lines[start..end]) {
            if let Some(v) = parse_hex(&value).filter(|_| !is_reserved(&name)) {
                values.insert(v, name);
            }
        }
        out.insert(collapse(category), values);
    }
    out
}

fn tag_rows(rows: Vec<(String, String)>) -> Values {
    rows.into_iter()
        .filter(|(name, _)| !is_reserved(name))
        .filter_map(|(name, value)| Some((parse_hex(&value)?, name)))
        .collect()
}

/// Everything read from the spec files, by source.
struct Spec {
    tags10: Values,
    tags14: Values,
    tags20: Values,
    tags21: Values,
    enums: [Categories; 4],
    masks: [Categories; 4],
}

fn read_spec(dir: &Path) -> Spec {
    // 1.0: spec text.
    let t10 = read(dir, "kmip-spec-1.0-os.txt");
    let l10: Vec<&str> = t10.lines().collect();
    let tag_start = sections(&l10, "9.1.3.")
        .into_iter()
        .find(|&(_, t)| t == "Tags")
        .expect("1.0 spec: section 9.1.3.1 Tags")
        .0;
    let tags10 = tag_rows(name_value_rows(&l10[tag_start..]));
    let enums10 = text_tables(&t10, "9.1.3.2.", true);
    let masks10 = text_tables(&t10, "9.1.3.3.", false);

    // 1.4: csv.
    let mut tags14 = Values::new();
    let mut enums14 = Categories::new();
    let mut masks14 = Categories::new();
    for line in read(dir, "kmip-1.4-tags.csv").lines() {
        if line.starts_with('#') || line.starts_with("kind,") || line.trim().is_empty() {
            continue;
        }
        let f = csv_fields(line);
        let (Some(v), false) = (parse_hex(&f[3]), is_reserved(&f[2])) else {
            continue;
        };
        match f[0].as_str() {
            "tag" => drop(tags14.insert(v, f[2].clone())),
            "enum" => drop(
                enums14
                    .entry(f[1].clone())
                    .or_default()
                    .insert(v, f[2].clone()),
            ),
            "mask" => drop(
                masks14
                    .entry(f[1].clone())
                    .or_default()
                    .insert(v, f[2].clone()),
            ),
            other => panic!("1.4 csv: unknown kind {other}"),
        }
    }

    // 2.0: spec text.
    let t20 = read(dir, "kmip-spec-v2.0-os.txt");
    let mut enums20 = text_tables(&t20, "11.", true);
    let tags20 = enums20
        .remove("Tag")
        .expect("2.0 spec: 11.54 Tag Enumeration");
    add_pkcs11(&mut enums20);
    let masks20 = text_tables(&t20, "12.", false);

    // 2.1: csv files, masks from the spec text.
    let mut tags21 = Values::new();
    for line in read(dir, "kmip-2.1-tags.csv").lines().skip(1) {
        let f = csv_fields(line);
        if let (Some(v), false) = (parse_hex(&f[1]), is_reserved(&f[0])) {
            tags21.insert(v, f[0].clone());
        }
    }
    let mut enums21 = Categories::new();
    for line in read(dir, "kmip-spec-enumerations-v2.1-os_enumerations.csv")
        .lines()
        .skip(1)
    {
        let f = csv_fields(line);
        if f[0] == "Tag" {
            continue;
        }
        let values = enums21.entry(f[0].clone()).or_default();
        if let (Some(v), false) = (parse_hex(&f[2]), is_reserved(&f[1])) {
            let mut name = collapse(&f[1]);
            for &(category, value, wrong, right) in ERRATA {
                if f[0] == category && v == value && name == wrong {
                    name = right.to_string();
                }
            }
            values.insert(v, name);
        }
    }
    add_pkcs11(&mut enums21);
    let t21 = read(dir, "kmip-spec-v2.1-os.txt");
    let masks21 = text_tables(&t21, "12.", false);

    let keep_masks = |m: Categories| -> Categories {
        m.into_iter()
            .filter(|(k, _)| MASKS.contains(&k.as_str()))
            .collect()
    };
    Spec {
        tags10,
        tags14,
        tags20,
        tags21,
        enums: [enums10, enums14, enums20, enums21],
        masks: [
            keep_masks(masks10),
            keep_masks(masks14),
            keep_masks(masks20),
            keep_masks(masks21),
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The CamelCase form of a spec name, by the rules of KMIP Additional Message Encodings
/// 6.1.3 "Normalizing Names".
fn camel(name: &str) -> String {
    // 1. Brackets become spaces.
    let chars: Vec<char> = name
        .chars()
        .map(|c| if c == '(' || c == ')' { ' ' } else { c })
        .collect();
    // 2. A non-word char followed by a letter and a lower-case letter becomes a space.
    let mut s = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !is_word(c)
            && i + 2 < chars.len()
            && chars[i + 1].is_ascii_alphabetic()
            && chars[i + 2].is_ascii_lowercase()
        {
            s.push(' ');
            s.push(chars[i + 1]);
            s.push(chars[i + 2]);
            i += 3;
            continue;
        }
        s.push(c);
        i += 1;
    }
    // 3. Other non-word chars become underscores, word by word.
    let mut words: Vec<String> = s
        .split_whitespace()
        .map(|w| {
            w.chars()
                .map(|c| if is_word(c) { c } else { '_' })
                .collect()
        })
        .collect();
    // 4. Leading digits of the first word move to its end.
    if let Some(first) = words.first_mut() {
        let digits: String = first.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !digits.is_empty() {
            *first = format!("{}{}", &first[digits.len()..], digits);
        }
    }
    // 5. and 6. Capitalise each word and concatenate.
    words
        .iter()
        .map(|w| {
            let mut cs = w.chars();
            match cs.next() {
                Some(c) => c.to_uppercase().chain(cs).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// The Rust identifier for an XML name, or `None` when the XML name can be used as is.
fn rust_ident(xml: &str) -> Option<String> {
    let valid = xml
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && xml.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid && xml != "Self" && xml != "Unknown" {
        return None;
    }
    let mut id: String = xml
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if id.starts_with(|c: char| c.is_ascii_digit()) || id.is_empty() {
        id.insert(0, 'V');
    }
    if id == "Self" || id == "Unknown" {
        id.push_str("Value");
    }
    Some(id)
}

fn quote(s: &str) -> String {
    format!("{s:?}")
}

fn version(v: KmipVersion) -> String {
    format!("{v:?}")
}

// ---------------------------------------------------------------------------------------------
// Building the model
// ---------------------------------------------------------------------------------------------

struct TagRow {
    value: u32,
    name: String,
    spec_name: String,
    since: KmipVersion,
    until: Option<KmipVersion>,
    old_names: Vec<(String, String)>, // (xml, spec) of older spellings
}

fn build_tags(spec: &Spec, notes: &mut Vec<String>) -> Vec<TagRow> {
    let all: BTreeSet<u32> = [&spec.tags10, &spec.tags14, &spec.tags20, &spec.tags21]
        .iter()
        .flat_map(|m| m.keys().copied())
        .collect();
    let mut rows = Vec::new();
    for value in all {
        let sources = [
            spec.tags10.get(&value),
            spec.tags14.get(&value),
            spec.tags20.get(&value),
            spec.tags21.get(&value),
        ];
        let newest = sources.iter().rev().flatten().next().unwrap().to_string();
        let (in10, in14, in20, in21) = (
            sources[0].is_some(),
            sources[1].is_some(),
            sources[2].is_some(),
            sources[3].is_some(),
        );
        let since = if in10 {
            KmipVersion::V1_0
        } else if in14 {
            V1X_LAST_TAG
                .iter()
                .find(|&&(_, last)| value <= last)
                .map_or(KmipVersion::V1_4, |&(v, _)| v)
        } else if in20 {
            KmipVersion::V2_0
        } else {
            KmipVersion::V2_1
        };
        let until = if (in10 || in14) && !in20 && !in21 {
            Some(KmipVersion::V2_0)
        } else if in20 && !in21 {
            Some(KmipVersion::V2_1)
        } else {
            None
        };
        if in10 && !in14 {
            notes.push(format!("tag 0x{value:06X} {newest}: in 1.0 but not in 1.4"));
        }
        if (in10 || in14) && !in20 && in21 {
            notes.push(format!("tag 0x{value:06X} {newest}: absent from 2.0 only"));
        }
        let mut old_names = Vec::new();
        for old in sources.iter().flatten() {
            if camel(old) != camel(&newest) && !old_names.iter().any(|(x, _)| *x == camel(old)) {
                notes.push(format!("tag 0x{value:06X}: {old:?} is now {newest:?}"));
                old_names.push((camel(old), old.to_string()));
            }
        }
        rows.push(TagRow {
            value,
            name: camel(&newest),
            spec_name: newest,
            since,
            until,
            old_names,
        });
    }
    let mut seen = BTreeMap::new();
    for r in &rows {
        if let Some(prev) = seen.insert(r.name.clone(), r.value) {
            panic!(
                "tags 0x{prev:06X} and 0x{:06X} are both {}",
                r.value, r.name
            );
        }
    }
    rows
}

struct ValueRow {
    value: u32,
    xml: String,
    ident: Option<String>,
    spec_name: String,
    since: KmipVersion,
    until: Option<KmipVersion>,
    aliases: Vec<String>,
}

struct Category {
    spec_name: String,
    rust_name: String,
    values: Vec<ValueRow>,
}

fn last_value(table: &[(&str, u32)], category: &str) -> Option<u32> {
    table.iter().find(|(c, _)| *c == category).map(|&(_, v)| v)
}

fn build_categories(
    sources: &[Categories; 4],
    tags: &[TagRow],
    is_mask: bool,
    notes: &mut Vec<String>,
) -> Vec<Category> {
    let names: BTreeSet<&String> = sources.iter().flat_map(|c| c.keys()).collect();
    let mut out = Vec::new();
    for category in names {
        let per_source: Vec<Option<&Values>> = sources.iter().map(|s| s.get(category)).collect();
        let tag_since = tags
            .iter()
            .find(|t| t.spec_name == *category)
            .map(|t| t.since);
        let values: BTreeSet<u32> = per_source
            .iter()
            .flatten()
            .flat_map(|v| v.keys().copied())
            .collect();
        let mut rows: Vec<ValueRow> = Vec::new();
        for value in values {
            let names: Vec<Option<&String>> = per_source
                .iter()
                .map(|s| s.and_then(|s| s.get(&value)))
                .collect();
            let present = |i: usize| names[i].is_some();
            let category_in = |i: usize| per_source[i].is_some();
            let newest = names.iter().rev().flatten().next().unwrap().to_string();
            let since = if present(0) {
                KmipVersion::V1_0
            } else if present(1) {
                let placed = if is_mask {
                    None
                } else if last_value(V1_1_LAST_VALUE, category).is_some_and(|l| value <= l) {
                    Some(KmipVersion::V1_1)
                } else if last_value(V1_2_LAST_VALUE, category).is_some_and(|l| value <= l) {
                    Some(KmipVersion::V1_2)
                } else if last_value(V1_3_LAST_VALUE, category).is_some_and(|l| value <= l) {
                    Some(KmipVersion::V1_3)
                } else if last_value(V1_3_LAST_VALUE, category).is_some() {
                    Some(KmipVersion::V1_4)
                } else {
                    None
                };
                let from_tag = tag_since.filter(|&v| v > KmipVersion::V1_0);
                match (placed, from_tag) {
                    (Some(p), Some(t)) => p.max(t),
                    (Some(p), None) => p,
                    (None, Some(t)) => t,
                    (None, None) => KmipVersion::V1_4,
                }
            } else if present(2) {
                KmipVersion::V2_0
            } else {
                KmipVersion::V2_1
            };
            let until = if (present(0) || present(1)) && !present(2) && !present(3) {
                Some(KmipVersion::V2_0)
            } else if present(2) && !present(3) && category_in(3) {
                Some(KmipVersion::V2_1)
            } else {
                None
            };
            if present(0) && !present(1) && category_in(1) {
                notes.push(format!(
                    "{category} 0x{value:08X} {newest}: in 1.0 but not in 1.4"
                ));
            }
            if (present(0) || present(1)) && !present(2) && present(3) {
                notes.push(format!(
                    "{category} 0x{value:08X} {newest}: absent from 2.0 only"
                ));
            }
            let xml = camel(&newest);
            let mut aliases: Vec<String> = Vec::new();
            for old in names.iter().flatten() {
                let c = camel(old);
                if c != xml && !aliases.contains(&c) {
                    notes.push(format!(
                        "{category} 0x{value:08X}: {old:?} is now {newest:?}"
                    ));
                    aliases.push(c);
                }
            }
            rows.push(ValueRow {
                value,
                ident: rust_ident(&xml),
                xml,
                spec_name: newest,
                since,
                until,
                aliases,
            });
        }
        // Two values with one name: keep the first, rename the later one by its value.
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for row in &mut rows {
            if !seen.insert(row.xml.clone()) {
                notes.push(format!(
                    "{category}: two values named {}; 0x{:08X} renamed",
                    row.xml, row.value
                ));
                row.xml = format!("{}_{:X}", row.xml, row.value);
                row.ident = rust_ident(&row.xml);
                seen.insert(row.xml.clone());
            }
        }
        // An alias must not shadow a current name.
        let current: BTreeSet<String> = rows.iter().map(|r| r.xml.clone()).collect();
        for row in &mut rows {
            row.aliases.retain(|a| !current.contains(a));
        }
        out.push(Category {
            rust_name: camel(category),
            spec_name: category.clone(),
            values: rows,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Writing the Rust source
// ---------------------------------------------------------------------------------------------

fn since_until(since: KmipVersion, until: Option<KmipVersion>) -> String {
    match until {
        Some(u) => format!("{}, {}", version(since), version(u)),
        None => version(since),
    }
}

fn gen_tags(tags: &[TagRow]) -> String {
    let mut s = String::from(HEADER);
    s.push_str(
        "//! Every standard tag of KMIP 1.0 to 2.1: `Tag::` constants and the sorted tables behind\n\
         //! `tag_info` and `tag_by_name`.\n\n\
         use super::TagInfo;\nuse crate::kmip::KmipVersion;\nuse crate::ttlv::Tag;\n\n\
         #[allow(non_upper_case_globals)]\nimpl Tag {\n",
    );
    for t in tags {
        let life = match t.until {
            Some(u) => format!("KMIP {} to {} (removed in {})", t.since, prev(u), u),
            None => format!("since KMIP {}", t.since),
        };
        writeln!(s, "    /// {}, {life}.", t.spec_name).unwrap();
        writeln!(s, "    pub const {}: Tag = Tag(0x{:06X});", t.name, t.value).unwrap();
    }
    s.push_str("}\n\npub(super) static TAGS: &[TagInfo] = &[\n");
    for t in tags {
        writeln!(
            s,
            "    TagInfo {{ tag: Tag::{}, name: {}, spec_name: {}, since: KmipVersion::{}, until: {} }},",
            t.name,
            quote(&t.name),
            quote(&t.spec_name),
            version(t.since),
            t.until.map_or("None".to_string(), |u| format!("Some(KmipVersion::{})", version(u)))
        )
        .unwrap();
    }
    s.push_str("];\n\n/// XML/JSON names (and older spellings), sorted for binary search.\n");
    let mut by_name: BTreeMap<String, u32> = BTreeMap::new();
    let mut by_spec: BTreeMap<String, u32> = BTreeMap::new();
    for t in tags {
        by_name.insert(t.name.clone(), t.value);
        by_spec.insert(t.spec_name.clone(), t.value);
    }
    for t in tags {
        for (xml, spec) in &t.old_names {
            by_name.entry(xml.clone()).or_insert(t.value);
            by_spec.entry(spec.clone()).or_insert(t.value);
        }
    }
    for (title, table) in [("BY_NAME", &by_name), ("BY_SPEC_NAME", &by_spec)] {
        if title == "BY_SPEC_NAME" {
            s.push_str("\n/// Spec names (and older spellings), sorted for binary search.\n");
        }
        writeln!(s, "pub(super) static {title}: &[(&str, u32)] = &[").unwrap();
        for (name, value) in table {
            writeln!(s, "    ({}, 0x{value:06X}),", quote(name)).unwrap();
        }
        s.push_str("];\n");
    }
    s
}

fn prev(v: KmipVersion) -> KmipVersion {
    let i = KmipVersion::ALL.iter().position(|&x| x == v).unwrap();
    KmipVersion::ALL[i.saturating_sub(1)]
}

fn tag_const(tags: &[TagRow], spec_name: &str) -> Option<String> {
    tags.iter()
        .find(|t| t.spec_name == spec_name)
        .map(|t| t.name.clone())
}

fn gen_enums(cats: &[Category], tags: &[TagRow]) -> String {
    let mut s = String::from(HEADER);
    s.push_str(
        "//! Every enumeration of KMIP 1.0 to 2.1, one `kmip_enum!` each, and which tag uses which.\n\n\
         use crate::kmip::KmipVersion;\nuse crate::ttlv::Tag;\n",
    );
    for c in cats {
        let life: Vec<String> = c
            .values
            .iter()
            .map(|v| v.since)
            .min()
            .into_iter()
            .map(|v| format!(" Values since KMIP {v}."))
            .collect();
        writeln!(
            s,
            "\nkmip_enum! {{\n    /// The {} enumeration.{}",
            c.spec_name,
            life.concat()
        )
        .unwrap();
        writeln!(
            s,
            "    pub enum {} = {} {{",
            c.rust_name,
            quote(&c.spec_name)
        )
        .unwrap();
        for v in &c.values {
            let head = match &v.ident {
                Some(id) => format!("{id} as {}", quote(&v.xml)),
                None => v.xml.clone(),
            };
            writeln!(
                s,
                "        {head} = 0x{:08X}, {}, {};",
                v.value,
                quote(&v.spec_name),
                since_until(v.since, v.until)
            )
            .unwrap();
        }
        s.push_str("    }\n");
        let aliases: Vec<String> = c
            .values
            .iter()
            .flat_map(|v| {
                v.aliases
                    .iter()
                    .map(move |a| format!("{} => 0x{:08X}", quote(a), v.value))
            })
            .collect();
        if !aliases.is_empty() {
            s.push_str("    aliases {\n");
            for a in aliases {
                writeln!(s, "        {a},").unwrap();
            }
            s.push_str("    }\n");
        }
        s.push_str("}\n");
    }

    // EnumKind
    s.push_str(
        "\n/// Which enumeration an Enumeration item holds. `Tag` is the Tag Enumeration: its values\n\
         /// are tags, named by the tag table (KMIP 2.x `Attribute Reference`).\n\
         #[allow(non_camel_case_types)]\n#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]\npub enum EnumKind {\n",
    );
    for c in cats {
        writeln!(s, "    {},", c.rust_name).unwrap();
    }
    s.push_str("    Tag,\n}\n\nimpl EnumKind {\n    /// Every enumeration.\n    pub const ALL: &'static [EnumKind] = &[\n");
    for c in cats {
        writeln!(s, "        EnumKind::{},", c.rust_name).unwrap();
    }
    s.push_str("        EnumKind::Tag,\n    ];\n\n    /// The spec's name of the enumeration.\n    pub fn spec_name(self) -> &'static str {\n        match self {\n");
    for c in cats {
        writeln!(
            s,
            "            EnumKind::{0} => {0}::SPEC_NAME,",
            c.rust_name
        )
        .unwrap();
    }
    s.push_str("            EnumKind::Tag => \"Tag\",\n        }\n    }\n\n");
    s.push_str("    /// The XML/JSON name of `value`.\n    pub fn name_of(self, value: u32) -> Option<&'static str> {\n        match self {\n");
    for c in cats {
        writeln!(
            s,
            "            EnumKind::{0} => {0}::from_u32(value).name(),",
            c.rust_name
        )
        .unwrap();
    }
    s.push_str("            EnumKind::Tag => super::tag_info(Tag(value)).map(|info| info.name),\n        }\n    }\n\n");
    s.push_str("    /// The value of an XML/JSON name.\n    pub fn value_of(self, name: &str) -> Option<u32> {\n        match self {\n");
    for c in cats {
        writeln!(
            s,
            "            EnumKind::{0} => {0}::from_name(name).map(u32::from),",
            c.rust_name
        )
        .unwrap();
    }
    s.push_str("            EnumKind::Tag => super::tag_by_name(name).map(|tag| tag.0),\n        }\n    }\n\n");
    s.push_str("    /// Whether `version` defines `value` (unknown values: only extensions).\n    pub fn exists_in(self, value: u32, version: KmipVersion) -> bool {\n        match self {\n");
    for c in cats {
        writeln!(
            s,
            "            EnumKind::{0} => {0}::from_u32(value).exists_in(version),",
            c.rust_name
        )
        .unwrap();
    }
    s.push_str("            EnumKind::Tag => super::tag_info(Tag(value)).is_some_and(|info| info.exists_in(version)),\n        }\n    }\n}\n\n");

    // enum_for_tag
    s.push_str("/// The enumeration an Enumeration item with this tag holds: the enumeration of the same\n/// name, or the one the spec's tables give the item.\npub fn enum_for_tag(tag: Tag) -> Option<EnumKind> {\n    Some(match tag {\n");
    let mut mapped: BTreeSet<String> = BTreeSet::new();
    for c in cats {
        if let Some(t) = tag_const(tags, &c.spec_name) {
            writeln!(s, "        Tag::{t} => EnumKind::{},", c.rust_name).unwrap();
            mapped.insert(t);
        }
    }
    if let Some(t) = tag_const(tags, "Tag") {
        writeln!(s, "        Tag::{t} => EnumKind::Tag,").unwrap();
        mapped.insert(t);
    }
    for (tag_name, cat) in EXTRA_ENUM_TAGS {
        let t = tag_const(tags, tag_name).unwrap_or_else(|| panic!("no tag {tag_name}"));
        let kind = if *cat == "Tag" {
            "Tag".to_string()
        } else {
            cats.iter()
                .find(|c| c.spec_name == *cat)
                .unwrap_or_else(|| panic!("no enumeration {cat}"))
                .rust_name
                .clone()
        };
        assert!(mapped.insert(t.clone()), "{tag_name} mapped twice");
        writeln!(s, "        Tag::{t} => EnumKind::{kind},").unwrap();
    }
    s.push_str("        _ => return None,\n    })\n}\n");
    s
}

fn gen_masks(masks: &[Category], tags: &[TagRow]) -> String {
    let mut s = String::from(HEADER);
    s.push_str(
        "//! The bit masks of KMIP 1.0 to 2.1, one `kmip_mask!` each, and which tag is which.\n\n\
         use crate::kmip::KmipVersion;\nuse crate::ttlv::Tag;\n",
    );
    for m in masks {
        writeln!(s, "\nkmip_mask! {{\n    /// The {} bit mask.", m.spec_name).unwrap();
        writeln!(
            s,
            "    pub struct {} = {} {{",
            m.rust_name,
            quote(&m.spec_name)
        )
        .unwrap();
        for v in &m.values {
            assert!(v.ident.is_none(), "mask bit {} is not an identifier", v.xml);
            writeln!(
                s,
                "        {} = 0x{:08X}, {}, {};",
                v.xml,
                v.value,
                quote(&v.spec_name),
                since_until(v.since, v.until)
            )
            .unwrap();
        }
        s.push_str("    }\n}\n");
    }
    s.push_str("\n/// Which mask an Integer item holds.\n#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]\npub enum MaskKind {\n");
    for m in masks {
        writeln!(s, "    {},", m.rust_name).unwrap();
    }
    s.push_str("}\n\nimpl MaskKind {\n    /// The spec's name of the mask.\n    pub fn spec_name(self) -> &'static str {\n        match self {\n");
    for m in masks {
        writeln!(
            s,
            "            MaskKind::{0} => {0}::SPEC_NAME,",
            m.rust_name
        )
        .unwrap();
    }
    s.push_str("        }\n    }\n\n    /// XML/JSON name and value of every bit.\n    pub fn bits(self) -> &'static [(&'static str, u32)] {\n        match self {\n");
    for m in masks {
        writeln!(s, "            MaskKind::{0} => {0}::BITS,", m.rust_name).unwrap();
    }
    s.push_str("        }\n    }\n}\n\n/// The mask an Integer item with this tag holds, if it is a mask.\npub fn mask_for_tag(tag: Tag) -> Option<MaskKind> {\n    Some(match tag {\n");
    for m in masks {
        let t = tag_const(tags, &m.spec_name).unwrap_or_else(|| panic!("no tag {}", m.spec_name));
        writeln!(s, "        Tag::{t} => MaskKind::{},", m.rust_name).unwrap();
    }
    s.push_str("        _ => return None,\n    })\n}\n");
    s
}

struct Generated {
    files: Vec<(&'static str, String)>,
    notes: Vec<String>,
    tag_count_21_csv: usize,
}

fn generate() -> Generated {
    let dir = spec_dir();
    let spec = read_spec(&dir);
    let mut notes = Vec::new();
    let tags = build_tags(&spec, &mut notes);
    let enums = build_categories(&spec.enums, &tags, false, &mut notes);
    let masks = build_categories(&spec.masks, &tags, true, &mut notes);
    let tag_count_21_csv = read(&dir, "kmip-2.1-tags.csv")
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count();
    Generated {
        files: vec![
            ("tags.rs", gen_tags(&tags)),
            ("enums.rs", gen_enums(&enums, &tags)),
            ("masks.rs", gen_masks(&masks, &tags)),
        ],
        notes,
        tag_count_21_csv,
    }
}

/// Formats generated source with rustfmt so the committed files pass `cargo fmt --check`.
fn rustfmt(src: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("running rustfmt");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(src.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "rustfmt failed on generated source");
    String::from_utf8(out.stdout).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn generated_tables_match_the_spec() {
    let generated = generate();
    for note in &generated.notes {
        println!("note: {note}");
    }
    assert_eq!(generated.tag_count_21_csv, 374, "kmip-2.1-tags.csv rows");
    let out_dir = manifest_dir().join("src/kmip/tables");
    let bless = std::env::var_os("KMIPD_BLESS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, src) in &generated.files {
        let src = rustfmt(src);
        let path = out_dir.join(name);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != src {
            if bless {
                std::fs::write(&path, &src).unwrap();
                println!("rewrote {}", path.display());
            } else {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "generated tables differ from the spec data: {stale:?}; run `KMIPD_BLESS=1 cargo test --test tables` and review the diff"
    );
}

#[test]
fn every_2_1_tag_is_in_the_table() {
    let dir = spec_dir();
    let mut n = 0;
    for line in read(&dir, "kmip-2.1-tags.csv").lines().skip(1) {
        let f = csv_fields(line);
        let (Some(value), false) = (parse_hex(&f[1]), is_reserved(&f[0])) else {
            continue;
        };
        let info = kmipd::kmip::tag_info(Tag(value)).unwrap_or_else(|| panic!("{} missing", f[0]));
        assert_eq!(info.spec_name, f[0]);
        assert!(info.exists_in(KmipVersion::V2_1), "{} not in 2.1", f[0]);
        assert_eq!(tag_by_name(&camel(&f[0])), Some(Tag(value)));
        n += 1;
    }
    println!("{n} named 2.1 tags (of 374 rows; the rest are Reserved)");
    assert!(n > 340);
}

#[test]
fn camel_case_follows_the_encoding_rules() {
    for (spec, xml) in [
        ("Pre-Active", "PreActive"),
        ("SHA-256", "SHA_256"),
        ("3DES", "DES3"),
        ("X.509", "X_509"),
        ("PKCS#11", "PKCS_11"),
        ("Template-Attribute", "TemplateAttribute"),
        ("IV/Counter/Nonce", "IVCounterNonce"),
        ("HMAC-SHA256", "HMAC_SHA256"),
        ("ANSI X9.31", "ANSIX9_31"),
        ("On-line storage", "OnLineStorage"),
        ("Uninterpreted Text String", "UninterpretedTextString"),
        (
            "Content Commitment (Non Repudiation)",
            "ContentCommitmentNonRepudiation",
        ),
    ] {
        assert_eq!(camel(spec), xml, "{spec}");
    }
}

fn vectors_dir() -> PathBuf {
    let dir = match std::env::var_os("KMIP_VECTORS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => manifest_dir().join("../shared/kmip/vectors"),
    };
    assert!(
        dir.is_dir(),
        "the KMIP test vectors are not in {} (set KMIP_VECTORS_DIR)",
        dir.display()
    );
    dir
}

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            xml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "xml") {
            out.push(p);
        }
    }
}

/// Elements of the test-case files that are not TTLV items.
const WRAPPERS: &[&str] = &["KMIP", "KmipTestCase"];

#[test]
fn every_name_in_the_vectors_resolves() {
    use quick_xml::events::Event;
    let mut files = Vec::new();
    xml_files(&vectors_dir(), &mut files);
    let names = KmipNames;
    let (mut tags, mut enums, mut masks) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let mut failures = BTreeSet::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let mut reader = quick_xml::Reader::from_str(&text);
        // The last Attribute Name text seen in each open element, for Attribute Value.
        let mut attr_names: Vec<Option<String>> = vec![None];
        loop {
            let ev = reader
                .read_event()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let (e, empty) = match ev {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => {
                    attr_names.pop();
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            let element = e.name().as_ref().to_string();
            let mut ty = None;
            let mut value = None;
            for a in e.attributes() {
                let a = a.unwrap();
                let v = a.value.to_string();
                match a.key.as_ref() {
                    "type" => ty = Some(v),
                    "value" => value = Some(v),
                    _ => {}
                }
            }
            if !WRAPPERS.contains(&element.as_str()) {
                let Some(tag) = names.tag_by_name(&element) else {
                    failures.insert(format!("tag {element}"));
                    if !empty {
                        attr_names.push(None);
                    }
                    continue;
                };
                tags.insert(element.clone());
                let sibling = attr_names.last().cloned().flatten();
                let ctx = NameContext {
                    attribute_name: sibling.as_deref(),
                };
                match (ty.as_deref(), value.as_deref()) {
                    (Some("TextString"), Some(v)) if tag == Tag(0x42000A) => {
                        *attr_names.last_mut().unwrap() = Some(v.to_string());
                    }
                    (Some("Enumeration"), Some(v)) if !v.starts_with("0x") => {
                        match names.enum_by_name(tag, ctx, v) {
                            Some(n) => {
                                assert_eq!(names.enum_name(tag, ctx, n), Some(v), "{element} {v}");
                                enums.insert(format!("{element}={v}"));
                            }
                            None => {
                                failures.insert(format!("enum {element}={v} ({sibling:?})"));
                            }
                        }
                    }
                    (Some("Integer"), Some(v))
                        if v.starts_with(|c: char| c.is_ascii_alphabetic()) =>
                    {
                        match names.mask_bits(tag, ctx) {
                            Some(bits) => {
                                for bit in v.split_whitespace() {
                                    if bits.iter().any(|(n, _)| *n == bit) {
                                        masks.insert(format!("{element}={bit}"));
                                    } else {
                                        failures.insert(format!("mask bit {element}={bit}"));
                                    }
                                }
                            }
                            None => {
                                failures.insert(format!("mask {element}={v} ({sibling:?})"));
                            }
                        }
                    }
                    _ => {}
                }
            }
            if !empty {
                attr_names.push(None);
            }
        }
    }
    println!(
        "{} files: {} tag names, {} enumeration names, {} mask bit names resolved",
        files.len(),
        tags.len(),
        enums.len(),
        masks.len()
    );
    assert!(failures.is_empty(), "unresolved names: {failures:#?}");
    assert!(files.len() > 250 && tags.len() > 100 && enums.len() > 100);
}
