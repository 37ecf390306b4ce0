//! The text of a JSON document as the scanner sees it: every string value (not object keys,
//! not images) with its JSON pointer and where its characters are in the raw bytes, so that a
//! secret found in the decoded text is replaced in the upload itself and nowhere else.
//!
//! The document is not parsed into a tree: a 25 MB upload is walked once, its image strings
//! skipped at memchr speed. The walk is lenient (it never fails); the schema check judges the
//! document, this only finds its strings.

use std::borrow::Cow;

/// Where a string value is: the path to it, each step an object key (raw bytes, still
/// escaped) or an array index.
#[derive(Debug, Clone)]
pub enum Step {
    Key(std::ops::Range<usize>),
    Index(usize),
}

/// Calls `each(path, content)` for every string value of `raw` that may hold text, with
/// `content` the range of its characters (between the quotes, still escaped).
pub fn string_values(raw: &[u8], mut each: impl FnMut(&[Step], std::ops::Range<usize>)) {
    every_string_value(raw, |path, content, image| {
        if !image {
            each(path, content)
        }
    });
}

/// Calls `each(path, content, image)` for every string value of `raw`, images too (`image`
/// says which they are): the `n`th call is the `n`th string value of the document.
pub fn every_string_value(raw: &[u8], mut each: impl FnMut(&[Step], std::ops::Range<usize>, bool)) {
    // Per open container: the path step of the value being read in it, and for objects
    // whether a key comes next.
    let mut path: Vec<Step> = Vec::new();
    let mut in_object: Vec<bool> = Vec::new();
    let mut expect_key = false;
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'{' => {
                path.push(Step::Key(0..0));
                in_object.push(true);
                expect_key = true;
            }
            b'[' => {
                path.push(Step::Index(0));
                in_object.push(false);
                expect_key = false;
            }
            b'}' | b']' => {
                path.pop();
                in_object.pop();
                expect_key = false;
            }
            b',' => match path.last_mut() {
                Some(Step::Index(n)) => *n += 1,
                Some(Step::Key(_)) => expect_key = true,
                None => {}
            },
            b'"' => {
                let end = string_end(raw, i + 1);
                let content = i + 1..end.min(raw.len());
                if expect_key {
                    if let Some(step) = path.last_mut() {
                        *step = Step::Key(content);
                    }
                    expect_key = false;
                } else {
                    let image = is_image(raw, &path, &content);
                    each(&path, content, image);
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
}

/// The index of the quote that closes the string whose characters start at `from`.
fn string_end(raw: &[u8], mut from: usize) -> usize {
    while let Some(at) = memchr::memchr2(b'"', b'\\', &raw[from.min(raw.len())..]) {
        let at = from + at;
        if raw[at] == b'"' {
            return at;
        }
        from = at + 2; // an escape: skip the escaped character
    }
    raw.len()
}

/// A screenshot: an item of an `images` array, or any `data:…;base64,` URL. Base64 is not
/// text a person typed or a tool printed, and scanning megabytes of it only finds noise.
fn is_image(raw: &[u8], path: &[Step], content: &std::ops::Range<usize>) -> bool {
    let in_images =
        matches!(path, [.., Step::Key(key), Step::Index(_)] if raw[key.clone()] == *b"images");
    in_images || is_data_url(&raw[content.clone()])
}

/// A `data:…;base64,` URL, by its escaped characters (those of a string without escapes are
/// the same).
pub fn is_data_url(text: &[u8]) -> bool {
    text.starts_with(b"data:")
        && memchr::memmem::find(&text[..text.len().min(120)], b";base64,").is_some()
}

/// `path` as a JSON pointer (RFC 6901), keys decoded.
pub fn pointer(raw: &[u8], path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        out.push('/');
        match step {
            Step::Index(n) => out.push_str(&n.to_string()),
            Step::Key(key) => {
                let decoded = decode(&raw[key.clone()]);
                let key = String::from_utf8_lossy(&decoded);
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
        }
    }
    out
}

/// The characters of a JSON string's escaped content. A lone surrogate escape reads as
/// U+FFFD, as `JSON.parse` then a UTF-8 encoder would show it.
pub fn decode(escaped: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = memchr::memchr(b'\\', escaped) else {
        return Cow::Borrowed(escaped);
    };
    let mut out = Vec::with_capacity(escaped.len());
    out.extend_from_slice(&escaped[..first]);
    let mut i = first;
    while i < escaped.len() {
        let (decoded, used) = escape(&escaped[i..]);
        out.extend_from_slice(decoded.encode_utf8(&mut [0; 4]).as_bytes());
        i += used;
        let run = memchr::memchr(b'\\', &escaped[i..]).map_or(escaped.len(), |at| i + at);
        out.extend_from_slice(&escaped[i..run]);
        i = run;
    }
    Cow::Owned(out)
}

/// Where the decoded byte `offset` (see [`decode`]) starts in `escaped`: the escape it came
/// from, or `escaped.len()` at the end. Only asked for where a secret was found.
pub fn escaped_offset(escaped: &[u8], offset: usize) -> usize {
    let (mut raw, mut decoded) = (0, 0);
    while raw < escaped.len() {
        let (len, used) = if escaped[raw] == b'\\' {
            let (c, used) = escape(&escaped[raw..]);
            (c.len_utf8(), used)
        } else {
            (1, 1)
        };
        if decoded + len > offset {
            return raw;
        }
        decoded += len;
        raw += used;
    }
    escaped.len()
}

/// The character an escape at the start of `s` stands for, and how many bytes it took.
fn escape(s: &[u8]) -> (char, usize) {
    let hex = |s: &[u8]| -> Option<u32> {
        let digits = std::str::from_utf8(s.get(..4)?).ok()?;
        u32::from_str_radix(digits, 16).ok()
    };
    match s.get(1) {
        Some(b'n') => ('\n', 2),
        Some(b't') => ('\t', 2),
        Some(b'r') => ('\r', 2),
        Some(b'b') => ('\u{8}', 2),
        Some(b'f') => ('\u{c}', 2),
        Some(b'u') => match hex(&s[2..]) {
            Some(high @ 0xD800..=0xDBFF) => {
                let low = (s.get(6..8) == Some(b"\\u")).then(|| hex(&s[8..])).flatten();
                match low {
                    Some(low @ 0xDC00..=0xDFFF) => {
                        let c = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                        (char::from_u32(c).unwrap_or('\u{FFFD}'), 12)
                    }
                    _ => ('\u{FFFD}', 6),
                }
            }
            Some(c) => (char::from_u32(c).unwrap_or('\u{FFFD}'), 6),
            None => ('\u{FFFD}', 2),
        },
        Some(&c) if c.is_ascii() => (c as char, 2),
        _ => ('\u{FFFD}', 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(raw: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        string_values(raw.as_bytes(), |path, content| {
            let text = decode(&raw.as_bytes()[content]);
            out.push((pointer(raw.as_bytes(), path), String::from_utf8_lossy(&text).into()));
        });
        out
    }

    #[test]
    fn every_string_value_with_its_pointer_and_no_keys_or_images() {
        let raw = r#"{"task":{"task":"fix \"it\"","a/b~":["x",1,{"k":"y"}]},
            "messages":[{"text":"one\nline","images":["data:image/png;base64,AAAA","zz"]},
            {"say":"tool","text":"{\"path\":\".env\"}","other":"data:image/png;base64,QUJD"}],
            "n":null,"e":"\ud83d\ude00 \ud83d"}"#;
        assert_eq!(
            strings(raw),
            [
                ("/task/task", "fix \"it\""),
                ("/task/a~1b~0/0", "x"),
                ("/task/a~1b~0/2/k", "y"),
                ("/messages/0/text", "one\nline"),
                ("/messages/1/say", "tool"),
                ("/messages/1/text", "{\"path\":\".env\"}"),
                ("/e", "😀 \u{FFFD}"),
            ]
            .map(|(p, t)| (p.to_owned(), t.to_owned()))
        );
    }

    #[test]
    fn decoded_bytes_lead_back_to_their_escapes() {
        let escaped = br#"a\n\u00e9b"#;
        assert_eq!(&*decode(escaped), "a\néb".as_bytes());
        let starts: Vec<usize> = (0..=5).map(|i| escaped_offset(escaped, i)).collect();
        assert_eq!(starts, [0, 1, 3, 3, 9, 10]);
    }

    #[test]
    fn broken_documents_end_the_walk_without_a_panic() {
        for raw in ["", "\"", "{\"a\":\"\\", "[[[", "}}]]", "{\"a\" \"b\" \"c\"}", "\"\\u12"] {
            string_values(raw.as_bytes(), |path, content| {
                let _ = pointer(raw.as_bytes(), path);
                let _ = decode(&raw.as_bytes()[content]);
            });
        }
    }
}
