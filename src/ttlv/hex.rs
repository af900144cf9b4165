//! Hex text of binary TTLV, for captures and golden files: one message per line when
//! written, any white space (spaces, line breaks) tolerated when read.

use super::TextError;

/// Lower-case hex of `bytes`, no separators.
pub fn encode(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Bytes from hex digits in any case; ASCII white space anywhere is ignored. An error names
/// the character offset of the first bad digit, or an odd count of digits.
pub fn decode(text: &str) -> Result<Vec<u8>, TextError> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<(usize, u8)> = None;
    for (offset, c) in text.char_indices() {
        if c.is_ascii_whitespace() {
            continue;
        }
        let digit = c.to_digit(16).ok_or_else(|| {
            TextError::new(
                format!("offset {offset}"),
                format!("{c:?} is not a hex digit"),
            )
        })? as u8;
        high = match high {
            None => Some((offset, digit)),
            Some((_, h)) => {
                out.push(h << 4 | digit);
                None
            }
        };
    }
    match high {
        Some((offset, _)) => Err(TextError::new(
            format!("offset {offset}"),
            "odd number of hex digits: the last byte is incomplete",
        )),
        None => Ok(out),
    }
}

/// One byte string per non-blank line (each line white-space tolerant).
pub fn decode_lines(text: &str) -> Result<Vec<Vec<u8>>, TextError> {
    let mut out = Vec::new();
    let mut base = 0;
    for line in text.split_inclusive('\n') {
        if !line.trim().is_empty() {
            out.push(decode(line).map_err(|e| {
                TextError::new(
                    format!("{} of the input", shift(&e.context, base)),
                    e.message,
                )
            })?);
        }
        base += line.len();
    }
    Ok(out)
}

fn shift(context: &str, base: usize) -> String {
    match context
        .strip_prefix("offset ")
        .and_then(|n| n.parse::<usize>().ok())
    {
        Some(n) => format!("offset {}", n + base),
        None => context.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_and_strict() {
        assert_eq!(decode("42 00 7B\n01").unwrap(), [0x42, 0x00, 0x7b, 0x01]);
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
        let e = decode("42 0g").unwrap_err();
        assert_eq!(e.context, "offset 4");
        assert!(decode("420").unwrap_err().message.contains("odd"));
        assert_eq!(
            decode_lines("0102\n\n  0304 \n").unwrap(),
            vec![vec![1, 2], vec![3, 4]]
        );
        assert_eq!(
            decode_lines("0102\n03x4").unwrap_err().context,
            "offset 7 of the input"
        );
        assert_eq!(encode(&[0xAB, 0x01]), "ab01");
    }
}
