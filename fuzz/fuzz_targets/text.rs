//! XML and JSON encodings of TTLV: parsing arbitrary text never panics, and whatever parses
//! is stable: text → TTLV → text → TTLV gives the same bytes both times.
#![no_main]

use kmipd::kmip::KmipNames;
use kmipd::ttlv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(item) = ttlv::from_xml(text, &KmipNames) {
        let bytes = ttlv::encode(&item);
        let xml = ttlv::to_xml(&item, &KmipNames);
        let again = ttlv::from_xml(&xml, &KmipNames).expect("own XML parses");
        assert_eq!(ttlv::encode(&again), bytes);
    }
    if let Ok(item) = ttlv::from_json(text, &KmipNames) {
        let bytes = ttlv::encode(&item);
        let json = ttlv::to_json(&item, &KmipNames);
        let again = ttlv::from_json(&json, &KmipNames).expect("own JSON parses");
        assert_eq!(ttlv::encode(&again), bytes);
    }
});
