//! The gates against their regexes: generated near-matches, and prose that must not open them.

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
    first_opening(id, text).is_some()
}

/// Where the first keyword whose gate of rule `id` opens ends.
fn first_opening(id: &str, text: &[u8]) -> Option<usize> {
    let (scanner, rule) = (SecretScanner::embedded(), rule_index(id));
    let opening = scanner.keywords.find_overlapping_iter(text).find(|m| {
        scanner.gates_of_keyword[m.pattern().as_usize()]
            .iter()
            .any(|&(r, gate)| r == rule && gate.opens(text, m.end()))
    });
    opening.map(|m| m.end())
}

/// The gated scan starts rule `id`'s regex `reach` bytes before the first keyword that
/// opens a gate ends: no match may start earlier.
fn no_match_starts_before_the_reach(id: &str, text: &str) -> Result<(), TestCaseError> {
    if let Some(first) = regex(id).find(text.as_bytes()) {
        let opened = first_opening(id, text.as_bytes()).unwrap_or(0);
        let from = opened.saturating_sub(SecretScanner::embedded().reach[rule_index(id)]);
        prop_assert!(
            first.start() >= from,
            "{} matches at {} before {}: {:?}",
            id,
            first.start(),
            from,
            text
        );
    }
    Ok(())
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
    // A run of the regex's lazy prefix characters, up to past the 50 it allows.
    let noise = (of("aZ09_.-", 0..70), of("ab _-.=:'\"\\\n", 0..8)).prop_map(|(a, b)| b + &a);
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
    let ending = prop::sample::select(vec!["", "`", "'", "\"", " ", ";", "\\n", "\\r", "x", "é"]);
    (noise, keyword, filler, operator, before_value, value, ending, of("ab _-.=:'\"\\\n", 0..8))
        .prop_map(|(a, k, (f1, f2), op, b, v, e, z)| format!("{a}{k}{f1}{f2}{op}{b}{v}{e}{z}"))
}

/// Texts shaped like `jwt` and `vault-service-token` matches, each run a little shorter
/// or longer than they allow, sometimes broken by a character they do not.
fn token_near_matches() -> impl Strategy<Value = (&'static str, String)> {
    let noise = || (of("ab.-_\"\\\n", 0..6), of(" .", 0..2)).prop_map(|(a, b)| a + &b);
    let run =
        |n: std::ops::Range<usize>| (of("aZ09", n), of("aZ09_-./", 0..3)).prop_map(|(a, b)| a + &b);
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
        no_match_starts_before_the_reach(rule, &text)?;
        let (gated, ungated) = both(&text);
        prop_assert_eq!(gated, ungated, "in {:?}", text);
    }

    /// Whatever the regex finds, the gate lets through.
    #[test]
    fn the_gate_is_never_stricter_than_the_regex(text in near_matches()) {
        if regex(GENERIC_API_KEY).is_match(text.as_bytes()) {
            prop_assert!(opens(GENERIC_API_KEY, text.as_bytes()), "the regex matches {:?}", text);
        }
        no_match_starts_before_the_reach(GENERIC_API_KEY, &text)?;
    }

    /// And so the gated scan finds exactly what the ungated one does.
    #[test]
    fn the_gated_scan_finds_what_the_ungated_one_does(text in near_matches()) {
        let (gated, ungated) = both(&text);
        prop_assert_eq!(gated, ungated, "in {:?}", text);
    }
}

/// Of `texts`, how many rule `id`'s regex matches and how many its gates turn away: a
/// generator is worth something only if both are many, the boundaries being where a gate goes
/// wrong.
fn both_sides(id: &str, texts: &[String]) -> (usize, usize) {
    let matching = texts.iter().filter(|t| regex(id).is_match(t.as_bytes())).count();
    let gated_out = texts.iter().filter(|t| !opens(id, t.as_bytes())).count();
    (matching, gated_out)
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
        let (matching, gated_out) = both_sides(rule, &texts);
        assert!((30..900).contains(&matching), "{rule}: {matching} of 1000 match");
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
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let texts: Vec<String> =
        (0..2_000).map(|_| near_matches().new_tree(&mut runner).unwrap().current()).collect();
    let (matching, gated_out) = both_sides(GENERIC_API_KEY, &texts);
    assert!((300..1_700).contains(&matching), "{matching} of 2000 match");
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
