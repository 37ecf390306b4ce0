//! Exact preconditions for rules whose regex the engine cannot skip through quickly.
//!
//! gitleaks' `generic-api-key` starts with a lazy `[\w.-]{0,50}?`, so no literal prefix
//! exists for the regex engine to search for: it runs its automaton over every byte of every
//! text that names one of the rule's keywords (`key`, `token`, `auth`…), which in a coding
//! session is most of them, and it almost never matches. What every match must contain is
//! simple, though: one of the keywords, then within 23 bytes an assignment operator, then
//! within 9 more bytes the start of a value of at least 10 value characters. [`may_match`]
//! checks that at each keyword the keyword search already found, reading a few dozen bytes
//! per keyword instead of the whole text. It is never stricter than the regex (a property
//! test says so), so the findings are exactly the same.

/// The regex this gate was derived from. If the rules file changes it, the test
/// `the_gate_is_for_the_regex_in_the_rules` fails: derive the gate again.
pub const GENERIC_API_KEY_REGEX: &str = r#"(?i)[\w.-]{0,50}?(?:access|auth|(?-i:[Aa]pi|API)|credential|creds|key|passw(?:or)?d|secret|token)(?:[ \t\w.-]{0,20})[\s'"]{0,3}(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)[\x60'"\s=]{0,5}([\w.=-]{10,150}|[a-z0-9][a-z0-9+/]{11,}={0,3})(?:[\x60'"\s;]|\\[nr]|$)"#;

/// The rule the gate is for.
pub const GENERIC_API_KEY: &str = "generic-api-key";

/// Bytes between the end of the keyword and the operator: `[ \t\w.-]{0,20}` then
/// `[\s'"]{0,3}`.
const TO_OPERATOR: usize = 20 + 3;
/// Bytes from the operator's first byte to the value's first: the longest operator (`:::=`)
/// then `[\x60'"\s=]{0,5}`.
const TO_VALUE: usize = 4 + 5;
/// The shortest value: `[\w.=-]{10,150}`, or `[a-z0-9][a-z0-9+/]{11,}` (twelve).
const MIN_VALUE: usize = 10;

/// Whether a match of `generic-api-key` can use the keyword that ends at `keyword_end` in
/// `text`. Every match uses one of the rule's keywords, so a text where this holds at none of
/// them has no match.
pub fn may_match(text: &[u8], keyword_end: usize) -> bool {
    let operators = text.get(keyword_end..).unwrap_or_default();
    let operators = &operators[..operators.len().min(TO_OPERATOR + 1)];
    operators.iter().enumerate().any(|(at, &b)| {
        matches!(b, b'=' | b'>' | b':' | b'|' | b'?' | b',') && {
            let from = keyword_end + at + 1;
            let until = (keyword_end + at + TO_VALUE).min(text.len());
            (from..=until).any(|start| value_run(text, start) >= MIN_VALUE)
        }
    })
}

/// How many value characters (either alternative's: `[\w.=+/-]`) start at `at`, up to
/// [`MIN_VALUE`].
fn value_run(text: &[u8], at: usize) -> usize {
    text.get(at..)
        .unwrap_or_default()
        .iter()
        .take(MIN_VALUE)
        .take_while(|&&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'=' | b'-' | b'+' | b'/')
        })
        .count()
}

#[cfg(test)]
mod tests {
    use proptest::{prelude::*, strategy::ValueTree};

    use super::*;
    use crate::secrets::SecretScanner;

