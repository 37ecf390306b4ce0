//! Exact preconditions for rules whose regex would otherwise run on most texts.
//!
//! A rule runs on a text that holds one of its keywords. For a few rules that is most texts
//! of a coding session, and the regex almost never matches there:
//!
//! - gitleaks' `generic-api-key` starts with a lazy `[\w.-]{0,50}?`, so no literal prefix
//!   exists for the regex engine to search for, and its keywords (`key`, `token`, `auth`…) are
//!   in most texts. What every match must contain is simple, though: one of the keywords, then
//!   within 23 bytes an assignment operator, then within 9 more bytes the start of a value of
//!   at least 10 value characters ([`Gate::Assignment`]).
//! - `jwt`'s keyword is `ey` (in "key", "they"), `vault-service-token`'s `s.` (the end of
//!   every sentence after a plural). Every match has its keyword followed at once by a run of
//!   token characters, 17 or 24 of them ([`Gate::Followed`]).
//!
//! [`Gate::opens`] checks that at each keyword the keyword search already found, reading a few
//! dozen bytes per keyword instead of running the regex over the whole text. No gate is
//! stricter than its regex (property tests say so), so the findings are exactly the same.

/// A rule that runs only where a gate of one of its keywords opens.
pub struct GatedRule {
    pub id: &'static str,
    /// The regex its gates were derived from. If the rules file changes it, the rule runs
    /// ungated and the test `each_gate_is_for_the_regex_in_the_rules` fails: derive them again.
    pub regex: &'static str,
    pub keywords: Keywords,
}

/// Which gate each keyword of a gated rule has.
pub enum Keywords {
    /// The same for all.
    All(Gate),
    /// Each keyword its own (lower case); a keyword of the rule missing here is an error.
    Each(&'static [(&'static str, Gate)]),
}

impl Keywords {
    pub fn gate(&self, keyword: &str) -> Option<Gate> {
        match self {
            Keywords::All(gate) => Some(*gate),
            Keywords::Each(each) => each.iter().find(|(k, _)| *k == keyword).map(|(_, g)| *g),
        }
    }
}

/// What must follow a keyword for a match of the rule to use it.
#[derive(Clone, Copy)]
pub enum Gate {
    /// `generic-api-key`'s: see [`may_match`].
    Assignment,
    /// At least `min` bytes that `class` accepts, at once.
    Followed { min: usize, class: fn(u8) -> bool },
}

impl Gate {
    /// Whether a match can use the keyword that ends at `keyword_end` in `text`.
    pub fn opens(self, text: &[u8], keyword_end: usize) -> bool {
        match self {
            Gate::Assignment => may_match(text, keyword_end),
            Gate::Followed { min, class } => text
                .get(keyword_end..keyword_end + min)
                .is_some_and(|run| run.iter().all(|&b| class(b))),
        }
    }
}

