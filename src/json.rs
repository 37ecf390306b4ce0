//! JSON as the extension's JavaScript writes it, read as strictly as storing it safely needs.
//!
//! Two differences from `serde_json::from_slice::<Value>`:
//! - A duplicate key in an object is an error. `JSON.parse` keeps the last one, serde's derived
//!   types refuse the document, and other readers keep the first: a stored document that
//!   readers disagree on is refused at the door instead.
//! - A lone UTF-16 surrogate escape (`"\ud83d"`, text cut in the middle of an emoji) is
//!   accepted, as `JSON.parse` accepts it. serde_json refuses it, so such a document is read
//!   from a copy in which each lone surrogate stands for itself: a distinct private-use
//!   character for the checks (two keys that differ only in a lone surrogate are not
//!   duplicates, as to `JSON.parse`), U+FFFD for display. The caller keeps the original bytes.

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `bytes`, refusing duplicate keys and tolerating lone surrogate escapes: what
/// [`parse_for_checks`] does, with every string whole (the tests' reference).
#[cfg(test)]
fn parse_strict(bytes: &[u8]) -> serde_json::Result<Value> {
    parse_value(bytes, StrictValue::default())
}

/// Strings longer than this are shortened to it by [`parse_for_checks`]: longer than every
/// `maxLength` of the schema (2,000) and every excerpt kept (1,000), so no verdict changes.
pub const CHECKED_CHARS: usize = 4096;

/// As [`parse_strict`], but strings of more than [`CHECKED_CHARS`] characters are kept
/// shortened to that many (except `version`, which a pattern checks). Schema validation gives
/// the same verdicts on the result, and the parsed tree of an image-heavy session holds a
/// fraction of its bytes instead of a copy of them: the caller keeps the original bytes.
pub fn parse_for_checks(bytes: &[u8]) -> serde_json::Result<Value> {
    parse_value(bytes, StrictValue { cut: Some(CHECKED_CHARS), ..StrictValue::default() })
}

/// A string value (not an object key) as the parse decoded it, whole (before any shortening).
pub struct StringValue<'a> {
    pub text: &'a str,
    /// It had no escapes: its bytes in the document are `text` itself.
    pub unescaped: bool,
    /// An item of an array that is the value of a key written `"images"` (without escapes).
    pub image_item: bool,
}

/// [`parse_for_checks`], calling `each` with every string value of `bytes` in document order,
/// so that a caller that reads every string (the credential scan) needs no walk of its own.
/// The flag: whether `each` saw the strings of `bytes` as they are. It did not if they had a
/// lone surrogate escape (then it saw the strings of the copy that was parsed instead, and of
/// the first attempt before that, up to where it failed).
pub fn parse_for_checks_seeing(
    bytes: &[u8],
    each: &dyn Fn(StringValue),
) -> serde_json::Result<(Value, bool)> {
    let seeing = StrictValue { cut: Some(CHECKED_CHARS), each: Some(each), place: Place::Other };
    match parse_once(bytes, seeing) {
        Ok(value) => Ok((value, true)),
        // As `parse_with` does, without `each`.
        Err(error) => match replace_lone_surrogates(bytes, Stand::Distinct) {
            Some(copy) => {
                parse_once(&copy, StrictValue { each: None, ..seeing }).map(|v| (v, false))
            }
            None => Err(error),
        },
    }
}

/// Sets the string at `pointer` in a document from [`parse_for_checks`] to `text`, as that
/// parse reads it there (shortened unless under a `version` key). False if there is no string
/// at `pointer`.
pub fn set_string_for_checks(document: &mut Value, pointer: &str, text: &str) -> bool {
    let whole = pointer.split('/').any(|step| step == "version");
    let seed = StrictValue { cut: (!whole).then_some(CHECKED_CHARS), ..StrictValue::default() };
    match document.pointer_mut(pointer) {
        Some(value @ Value::String(_)) => {
            *value = Value::String(seed.shortened(text).to_owned());
            true
        }
        _ => false,
    }
}