    #[test]
    fn the_gate_is_for_the_regex_in_the_rules() {
        let rules: toml::Value = toml::from_str(super::super::GITLEAKS).unwrap();
        let rule = rules["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"].as_str() == Some(GENERIC_API_KEY))
            .unwrap();
        assert_eq!(rule["regex"].as_str(), Some(GENERIC_API_KEY_REGEX));
        assert!(SecretScanner::embedded().generic.is_some(), "the scanner uses the gate");
    }

    /// Where each candidate is, and by which rule.
    type Candidates = Vec<(std::ops::Range<usize>, usize)>;

    /// What the scanner finds in `text` with the gate and without it.
    fn both(text: &str) -> (Candidates, Candidates) {
        let scanner = SecretScanner::embedded();
        (
            scanner.candidates_gated(text.as_bytes(), true),
            scanner.candidates_gated(text.as_bytes(), false),
        )
    }

    /// Whether the gate opens anywhere in `text`, at the keywords the scanner's search finds.
    fn opens(text: &[u8]) -> bool {
        let scanner = SecretScanner::embedded();
        scanner.keywords.find_overlapping_iter(text).any(|m| {
            scanner.generic_keywords.contains(m.pattern().as_usize()) && may_match(text, m.end())
        })
    }

    fn regex() -> &'static regex::bytes::Regex {
        let scanner = SecretScanner::embedded();
        &scanner.rules.rules[scanner.generic.unwrap()].regex
    }

    /// `n` characters of `class` at random.
    fn of(class: &'static str, n: std::ops::Range<usize>) -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(class.chars().collect::<Vec<_>>()), n)
            .prop_map(|chars| chars.into_iter().collect())
    }

    /// Texts shaped like the regex, each part a little shorter or longer than it allows:
    /// noise, a keyword in any case, filler, an operator, more filler, a value, an ending,
    /// noise. About a third of them match.
    fn near_matches() -> impl Strategy<Value = String> {
        let noise = of("ab _-.=:'\"\\\n", 0..8);
        let keyword = prop::sample::select(vec![
            "key",
            "KEY",
            "Key",
            "api",
            "Api",
            "aPi",
            "API",
            "token",
            "Secret",
            "passwd",
            "PASSWORD",
            "auth",
            "access",
            "creds",
            "credential",
        ]);
        let filler = (of("ab_ .-\t9", 0..23), of(" \t\n'\"", 0..5));
        let operator = prop::sample::select(vec![
            "=", ">", ":", ":=", "::=", ":::=", "||", "=>", "?=", ",", "|", "?", ";",
        ]);
        let before_value = of("`'\" \t\n=", 0..7);
        let value = prop_oneof![of("aZ09_.=-", 8..14), of("az09+/", 10..15)];
        let ending =
            prop::sample::select(vec!["", "`", "'", "\"", " ", ";", "\\n", "\\r", "x", "é"]);
        (noise, keyword, filler, operator, before_value, value, ending, of("ab _-.=:'\"\\\n", 0..8))
            .prop_map(|(a, k, (f1, f2), op, b, v, e, z)| format!("{a}{k}{f1}{f2}{op}{b}{v}{e}{z}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Whatever the regex finds, the gate lets through.
        #[test]
        fn the_gate_is_never_stricter_than_the_regex(text in near_matches()) {
            if regex().is_match(text.as_bytes()) {
                prop_assert!(opens(text.as_bytes()), "the regex matches {:?}", text);
            }
        }

        /// And so the gated scan finds exactly what the ungated one does.
        #[test]
        fn the_gated_scan_finds_what_the_ungated_one_does(text in near_matches()) {
            let (gated, ungated) = both(&text);
            prop_assert_eq!(gated, ungated, "in {:?}", text);
        }
    }

    #[test]
    fn near_matches_are_near() {
        // The generator is worth something only if the regex matches many of its texts and
        // misses many: the boundaries are where a gate goes wrong.
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let texts: Vec<String> =
            (0..2_000).map(|_| near_matches().new_tree(&mut runner).unwrap().current()).collect();
        let matching = texts.iter().filter(|t| regex().is_match(t.as_bytes())).count();
        assert!((300..1_700).contains(&matching), "{matching} of 2000 match");
        let gated_out = texts.iter().filter(|t| !opens(t.as_bytes())).count();
        assert!(gated_out > 300, "the gate turns away only {gated_out} of 2000");
    }

    #[test]
    fn the_gate_turns_away_prose_about_keys_and_lets_assignments_through() {
        let generic = SecretScanner::embedded().generic.unwrap();
        let ran = |text: &str| opens(text.as_bytes());
        for (text, runs) in [
            ("the api key is read from the environment", false),
            ("token refresh happens every hour, see auth.rs", false),
            ("const apiKey = process.env.API_KEY;", true),
            ("API_KEY=sk8f9a0b1c2d3e4f5a6b", true),
            ("\"apiKey\": \"0123456789abcdef\"", true),
        ] {
            assert_eq!(ran(text), runs, "{text}");
        }
        let (found, _) = both("API_KEY=Zk8f9a0b1c2d3e4f5a6bQ");
        assert_eq!(found.iter().map(|(_, r)| *r).collect::<Vec<_>>(), [generic]);
    }
}