/// `[a-zA-Z0-9]` (the rules are compiled without Unicode: `(?i:[a-z0-9])` is this too).
fn alphanumeric(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// `[\w-]` without Unicode.
fn word_or_dash(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// The gated rules.
pub const GATED: &[GatedRule] = &[
    GatedRule {
        id: GENERIC_API_KEY,
        regex: GENERIC_API_KEY_REGEX,
        keywords: Keywords::All(Gate::Assignment),
    },
    GatedRule {
        id: "jwt",
        regex: r#"\b(ey[a-zA-Z0-9]{17,}\.ey[a-zA-Z0-9\/\\_-]{17,}\.(?:[a-zA-Z0-9\/\\_-]{10,}={0,2})?)(?:[\x60'"\s;]|\\[nr]|$)"#,
        keywords: Keywords::Each(&[("ey", Gate::Followed { min: 17, class: alphanumeric })]),
    },
    GatedRule {
        id: "vault-service-token",
        regex: r#"\b((?:hvs\.[\w-]{90,120}|s\.(?i:[a-z0-9]{24})))(?:[\x60'"\s;]|\\[nr]|$)"#,
        keywords: Keywords::Each(&[
            ("hvs.", Gate::Followed { min: 90, class: word_or_dash }),
            ("s.", Gate::Followed { min: 24, class: alphanumeric }),
        ]),
    },
];

/// The regex [`Gate::Assignment`] was derived from.
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
fn may_match(text: &[u8], keyword_end: usize) -> bool {
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
    fn each_gate_is_for_the_regex_in_the_rules() {
        let rules: toml::Value = toml::from_str(super::super::GITLEAKS).unwrap();
        for gated in GATED {
            let rule = rules["rules"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"].as_str() == Some(gated.id))
                .unwrap();
            assert_eq!(rule["regex"].as_str(), Some(gated.regex), "{}", gated.id);
            assert!(SecretScanner::embedded().gated.contains(rule_index(gated.id)), "{}", gated.id);
        }
    }

    /// Where each candidate is, and by which rule.
    type Candidates = Vec<(std::ops::Range<usize>, usize)>;

    /// What the scanner finds in `text` with the gates and without them.
    fn both(text: &str) -> (Candidates, Candidates) {
        let scanner = SecretScanner::embedded();
        (
            scanner.candidates_gated(text.as_bytes(), true),
            scanner.candidates_gated(text.as_bytes(), false),
        )
    }

    fn rule_index(id: &str) -> usize {
        let scanner = SecretScanner::embedded();
        scanner.rules.rules.iter().position(|r| r.id == id).unwrap()
    }

    /// Whether a gate of rule `id` opens anywhere in `text`, at the keywords the scanner's
    /// search finds.
    fn opens(id: &str, text: &[u8]) -> bool {
        let (scanner, rule) = (SecretScanner::embedded(), rule_index(id));
        scanner.keywords.find_overlapping_iter(text).any(|m| {
            scanner.gates_of_keyword[m.pattern().as_usize()]
                .iter()
                .any(|&(r, gate)| r == rule && gate.opens(text, m.end()))
        })
    }

    fn regex(id: &str) -> &'static regex::bytes::Regex {
        &SecretScanner::embedded().rules.rules[rule_index(id)].regex
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

    /// Texts shaped like `jwt` and `vault-service-token` matches, each run a little shorter
    /// or longer than they allow, sometimes broken by a character they do not.
    fn token_near_matches() -> impl Strategy<Value = (&'static str, String)> {
        let noise = || (of("ab.-_\"\\\n", 0..6), of(" .", 0..2)).prop_map(|(a, b)| a + &b);
        let run = |n: std::ops::Range<usize>| {
            (of("aZ09", n), of("aZ09_-./", 0..3)).prop_map(|(a, b)| a + &b)
        };
        let ending = || prop::sample::select(vec!["", "'", "\"", " ", ";", "\\n", "x", "é"]);
        let jwt = (
            noise(),
            prop::sample::select(vec!["ey", "ey", "ey", "Ey"]),
            run(13..21),
            prop::sample::select(vec![".ey", ".ey", ".ey", "-ey"]),
            (run(13..21), run(8..12), ending(), noise()),
        )
            .prop_map(|(a, ey, first, dot_ey, (second, third, end, z))| {
                ("jwt", format!("{a}{ey}{first}{dot_ey}{second}.{third}{end}{z}"))
            });
        let vault = (
            noise(),
            prop_oneof![
                (prop::sample::select(vec!["s.", "S.", "s,"]), run(21..27)),
                (prop::sample::select(vec!["hvs.", "HVS.", "hvs"]), run(87..93)),
            ],
            ending(),
            noise(),
        )
            .prop_map(|(a, (keyword, token), end, z)| {
                ("vault-service-token", format!("{a}{keyword}{token}{end}{z}"))
            });
        prop_oneof![jwt, vault]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Whatever a token rule's regex finds, its gate lets through, and the gated scan finds
        /// what the ungated one does.
        #[test]
        fn token_gates_are_never_stricter_than_their_regexes(
            (rule, text) in token_near_matches()
        ) {
            if regex(rule).is_match(text.as_bytes()) {
                prop_assert!(opens(rule, text.as_bytes()), "{} matches {:?}", rule, text);
            }
            let (gated, ungated) = both(&text);
            prop_assert_eq!(gated, ungated, "in {:?}", text);
        }

        /// Whatever the regex finds, the gate lets through.
        #[test]
        fn the_gate_is_never_stricter_than_the_regex(text in near_matches()) {
            if regex(GENERIC_API_KEY).is_match(text.as_bytes()) {
                prop_assert!(opens(GENERIC_API_KEY, text.as_bytes()), "the regex matches {:?}", text);
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
    fn token_near_matches_are_near() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        for rule in ["jwt", "vault-service-token"] {
            let texts: Vec<String> = std::iter::repeat_with(|| {
                token_near_matches().new_tree(&mut runner).unwrap().current()
            })
            .filter(|(r, _)| *r == rule)
            .take(1_000)
            .map(|(_, text)| text)
            .collect();
            let matching = texts.iter().filter(|t| regex(rule).is_match(t.as_bytes())).count();
            assert!((30..900).contains(&matching), "{rule}: {matching} of 1000 match");
            let gated_out = texts.iter().filter(|t| !opens(rule, t.as_bytes())).count();
            assert!(gated_out > 150, "{rule}: the gate turns away only {gated_out} of 1000");
        }
    }

    #[test]
    fn token_gates_turn_away_prose() {
        for (rule, text, runs) in [
            ("jwt", "they key the keys; money", false),
            ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig", true),
            ("vault-service-token", "The tests pass. Docs updated.", false),
            ("vault-service-token", "VAULT_TOKEN=s.Qm8sT3vX9aB2cD4eF6gH8iJ0", true),
        ] {
            assert_eq!(opens(rule, text.as_bytes()), runs, "{rule}: {text}");
        }
    }

    #[test]
    fn near_matches_are_near() {
        // The generator is worth something only if the regex matches many of its texts and
        // misses many: the boundaries are where a gate goes wrong.
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let texts: Vec<String> =
            (0..2_000).map(|_| near_matches().new_tree(&mut runner).unwrap().current()).collect();
        let matching =
            texts.iter().filter(|t| regex(GENERIC_API_KEY).is_match(t.as_bytes())).count();
        assert!((300..1_700).contains(&matching), "{matching} of 2000 match");
        let gated_out = texts.iter().filter(|t| !opens(GENERIC_API_KEY, t.as_bytes())).count();
        assert!(gated_out > 300, "the gate turns away only {gated_out} of 2000");
    }

    #[test]
    fn the_gate_turns_away_prose_about_keys_and_lets_assignments_through() {
        let generic = rule_index(GENERIC_API_KEY);
        let ran = |text: &str| opens(GENERIC_API_KEY, text.as_bytes());
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
