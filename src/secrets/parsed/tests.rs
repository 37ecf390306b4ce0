//! The scan riding on the parse finds what the walk of `scan_document` finds, in every place
//! where the two read a document differently: escapes, images, JSON inside strings.

use proptest::{prelude::*, strategy::ValueTree};

use super::*;
use crate::json::parse_for_checks_seeing;
use crate::secrets::{NESTED_JSON, SecretScanner};

const GITHUB: &str = "ghp_Zq9xW2vL7mK4pR8tY3nB6cD1fG5hJ0sA2eQx";
const AWS: &str = "AWS_ACCESS_KEY_ID=AKIAZ7QW3ERT5YU6IOPL";

fn scanner() -> &'static SecretScanner {
    SecretScanner::embedded()
}

/// The findings of the scan riding on the parse, or `None` if the parse says it did not see
/// the strings as they are. Where there are some, the parsed document with them redacted is
/// what parsing the redacted upload gives.
fn parsed(raw: &[u8]) -> Option<Vec<Finding>> {
    let mut scan = ParsedScan::new(scanner());
    let (document, saw_all) = parse_for_checks_seeing(raw, &|value| scan.see(value)).unwrap();
    let findings = saw_all.then(|| scan.findings(raw))?;
    if !findings.is_empty() {
        let redacted = crate::secrets::redact(raw, &findings);
        let reparsed = crate::json::parse_for_checks(&redacted).unwrap();
        assert_eq!(scan.redact_parsed(document, &redacted, &findings), Some(reparsed));
    }
    Some(findings)
}

#[test]
fn finds_what_the_walk_finds_where_the_two_read_differently() {
    let spelled: String = GITHUB.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
    let far = "\\u0061".repeat(30); // 180 escaped bytes, 30 characters
    let long = "é".repeat(crate::json::CHECKED_CHARS);
    let tool = serde_json::json!({"tool": "newFileCreated", "content": format!("x\n{AWS}\n")});
    for (raw, found) in [
        (format!(r#"{{"task":{{"task":"push {GITHUB}"}}}}"#), 1),
        (format!(r#"{{"text":"line\n{AWS}\n\"q\""}}"#), 1),
        (format!(r#"{{"text":"é {spelled} ü"}}"#), 1),
        (serde_json::json!({"messages": [{"text": tool.to_string()}]}).to_string(), 1),
        (format!(r#""{AWS}""#), 1),
        (format!(r#"[1, null, true, "{AWS}", {{"a": ["{GITHUB}"]}}]"#), 2),
        // Keys are not scanned.
        (format!(r#"{{"{AWS}": 1}}"#), 0),
        // Images: items of an `images` array, and data URLs.
        (format!(r#"{{"images": ["{AWS}", "data:image/png;base64,{GITHUB}"]}}"#), 0),
        (format!(r#"{{"x": "data:image/png;base64,{GITHUB}"}}"#), 0),
        // A data URL with escapes is judged by its escaped characters; the parse scans it.
        (format!(r#"{{"x": "data:image\/png;base64,{GITHUB}"}}"#), 0),
        (format!(r#"{{"x": "data:{far};base64,{GITHUB}"}}"#), 1),
        // Not images: a key spelled with an escape, an array inside one, a string value.
        (format!(r#"{{"imag\u0065s": ["{AWS}"]}}"#), 1),
        (format!(r#"{{"images": [["{AWS}"]], "n": {{"images": "{GITHUB}"}}}}"#), 2),
        // Strings longer than the parse keeps, and one under `version`, which it keeps whole.
        (format!(r#"{{"t": "{long} {AWS} {long}", "version": "{long} {AWS} {long}"}}"#), 2),
    ] {
        let walk = scanner().scan_document(raw.as_bytes());
        assert_eq!(walk.len(), found, "{raw}");
        assert_eq!(parsed(raw.as_bytes()), Some(walk), "{raw}");
    }
}

#[test]
fn a_lone_surrogate_is_not_seen_as_it_is() {
    // The parse then reads a copy; the caller scans the upload itself.
    let raw = format!(r#"{{"a": "cut \ud83d", "b": "{AWS}"}}"#);
    assert_eq!(parsed(raw.as_bytes()), None);
}

/// Documents made of the pieces where the two readings could part: escapes, `images` keys and
/// arrays, data URLs, JSON inside strings, credentials.
fn documents() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "",
        "x ",
        "é",
        "\n",
        "\"",
        "\\",
        "/",
        "data:",
        "image/png;base64,",
        ";base64,",
        "images",
        "{\"k\":\"",
        "\"}",
        GITHUB,
        AWS,
        "token=",
        "api_key: ",
        "Zq9xW2vL7mK4pR8tY3nB6cD1",
    ]);
    let text = prop::collection::vec(piece, 0..6).prop_map(|p| p.concat());
    let key = prop::sample::select(vec!["images", "text", "a", "say", "images "]);
    let leaf = prop_oneof![
        4 => text.clone().prop_map(serde_json::Value::String),
        1 => text.clone().prop_map(|t| format!("data:image/png;base64,{t}").into()),
        1 => Just(serde_json::Value::Null),
        1 => Just(serde_json::Value::from(7)),
    ];
    let value = leaf.prop_recursive(4, 40, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
            prop::collection::vec((key.clone(), inner.clone()), 0..5).prop_map(|entries| {
                serde_json::Value::Object(
                    entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                )
            }),
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| serde_json::json!({"images": items})),
            // JSON inside a string, as a tool's message holds it.
            text.clone()
                .prop_map(|t| serde_json::json!({"tool": "x", "content": t}).to_string().into()),
        ]
    });
    // Escapes JSON allows where the serializer writes none: `\/`, and `g` as `\u0067` (no
    // `g` is outside strings: there are no `true`, `false` or exponents to hit).
    (value, any::<bool>(), any::<bool>()).prop_map(|(value, slashes, gs)| {
        let mut raw = value.to_string();
        if slashes {
            raw = raw.replace('/', "\\/");
        }
        if gs {
            raw = raw.replace('g', "\\u0067");
        }
        raw
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn the_scan_on_the_parse_finds_what_the_walk_finds(raw in documents()) {
        let walk = scanner().scan_document(raw.as_bytes());
        prop_assert_eq!(parsed(raw.as_bytes()), Some(walk), "in {}", raw);
    }
}

#[test]
fn the_documents_hold_credentials_and_hide_some_as_images() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut found, mut hidden) = (0, 0);
    for _ in 0..1000 {
        let raw = documents().new_tree(&mut runner).unwrap().current();
        let walk = scanner().scan_document(raw.as_bytes());
        found += usize::from(!walk.is_empty());
        // Credentials the walk does not report, because it took their strings for images.
        let mut all = 0;
        strings::every_string_value(raw.as_bytes(), |_, content, image| {
            if image && !scanner().scan_string(raw.as_bytes(), content, NESTED_JSON).is_empty() {
                all += 1;
            }
        });
        hidden += usize::from(all > 0);
    }
    assert!((150..=900).contains(&found), "{found} of 1,000 documents hold a credential");
    assert!(hidden >= 40, "{hidden} of 1,000 hide one in an image");
}
