//! Why a request body is not JSON, in words for whoever sent it. serde_json's own words point at
//! a byte no editor shows ("expected value" at 1:1 for a byte order mark or UTF-16) or name the
//! wrong thing ("invalid unicode code point" for Latin-1 text). JSON on a network is UTF-8
//! (RFC 8259 8.1), whatever a `charset` parameter says; a body in another encoding is told so.

/// Where a body stops being JSON (line and byte column, both from 1, as serde_json counts),
/// and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFailure {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for ParseFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at line {} column {}", self.message, self.line, self.column)
    }
}

/// What `error`, from parsing `body`, means to its sender.
pub fn describe(error: &serde_json::Error, body: &[u8]) -> ParseFailure {
    let (line, column) = (error.line(), error.column());
    let at = |message: String| ParseFailure { line, column, message };
    if body.starts_with(UTF8_BOM) {
        // A file saved by some Windows editors starts with one.
        return at("it starts with a byte order mark (U+FEFF): send UTF-8 without one".into());
    }
    if let Some(encoding) = utf16_or_32(body) {
        return at(format!("it is {encoding}, not UTF-8: send UTF-8"));
    }
    // A syntax error before the first byte that is not UTF-8 is the one to tell.
    match first_non_utf8(body) {
        Some((stray_line, stray_column, byte)) if (stray_line, stray_column) <= (line, column) => {
            ParseFailure {
                line: stray_line,
                column: stray_column,
                message: format!(
                    "it is not UTF-8: byte 0x{byte:02X} is not part of a UTF-8 character (text \
                     in another encoding, such as Latin-1?): send UTF-8"
                ),
            }
        }
        _ => at(strip_position(&error.to_string())),
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A body in UTF-16 or UTF-32: by its byte order mark, or by the zero bytes ASCII characters
/// have in those encodings among its first four (how RFC 4627 section 3 told them apart). JSON
/// in UTF-8 has no zero byte.
fn utf16_or_32(body: &[u8]) -> Option<&'static str> {
    match body {
        [0, 0, 0xFE, 0xFF, ..] | [0xFF, 0xFE, 0, 0, ..] => {
            Some("UTF-32 (it has a byte order mark)")
        }
        [0xFE, 0xFF, ..] | [0xFF, 0xFE, ..] => Some("UTF-16 (it has a byte order mark)"),
        [0, 0, 0, _, ..] | [_, 0, 0, 0, ..] => Some("UTF-32"),
        [0, _, 0, _, ..] | [_, 0, _, 0, ..] => Some("UTF-16"),
        _ => None,
    }
}

/// Where the first byte that is not UTF-8 is (line, column) and the byte; `None` if the body
/// is UTF-8, or only ends inside a character (cut short: serde_json's "EOF" says so).
fn first_non_utf8(body: &[u8]) -> Option<(usize, usize, u8)> {
    let error = std::str::from_utf8(body).err()?;
    error.error_len()?;
    let at = error.valid_up_to();
    let before = &body[..at];
    let line = 1 + memchr::memchr_iter(b'\n', before).count();
    let column = at - memchr::memrchr(b'\n', before).map_or(0, |newline| newline + 1) + 1;
    Some((line, column, body[at]))
}

/// serde_json appends " at line L column C" to its messages; they are reported apart.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(body: &[u8]) -> ParseFailure {
        let error = serde_json::from_slice::<serde_json::Value>(body).unwrap_err();
        describe(&error, body)
    }

    #[test]
    fn serde_json_says_where_and_what_without_repeating_where() {
        let failed = failure(b"{\n  \"version\": \"1.0.0\",\n  oops\n}");
        assert_eq!((failed.line, failed.column), (3, 3));
        assert!(!failed.message.contains("at line"), "{}", failed.message);
        assert_eq!(failed.to_string(), format!("{} at line 3 column 3", failed.message));
    }

    #[test]
    fn text_in_another_encoding_is_named_where_it_starts() {
        // Latin-1: "café" on the second line, its é the 15th byte there.
        let failed = failure(b"{\n  \"task\": \"caf\xE9\"}");
        assert_eq!((failed.line, failed.column), (2, 15));
        assert!(failed.message.contains("not UTF-8: byte 0xE9"), "{}", failed.message);
        // A syntax error before the first such byte is the one told.
        let failed = failure(b"{\"a\": oops, \"b\": \"caf\xE9\"}");
        assert_eq!((failed.line, failed.column), (1, 7));
        assert!(!failed.message.contains("UTF-8"), "{}", failed.message);
        // Cut inside a character: cut short, not another encoding.
        let cut = "{\"a\": \"caf\u{e9}".as_bytes();
        assert!(failure(&cut[..cut.len() - 1]).message.contains("EOF"));
        // UTF-8 that is not JSON keeps serde_json's words.
        assert!(failure("{\"a\": \"café\" x}".as_bytes()).message.contains("expected"));
    }

    #[test]
    fn byte_order_marks_utf16_and_utf32_are_named() {
        let bom = failure(b"\xEF\xBB\xBF{}");
        assert_eq!((bom.line, bom.column), (1, 1));
        assert!(bom.message.contains("byte order mark (U+FEFF)"), "{}", bom.message);
        let utf16: Vec<u8> = "{}".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(failure(&utf16).message.contains("UTF-16, not UTF-8"));
        let marked = [b"\xFF\xFE".as_slice(), &utf16].concat();
        assert!(failure(&marked).message.contains("UTF-16 (it has a byte order mark)"));
        let utf16_be: Vec<u8> = "{}".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert!(failure(&utf16_be).message.contains("UTF-16, not UTF-8"));
        let utf32: Vec<u8> = "{}".chars().flat_map(|c| (c as u32).to_be_bytes()).collect();
        assert!(failure(&utf32).message.contains("UTF-32, not UTF-8"));
        let marked = [
            b"\xFF\xFE\0\0".as_slice(),
            &"{}".chars().flat_map(|c| (c as u32).to_le_bytes()).collect::<Vec<u8>>(),
        ]
        .concat();
        assert!(failure(&marked).message.contains("UTF-32 (it has a byte order mark)"));
    }
}