fn parse_value(bytes: &[u8], seed: StrictValue) -> serde_json::Result<Value> {
    parse_with(bytes, Stand::Distinct, |b| parse_once(b, seed))
}

fn parse_once(bytes: &[u8], seed: StrictValue) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = seed.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Why a request body of options could not be read.
#[derive(Debug)]
pub enum OptionsError {
    /// Valid JSON, but not an object.
    NotAnObject,
    /// Not JSON, a key given twice, or a field of the wrong name or type: what to tell the
    /// client.
    Invalid(String),
}

/// A small request body of options (a PATCH, a link request) as `T`: a JSON object (serde
/// would also read a struct from an array) in which no key comes twice. Read into a plain
/// `Value`, `{"visibility":"private","visibility":"public"}` would keep the last one and make a
/// share public that its owner may have meant to hide.
pub fn parse_options<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, OptionsError> {
    let value = parse_once(bytes, StrictValue::default()).map_err(|e| {
        OptionsError::Invalid(crate::parse_failure::describe(&e, bytes).to_string())
    })?;
    if !value.is_object() {
        return Err(OptionsError::NotAnObject);
    }
    serde_json::from_value(value).map_err(|e| OptionsError::Invalid(e.to_string()))
}

/// Parses `bytes` into `T`, tolerating lone surrogate escapes.
pub fn parse_lenient<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    parse_with(bytes, Stand::Replacement, |b| serde_json::from_slice(b))
}

/// What a lone surrogate is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stand {
    /// U+FFFD, as a browser shows it.
    Replacement,
    /// U+10F800 plus its offset in the surrogate range: each one a character of its own (from
    /// the end of plane 16's private use area, which no session text uses).
    Distinct,
}

/// The first of the characters [`Stand::Distinct`] uses.
const DISTINCT_BASE: u32 = 0x10F800;

/// `text` with the characters that stood for lone surrogates ([`Stand::Distinct`]) shown as
/// U+FFFD: for what is kept beside a share (titles, tags, excerpts).
pub fn readable(text: &str) -> std::borrow::Cow<'_, str> {
    let stands = |c: char| (DISTINCT_BASE..DISTINCT_BASE + 0x800).contains(&(c as u32));
    if !text.chars().any(stands) {
        return text.into();
    }
    text.chars().map(|c| if stands(c) { '\u{fffd}' } else { c }).collect::<String>().into()
}

fn parse_with<T>(
    bytes: &[u8],
    stand: Stand,
    parse: impl Fn(&[u8]) -> serde_json::Result<T>,
) -> serde_json::Result<T> {
    match parse(bytes) {
        Ok(value) => Ok(value),
        // Only a document that failed pays for the scan, and only one with a lone surrogate
        // is read again.
        Err(error) => match replace_lone_surrogates(bytes, stand) {
            Some(copy) => parse(&copy),
            None => Err(error),
        },
    }
}

