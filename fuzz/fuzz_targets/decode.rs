//! Binary TTLV: decoding never panics, and whatever decodes re-encodes to the same bytes and
//! decodes again to the same tree (decode → encode → decode is stable).
#![no_main]

use kmipd::ttlv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ttlv::frame::check(data, 1 << 20);
    if let Ok(item) = ttlv::decode(data) {
        let bytes = ttlv::encode(&item);
        assert_eq!(bytes, data, "a decoded message re-encodes to its own bytes");
        let again = ttlv::decode(&bytes).expect("own encoding decodes");
        assert_eq!(again, item);
    }
});
