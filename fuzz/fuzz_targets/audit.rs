//! Stored audit records (layouts 1 and 2): reading never panics whatever the bytes, and a
//! record that reads writes back to exactly its bytes (the encoding is canonical, which the
//! hash chain relies on), with a hash computed the same way again.
#![no_main]

use kmipd::audit::AuditRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = AuditRecord::from_bytes(7, data) {
        assert_eq!(record.to_bytes(), data, "a record reads back to its own bytes");
        assert_eq!(record.computed_hash(), record.computed_hash());
        let _ = record.to_string();
        let _ = record.to_json_line();
    }
});
