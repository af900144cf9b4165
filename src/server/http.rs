//! KMIP over HTTPS (KMIP Additional Message Encodings 1.0, §2 "HTTPS Profile") on the KMIP
//! port itself, with the TTLV, XML (§6) and JSON (§4) message encodings as bodies.
//!
//! §2.2 lets a server use port 5696 for HTTP "provided that both HTTP and non-HTTP encoded
//! messages are supported"; kmipd tells them apart by a connection's first two bytes
//! ([`sniff`]): every TTLV message begins with a tag (`0x42 0x00` for the standard ones), every
//! HTTP request with a method token (`POST`). The TLS handshake, the client certificate and
//! the principal are the same either way, as are the idle timeout, the maximum message size
//! and the handler.
//!
//! An HTTP connection is a loop of HTTP/1.0 or HTTP/1.1 requests answered in order. A KMIP
//! exchange is `POST` to the configured path (`/kmip` by default, §2.3) with a
//! `Content-Length` and one KMIP request message as the body: `Content-Type`
//! `application/octet-stream` (TTLV; also assumed when the header is missing, as RFC 9110
//! §8.3 allows), `text/xml` or `application/json`. The answer is `200 OK` with the KMIP
//! response in the request's encoding, `Content-Length` and `Cache-Control: no-cache`
//! (§2.5). A KMIP failure is a KMIP response in a 200, as on the TTLV port; an XML or JSON
//! body that is not one KMIP message gets a KMIP response with Result Reason Invalid
//! Message. Other status codes are for requests that are not a KMIP exchange at all:
//!
//! | status | when | connection |
//! |---|---|---|
//! | 400 | the head does not parse, or a bad `Content-Length` | closed |
//! | 404 | another path | kept (the body is skipped) |
//! | 405 | another method (`Allow: POST`) | kept |
//! | 411 | `POST` without `Content-Length`, or with `Transfer-Encoding` (§2.4: clients SHALL send a length) | closed |
//! | 413 | a body over `max_message_size` | closed |
//! | 415 | another `Content-Type` | kept |
//! | 417 | an `Expect` other than `100-continue` | closed |
//! | 431 | a head over [`MAX_HEAD`] bytes or [`MAX_HEADERS`] fields | closed |
//! | 505 | not HTTP/1.0 or HTTP/1.1 | closed |
//!
//! "Kept" holds only when the client keeps the connection alive (HTTP/1.1 unless
//! `Connection: close`; HTTP/1.0 with `Connection: keep-alive`) and did not ask for
//! `100-continue` (it may not send the body after a refusal).
//!
//! `GET /metrics` ([`METRICS_PATH`]) answers the server's counters in the Prometheus text
//! format to administrators and metrics readers (`[policy] metrics_readers`), 403 to any
//! other client; another method there gets 405 with `Allow: GET`.
//!
//! This module is sans-IO: it reads request heads from a buffer, converts bodies and writes
//! response heads; `connection` does the reading and writing.

use crate::kmip::KmipNames;
use crate::ttlv::{self, Format};

/// Most bytes of one request head (request line and header fields).
pub(super) const MAX_HEAD: usize = 16 * 1024;
/// Most header fields in one request head.
pub(super) const MAX_HEADERS: usize = 48;
/// Where the server's metrics are read (`GET`).
pub(super) const METRICS_PATH: &str = "/metrics";
/// The Prometheus text exposition format.
pub(super) const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a connection speaks, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Protocol {
    Ttlv,
    Http,
}

/// Which protocol a connection speaks, or `None` while fewer than two bytes decide it: two
/// upper-case ASCII letters begin an HTTP method; anything else is TTLV (a standard tag
/// begins `0x42 0x00`, "B" and a NUL) and meets the TTLV framing.
pub(super) fn sniff(first: &[u8]) -> Option<Protocol> {
    match first {
        [] => None,
        [a] if a.is_ascii_uppercase() => None,
        [a, b, ..] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Some(Protocol::Http),
        _ => Some(Protocol::Ttlv),
    }
}

/// The status codes kmipd answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Status {
    Ok,
    BadRequest,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    LengthRequired,
    PayloadTooLarge,
    UnsupportedMediaType,
    ExpectationFailed,
    HeadersTooLarge,
    VersionNotSupported,
}