/// A copy of `bytes` with every unpaired `\uD800`–`\uDFFF` escape inside a string replaced
/// as `stand` says, or `None` if there is none. Bytes outside strings and all other escapes
/// are copied as they are, so positions in errors stay close to the original's.
pub fn replace_lone_surrogates(bytes: &[u8], stand: Stand) -> Option<Vec<u8>> {
    fn unit(escape: &[u8]) -> Option<u16> {
        // `escape` starts at the backslash: `\uXXXX`.
        if escape.len() < 6 || escape[0] != b'\\' || escape[1] != b'u' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&escape[2..6]).ok()?, 16).ok()
    }
    let mut out: Option<Vec<u8>> = None;
    let (mut i, mut in_string) = (0, false);
    while i < bytes.len() {
        let b = bytes[i];
        let mut step = 1;
        let mut lone = false;
        if in_string {
            match b {
                b'"' => in_string = false,
                b'\\' => match unit(&bytes[i..]) {
                    Some(0xD800..=0xDBFF) => match unit(&bytes[i + 6..]) {
                        Some(0xDC00..=0xDFFF) => step = 12,
                        _ => (lone, step) = (true, 6),
                    },
                    Some(0xDC00..=0xDFFF) => (lone, step) = (true, 6),
                    Some(_) => step = 6,
                    None => step = 2,
                },
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        }
        let end = (i + step).min(bytes.len());
        if lone {
            let replacement = match stand {
                Stand::Replacement => "\\ufffd".to_owned(),
                Stand::Distinct => {
                    let surrogate = unit(&bytes[i..]).expect("a lone surrogate escape") as u32;
                    let v = DISTINCT_BASE + (surrogate - 0xD800) - 0x10000;
                    format!("\\u{:04x}\\u{:04x}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
                }
            };
            out.get_or_insert_with(|| bytes[..i].to_vec())
                .extend_from_slice(replacement.as_bytes());
        } else if let Some(out) = out.as_mut() {
            out.extend_from_slice(&bytes[i..end]);
        }
        i = end;
    }
    out
}

/// A `serde_json::Value` that refuses duplicate object keys, and shortens strings of more
/// than `cut` characters; `each` sees every string value as it is decoded.
#[derive(Clone, Copy, Default)]
struct StrictValue<'a> {
    cut: Option<usize>,
    each: Option<&'a dyn Fn(StringValue)>,
    place: Place,
}

/// Where a value is, as far as images go.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Place {
    #[default]
    Other,
    /// The value of a key written `"images"`.
    Images,
    /// An item of the array that is such a value.
    ImageItem,
}

