//! Typed messages: any TTLV that types as a request or response message writes back to bytes
//! that type again to the same message (typed decode → encode → decode is stable).
#![no_main]

use kmipd::kmip::messages::{RequestMessage, ResponseMessage};
use kmipd::ttlv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(item) = ttlv::decode(data) else {
        return;
    };
    if let Ok((message, cx)) = RequestMessage::from_item(&item) {
        let bytes = message.to_bytes(&cx);
        let again = ttlv::decode(&bytes).expect("own encoding decodes");
        let (retyped, _) = RequestMessage::from_item(&again).expect("own encoding types");
        assert_eq!(retyped, message);
    }
    if let Ok((message, cx)) = ResponseMessage::from_item(&item) {
        let bytes = message.to_bytes(&cx);
        let again = ttlv::decode(&bytes).expect("own encoding decodes");
        let (retyped, _) = ResponseMessage::from_item(&again).expect("own encoding types");
        assert_eq!(retyped, message);
    }
});