impl Status {
    fn line(self) -> &'static str {
        match self {
            Status::Ok => "200 OK",
            Status::BadRequest => "400 Bad Request",
            Status::Forbidden => "403 Forbidden",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::LengthRequired => "411 Length Required",
            Status::PayloadTooLarge => "413 Content Too Large",
            Status::UnsupportedMediaType => "415 Unsupported Media Type",
            Status::ExpectationFailed => "417 Expectation Failed",
            Status::HeadersTooLarge => "431 Request Header Fields Too Large",
            Status::VersionNotSupported => "505 HTTP Version Not Supported",
        }
    }
}

/// A request head that asks for a KMIP exchange.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Exchange {
    /// Bytes of the head, its closing blank line included.
    pub head_len: usize,
    /// Bytes of the body (`Content-Length`).
    pub body_len: usize,
    /// The body's encoding, which the answer uses too.
    pub format: Format,
    /// Whether the connection stays open after the answer.
    pub keep_alive: bool,
    /// Whether the client waits for `100 Continue` before it sends the body.
    pub expect_continue: bool,
}

/// `GET /metrics`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct MetricsRead {
    /// Bytes of the request (head and any body) to drop before the next one.
    pub len: usize,
    pub keep_alive: bool,
}

/// A request that is not a KMIP exchange, and how to answer it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Refusal {
    pub status: Status,
    /// What the answer's body says.
    pub detail: &'static str,
    /// The method a 405 names (`Allow`).
    pub allow: &'static str,
    /// Bytes of the request (head and body) to drop before the next one when the connection
    /// goes on; `None`: answer and close.
    pub skip: Option<usize>,
}

/// What the start of the receive buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Head {
    /// Not a whole head yet.
    Partial,
    Exchange(Exchange),
    Metrics(MetricsRead),
    Refused(Refusal),
}

fn refuse(status: Status, detail: &'static str) -> Head {
    Head::Refused(Refusal {
        status,
        detail,
        allow: "POST",
        skip: None,
    })
}

/// Reads the request head at the start of `buf`: a KMIP exchange at `path` with a body of
/// at most `max_body` bytes, or why not.
pub(super) fn parse_head(buf: &[u8], path: &str, max_body: usize) -> Head {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return refuse(Status::HeadersTooLarge, "request head too large");
        }
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return refuse(Status::HeadersTooLarge, "too many header fields");
        }
        Err(httparse::Error::Version) => {
            return refuse(Status::VersionNotSupported, "HTTP/1.0 or HTTP/1.1 only");
        }
        Err(_) => return refuse(Status::BadRequest, "malformed request head"),
    };
    if head_len > MAX_HEAD {
        return refuse(Status::HeadersTooLarge, "request head too large");
    }
    let http_1_1 = req.version == Some(1);
    let mut content_length: Option<usize> = None;
    let mut content_type: Option<&[u8]> = None;
    let mut connection_close = !http_1_1;
    let mut expect_continue = false;
    for field in req.headers.iter() {
        let value = trim(field.value);
        let name = field.name;
        if name.eq_ignore_ascii_case("content-length") {
            let parsed = std::str::from_utf8(value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok());
            match (parsed, content_length) {
                (Some(n), None) => content_length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => return refuse(Status::BadRequest, "invalid Content-Length"),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return refuse(
                Status::LengthRequired,
                "Transfer-Encoding is not accepted: send a Content-Length",
            );
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value);
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',').map(trim) {
                if token.eq_ignore_ascii_case(b"close") {
                    connection_close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && !http_1_1 {
                    connection_close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if value.eq_ignore_ascii_case(b"100-continue") && http_1_1 {
                expect_continue = true;
            } else {
                return refuse(Status::ExpectationFailed, "unsupported Expect");
            }
        }
    }
    let keep_alive = !connection_close;
    let post = req.method == Some("POST");
    let body_len = match content_length {
        Some(n) => n,
        None if post => return refuse(Status::LengthRequired, "Content-Length required"),
        None => 0,
    };
    if body_len > max_body {
        return refuse(
            Status::PayloadTooLarge,
            "message larger than the server accepts",
        );
    }
    let skip = (keep_alive && !expect_continue).then_some(head_len + body_len);
    let refused = |status, detail| {
        Head::Refused(Refusal {
            status,
            detail,
            allow: "POST",
            skip,
        })
    };
    if req.path == Some(METRICS_PATH) {
        if req.method != Some("GET") {
            return Head::Refused(Refusal {
                status: Status::MethodNotAllowed,
                detail: "metrics are read with GET",
                allow: "GET",
                skip,
            });
        }
        return Head::Metrics(MetricsRead {
            len: head_len + body_len,
            keep_alive: skip.is_some(),
        });
    }
    if !post {
        return refused(Status::MethodNotAllowed, "KMIP requests are POSTed");
    }
    if req.path != Some(path) {
        return refused(Status::NotFound, "no KMIP endpoint here");
    }
    let format = match content_type.map(media_type) {
        None => Format::Ttlv,
        Some(t) if t.eq_ignore_ascii_case(b"application/octet-stream") => Format::Ttlv,
        Some(t) if t.eq_ignore_ascii_case(b"text/xml") => Format::Xml,
        Some(t) if t.eq_ignore_ascii_case(b"application/json") => Format::Json,
        Some(_) => {
            return refused(
                Status::UnsupportedMediaType,
                "Content-Type application/octet-stream (TTLV), text/xml or application/json",
            );
        }
    };
    Head::Exchange(Exchange {
        head_len,
        body_len,
        format,
        keep_alive,
        expect_continue,
    })
}

/// `bytes` without leading and trailing spaces and tabs.
fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = bytes.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    match (start, end) {
        (Some(s), Some(e)) => &bytes[s..=e],
        _ => &[],
    }
}

