//! The run-time placeholders of the OASIS profile test cases (`$NOW`, `$NOW-3600`,
//! `$UNIQUE_IDENTIFIER_0`, `$KEY_MATERIAL_0`, ...), replaced by fixed values so that a test
//! case can be read as data.
//!
//! The XML parser rightly refuses `$NOW` as a Date-Time. [`substitute`] rewrites a test case
//! first: a Date-Time placeholder becomes `now` (with its offset applied), a Byte String
//! placeholder sixteen bytes derived from its name (the same name gives the same bytes), and
//! a Text String placeholder stays as it is, since it is valid text.

/// Rewrites the placeholders of an OASIS test case; see the module doc.
pub fn substitute(xml: &str, now: i64) -> String {
    substitute_with(xml, now, |placeholder| {
        let seed = placeholder.bytes().fold(0u8, |a, b| a.wrapping_add(b));
        (0..16u8).map(|i| seed.wrapping_add(i)).collect()
    })
}

/// [`substitute`] with the bytes of each Byte String placeholder chosen by `byte_string`
/// (given the placeholder's name, `$KEY_MATERIAL_0`): a harness that later recognises
/// them in a response picks bytes it can tell apart.
pub fn substitute_with(xml: &str, now: i64, byte_string: impl Fn(&str) -> Vec<u8>) -> String {
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
                time::OffsetDateTime::from_unix_timestamp(now.saturating_add(offset))
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_else(|| placeholder.to_string())
            }
            "ByteString" => byte_string(placeholder)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            _ => placeholder.to_string(),
        };
        out.push_str("value=\"");
        out.push_str(&value);
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_become_values() {
        let xml = r#"<A type="DateTime" value="$NOW-3600"/><B type="ByteString" value="$KEY_MATERIAL_0"/><C type="TextString" value="$UNIQUE_IDENTIFIER_0"/>"#;
        let out = super::substitute(xml, 7200);
        assert!(out.contains(r#"value="1970-01-01T01:00:00Z""#), "{out}");
        assert!(!out.contains("$KEY_MATERIAL_0"));
        assert!(out.contains("$UNIQUE_IDENTIFIER_0"));
    }
}