impl StrictValue<'_> {
    fn see(&self, text: &str, unescaped: bool) {
        if let Some(each) = self.each {
            each(StringValue { text, unescaped, image_item: self.place == Place::ImageItem });
        }
    }

    fn shortened<'a>(&self, s: &'a str) -> &'a str {
        // No more bytes than the cut means no more characters: most strings are shorter, and
        // counting their characters cost as much as parsing them.
        let cut = self.cut.filter(|&cut| s.len() > cut);
        match cut.and_then(|cut| s.char_indices().nth(cut)) {
            Some((end, _)) => &s[..end],
            None => s,
        }
    }
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Value, E> {
        self.see(v, true);
        Ok(Value::String(self.shortened(v).to_owned()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        self.see(v, false);
        Ok(Value::String(self.shortened(v).to_owned()))
    }

    fn visit_string<E>(self, mut v: String) -> Result<Value, E> {
        self.see(&v, false);
        let keep = self.shortened(&v).len();
        v.truncate(keep);
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        // Only the items of an `images` array are images, not those of an array inside one.
        let place = if self.place == Place::Images { Place::ImageItem } else { Place::Other };
        let item = StrictValue { place, ..self };
        while let Some(item) = seq.next_element_seed(item)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        // Room for 7 keys from the start: a message has 4 to 6, and growing the map on the 4th
        // rehashed and moved it (a fifth of the parse of a medium session).
        let mut object = Map::with_capacity(7);
        while let Some(Key { key, unescaped }) = map.next_key_seed(KeySeed)? {
            let cut = if key == "version" { None } else { self.cut };
            let place = if unescaped && key == "images" { Place::Images } else { Place::Other };
            let seed = StrictValue { cut, place, ..self };
            let value = map.next_value_seed(seed)?;
            // By entry: the key is not copied to be named in the error.
            match object.entry(key) {
                serde_json::map::Entry::Vacant(entry) => {
                    entry.insert(value);
                }
                serde_json::map::Entry::Occupied(entry) => {
                    return Err(A::Error::custom(format!("duplicate key `{}`", entry.key())));
                }
            }
        }
        Ok(Value::Object(object))
    }
}

/// An object key, and whether it had no escapes.
struct Key {
    key: String,
    unescaped: bool,
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key, E> {
        Ok(Key { key: v.to_owned(), unescaped: true })
    }

    fn visit_str<E>(self, v: &str) -> Result<Key, E> {
        Ok(Key { key: v.to_owned(), unescaped: false })
    }

    fn visit_string<E>(self, v: String) -> Result<Key, E> {
        Ok(Key { key: v, unescaped: false })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for body in [r#"{"a": 1, "a": 2}"#, r#"{"x": [{"b": 1, "c": 2, "b": 1}]}"#] {
            let err = parse_strict(body.as_bytes()).unwrap_err();
            assert!(err.to_string().contains("duplicate key"), "{err}");
            assert!(err.line() >= 1 && err.column() >= 1);
        }
        // The same key in sibling objects is no duplicate.
        assert_eq!(parse_strict(br#"[{"a": 1}, {"a": 2}]"#).unwrap(), json!([{"a": 1}, {"a": 2}]));
    }

    #[test]
    fn lone_surrogates_each_read_as_a_character_of_their_own() {
        let doc =
            parse_strict(br#"{"t": "cut \ud83d", "u": "\ude00x", "ok": "\ud83d\ude80"}"#).unwrap();
        assert_eq!(readable(doc["t"].as_str().unwrap()), "cut \u{fffd}");
        assert_eq!(readable(doc["u"].as_str().unwrap()), "\u{fffd}x");
        assert_eq!(doc["ok"], "🚀");
        assert_ne!(doc["t"], json!("cut \u{fffd}"), "distinct from a real U+FFFD");
        // Two keys that differ in a lone surrogate are two keys, as to JSON.parse.
        let two = parse_strict(br#"{"\ud800": 1, "\udbff": 2}"#).unwrap();
        assert_eq!(two.as_object().unwrap().len(), 2);
        assert!(parse_strict(br#"{"\ud800": 1, "\ud800": 2}"#).is_err(), "the same one twice is");
        // For display they are U+FFFD.
        let shown: Value = parse_lenient(br#"{"t": "cut \ud83d"}"#).unwrap();
        assert_eq!(shown, json!({"t": "cut \u{fffd}"}));
    }

    #[test]
    fn the_scan_leaves_everything_else_alone() {
        // An escaped backslash before `ud83d` is text, not an escape; keys are strings too.
        let body = br#"{"a": "\\ud83d", "\ud83d": "b", "n": 1}"#;
        let copy = replace_lone_surrogates(body, Stand::Replacement).unwrap();
        assert_eq!(copy, br#"{"a": "\\ud83d", "\ufffd": "b", "n": 1}"#.to_vec());
        assert_eq!(replace_lone_surrogates(br#"{"a": "\ud83d\ude80 \n"}"#, Stand::Distinct), None);
    }

    #[test]
    fn long_strings_are_shortened_for_checks_but_not_the_version() {
        let long = "é".repeat(CHECKED_CHARS + 10);
        let body =
            json!({"version": "1.0.".to_owned() + &"0".repeat(5000), "text": long, "short": "abc"});
        let doc = parse_for_checks(body.to_string().as_bytes()).unwrap();
        assert_eq!(doc["text"].as_str().unwrap().chars().count(), CHECKED_CHARS);
        assert_eq!(doc["short"], "abc");
        assert_eq!(doc["version"].as_str().unwrap().len(), 5004);
        assert_eq!(parse_strict(body.to_string().as_bytes()).unwrap(), body);
    }

    #[test]
    fn numbers_and_nesting_match_serde_json() {
        let body =
            br#"{"i": -3, "u": 18446744073709551615, "f": 1.5e3, "n": null, "b": [true, {}]}"#;
        assert_eq!(parse_strict(body).unwrap(), serde_json::from_slice::<Value>(body).unwrap());
    }
}