/// The media type of a `Content-Type` value, without its parameters (`; charset=utf-8`).
fn media_type(value: &[u8]) -> &[u8] {
    trim(value.split(|&b| b == b';').next().unwrap_or(value))
}

/// The `Content-Type` of an encoding.
pub(super) fn content_type(format: Format) -> &'static str {
    match format {
        Format::Xml => "text/xml",
        Format::Json => "application/json",
        Format::Ttlv | Format::Hex => "application/octet-stream",
    }
}

/// An answer: status line and header fields, then `body`.
pub(super) fn response(
    status: Status,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
) -> Vec<u8> {
    answer(status, content_type, body, keep_alive, "POST")
}

/// [`response`], with the method a 405 names.
fn answer(
    status: Status,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
    allow: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.line().as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: ");
    out.extend_from_slice(content_type.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\nCache-Control: no-cache\r\nPragma: no-cache\r\n");
    if status == Status::MethodNotAllowed {
        out.extend_from_slice(b"Allow: ");
        out.extend_from_slice(allow.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(if keep_alive {
        b"Connection: keep-alive\r\n\r\n".as_slice()
    } else {
        b"Connection: close\r\n\r\n".as_slice()
    });
    out.extend_from_slice(body);
    out
}

/// What a client that sent `Expect: 100-continue` waits for before it sends the body.
pub(super) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The refusal's answer.
pub(super) fn refusal(r: &Refusal) -> Vec<u8> {
    let body = format!("{}\n", r.detail);
    answer(
        r.status,
        "text/plain",
        body.as_bytes(),
        r.skip.is_some(),
        r.allow,
    )
}

/// The one TTLV message an XML or JSON request body holds, or why it holds none.
pub(super) fn text_to_ttlv(body: &[u8], format: Format) -> Result<Vec<u8>, String> {
    let mut items = ttlv::convert::read(body, format, &KmipNames).map_err(|e| e.to_string())?;
    let bytes = match items.as_slice() {
        [one] => Ok(ttlv::encode(one)),
        _ => Err(format!(
            "{} messages in one body; send one per request",
            items.len()
        )),
    };
    items.iter_mut().for_each(ttlv::Item::zeroize_owned);
    bytes
}

/// A TTLV response message in an XML or JSON answer; `None` if the handler's answer is not
/// one TTLV message (it always is).
pub(super) fn ttlv_to_text(response: &[u8], format: Format) -> Option<Vec<u8>> {
    let item = ttlv::decode(response).ok()?;
    Some(ttlv::convert::write(
        std::slice::from_ref(&item),
        format,
        &KmipNames,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/kmip";

    fn exchange(head: &str) -> Exchange {
        match parse_head(head.as_bytes(), PATH, 1000) {
            Head::Exchange(e) => e,
            other => panic!("{head:?}: {other:?}"),
        }
    }

    fn refused(head: &str) -> Refusal {
        match parse_head(head.as_bytes(), PATH, 1000) {
            Head::Refused(r) => r,
            other => panic!("{head:?}: {other:?}"),
        }
    }

    #[test]
    fn sniffs_ttlv_and_http_from_two_bytes() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"P"), None);
        assert_eq!(sniff(b"B"), None, "TTLV's first byte is an ASCII B");
        assert_eq!(sniff(b"PO"), Some(Protocol::Http));
        assert_eq!(sniff(b"GET / HTTP/1.1"), Some(Protocol::Http));
        assert_eq!(sniff(&[0x42, 0x00, 0x78, 0x01]), Some(Protocol::Ttlv));
        assert_eq!(sniff(&[0x54, 0x00]), Some(Protocol::Ttlv), "extension tag");
        assert_eq!(
            sniff(&[0x16, 0x03]),
            Some(Protocol::Ttlv),
            "garbage meets the framing"
        );
        assert_eq!(sniff(b"post"), Some(Protocol::Ttlv));
    }

    #[test]
    fn the_vectors_request_head_is_an_exchange() {
        // MSGENC-HTTPS-M-1-10: HTTP/1.0, keep-alive, a Content-Length padded with spaces.
        let head = "POST /kmip HTTP/1.0\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n\
                    Connection: keep-alive\r\nContent-Type: application/octet-stream\r\n\
                    Content-Length: 152       \r\n\r\n";
        let e = exchange(head);
        assert_eq!(
            e,
            Exchange {
                head_len: head.len(),
                body_len: 152,
                format: Format::Ttlv,
                keep_alive: true,
                expect_continue: false,
            }
        );
    }

    #[test]
    fn encodings_connection_and_expect() {
        let e = exchange(
            "POST /kmip HTTP/1.1\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: 9\r\n\r\n",
        );
        assert_eq!((e.format, e.keep_alive, e.body_len), (Format::Xml, true, 9));
        let e = exchange(
            "POST /kmip HTTP/1.1\r\ncontent-type: Application/JSON\r\nconnection: Close\r\ncontent-length: 0\r\n\r\n",
        );
        assert_eq!((e.format, e.keep_alive), (Format::Json, false));
        let e = exchange("POST /kmip HTTP/1.0\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(
            (e.format, e.keep_alive),
            (Format::Ttlv, false),
            "1.0 closes"
        );
        let e = exchange(
            "POST /kmip HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
        );
        assert!(e.expect_continue);
    }

    #[test]
    fn partial_heads_wait_and_oversized_ones_are_refused() {
        assert_eq!(
            parse_head(b"POST /kmip HTTP/1.1\r\nContent-Len", PATH, 10),
            Head::Partial
        );
        let mut long = b"POST /kmip HTTP/1.1\r\nX-Pad: ".to_vec();
        long.resize(MAX_HEAD, b'a');
        let r = match parse_head(&long, PATH, 10) {
            Head::Refused(r) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!((r.status, r.skip), (Status::HeadersTooLarge, None));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
        let r = refused(&format!("POST /kmip HTTP/1.1\r\n{many}\r\n"));
        assert_eq!((r.status, r.skip), (Status::HeadersTooLarge, None));
    }

    #[test]
    fn refusals_say_whether_the_connection_goes_on() {
        let r = refused("GET /kmip HTTP/1.1\r\n\r\n");
        assert_eq!((r.status, r.skip), (Status::MethodNotAllowed, Some(22)));
        let head = "POST /other HTTP/1.1\r\nContent-Length: 4\r\n\r\n";
        let r = refused(head);
        assert_eq!((r.status, r.skip), (Status::NotFound, Some(head.len() + 4)));
        let r = refused(
            "POST /kmip HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\n",
        );
        assert_eq!((r.status, r.skip), (Status::UnsupportedMediaType, None));
        let r =
            refused("POST /other HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
        assert_eq!(
            (r.status, r.skip),
            (Status::NotFound, None),
            "the body may never come"
        );
        for (head, status) in [
            ("POST /kmip HTTP/1.1\r\n\r\n", Status::LengthRequired),
            (
                "POST /kmip HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                Status::LengthRequired,
            ),
            (
                "POST /kmip HTTP/1.1\r\nContent-Length: 1001\r\n\r\n",
                Status::PayloadTooLarge,
            ),
            (
                "POST /kmip HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                Status::BadRequest,
            ),
            (
                "POST /kmip HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n",
                Status::BadRequest,
            ),
            (
                "POST /kmip HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                Status::BadRequest,
            ),
            (
                "POST /kmip HTTP/1.1\r\nExpect: magic\r\nContent-Length: 1\r\n\r\n",
                Status::ExpectationFailed,
            ),
            ("POST /kmip HTTP/2.0\r\n\r\n", Status::VersionNotSupported),
            ("POST /kmip\r\n\r\n", Status::BadRequest),
            ("PO\0ST", Status::BadRequest),
        ] {
            let r = refused(head);
            assert_eq!((r.status, r.skip), (status, None), "{head:?}");
        }
    }

    #[test]
    fn metrics_are_read_with_get() {
        let head = "GET /metrics HTTP/1.1\r\nAccept: text/plain\r\n\r\n";
        assert_eq!(
            parse_head(head.as_bytes(), PATH, 1000),
            Head::Metrics(MetricsRead {
                len: head.len(),
                keep_alive: true,
            })
        );
        let r = refused("POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(
            (r.status, r.allow, r.skip),
            (Status::MethodNotAllowed, "GET", None)
        );
        let a = String::from_utf8(refusal(&r)).unwrap();
        assert!(a.contains("\r\nAllow: GET\r\n"), "{a}");
    }

    #[test]
    fn answers_carry_length_cache_control_and_connection() {
        let a = response(Status::Ok, "text/xml", b"<x/>", true);
        assert_eq!(
            String::from_utf8(a).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 4\r\n\
             Cache-Control: no-cache\r\nPragma: no-cache\r\nConnection: keep-alive\r\n\r\n<x/>"
        );
        let a = refusal(&Refusal {
            status: Status::MethodNotAllowed,
            detail: "no",
            allow: "POST",
            skip: None,
        });
        let a = String::from_utf8(a).unwrap();
        assert!(a.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{a}");
        assert!(a.contains("\r\nAllow: POST\r\n") && a.contains("Connection: close\r\n\r\nno\n"));
    }

    /// What must hold of any answer [`parse_head`] gives for `buf`.
    fn sound(buf: &[u8]) {
        match parse_head(buf, PATH, 1000) {
            Head::Partial => assert!(buf.len() < MAX_HEAD),
            Head::Exchange(e) => {
                assert!(e.head_len <= buf.len() && e.head_len <= MAX_HEAD);
                assert!(e.body_len <= 1000);
            }
            Head::Metrics(m) => assert!(m.len <= MAX_HEAD + 1000),
            Head::Refused(r) => {
                if let Some(skip) = r.skip {
                    assert!(skip > 0 && skip <= MAX_HEAD + 1000);
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_read_without_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)
        ) {
            sound(&bytes);
            let _ = text_to_ttlv(&bytes, Format::Xml);
            let _ = text_to_ttlv(&bytes, Format::Json);
        }

        #[test]
        fn damaged_heads_are_read_without_panic(
            edits in proptest::collection::vec((0usize..256, proptest::prelude::any::<u8>()), 0..6),
            keep in 1usize..256,
        ) {
            let mut request = b"POST /kmip HTTP/1.1\r\nContent-Type: text/xml\r\n\
                Content-Length: 12\r\nConnection: keep-alive\r\nExpect: 100-continue\r\n\r\n\
                <a></a>12345"
                .to_vec();
            for (at, byte) in edits {
                let at = at % request.len();
                request[at] = byte;
            }
            request.truncate(keep);
            sound(&request);
        }
    }

    #[test]
    fn text_bodies_hold_exactly_one_message() {
        let ttlv = crate::ttlv::hex::decode(
            "42007801000000304200770100000028420069010000002042006A0200000004000000010000000042006B02000000040000000000000000",
        )
        .unwrap();
        // (A header with its version only: enough for the conversion, not for a handler.)
        let xml = ttlv_to_text(&ttlv, Format::Xml).unwrap();
        assert_eq!(text_to_ttlv(&xml, Format::Xml).unwrap(), ttlv);
        let json = ttlv_to_text(&ttlv, Format::Json).unwrap();
        assert_eq!(text_to_ttlv(&json, Format::Json).unwrap(), ttlv);
        let two = format!("[{0},{0}]", String::from_utf8(json).unwrap());
        let e = text_to_ttlv(two.as_bytes(), Format::Json).unwrap_err();
        assert!(e.contains("2 messages"), "{e}");
        assert!(text_to_ttlv(b"<RequestMessage", Format::Xml).is_err());
        assert!(ttlv_to_text(b"\x42\x00", Format::Xml).is_none());
    }
}
