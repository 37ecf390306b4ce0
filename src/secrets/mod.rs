//! Credentials in a session, found before it is stored.
//!
//! The rules are gitleaks' (`gitleaks.toml`, v8.30.1, MIT, copied verbatim; see
//! `LICENSE-gitleaks`) plus `own-rules.toml`. No crate that ships them builds with this
//! toolchain without hundreds of dependencies, so the rules are read here and run with
//! `regex`: a keyword prefilter (Aho-Corasick, as gitleaks does) picks the few rules worth
//! running on each text, and most texts run none.
//!
//! A session is scanned string by string (see [`strings`]): the task, every message's text,
//! tool inputs and outputs (JSON inside JSON strings is scanned as the text it is), never
//! images. A create scans each string as its parse decodes it ([`ParsedScan`]). A secret found is replaced in the upload's own bytes by `[REDACTED:<rule>]`; the
//! rest of the upload is untouched, byte for byte.

mod finding;
mod gate;
mod parsed;
mod rules;
mod strings;

use std::{ops::Range, sync::LazyLock};

use aho_corasick::{AhoCorasick, MatchKind};

pub use finding::{Finding, marker, redact};
pub use parsed::ParsedScan;
use parsed::Scan;
use rules::Rules;

static GITLEAKS: &str = include_str!("gitleaks.toml");
static OWN_RULES: &str = include_str!("own-rules.toml");

/// What a create does with credentials it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SecretPolicy {
    /// Store the session with each credential replaced by `[REDACTED:<rule>]`.
    Redact,
    /// Refuse the session (422 `SECRETS_FOUND`), saying where each credential is.
    Reject,
    /// Do not look.
    Off,
}

pub struct SecretScanner {
    rules: Rules,
    /// Every rule's keywords; each keyword leads to the rules that have it.
    keywords: AhoCorasick,
    rules_of_keyword: Vec<Vec<usize>>,
    /// Rules that run only where a gate of theirs opens ([`gate`]), and each keyword's gates.
    gated: RuleSet,
    gates_of_keyword: Vec<Vec<(usize, gate::Gate)>>,
    /// Of each gated rule, at most how many bytes a match has before the end of the keyword
    /// it uses (its lead and its longest keyword): from the first keyword whose gate opens,
    /// this far back is where its regex need start.
    reach: Vec<usize>,
    /// Rules without keywords: run on every text.
    always: RuleSet,
}

static SCANNER: LazyLock<SecretScanner> = LazyLock::new(|| {
    SecretScanner::new(&[GITLEAKS, OWN_RULES]).expect("the embedded rules compile")
});

impl SecretScanner {
    /// The embedded rules, compiled once per process (about 50 ms).
    pub fn embedded() -> &'static SecretScanner {
        &SCANNER
    }

    fn new(sources: &[&str]) -> Result<Self, String> {
        let rules = Rules::load(sources)?;
        let mut words: Vec<String> = Vec::new();
        let mut rules_of_keyword: Vec<Vec<usize>> = Vec::new();
        let mut gates_of_keyword: Vec<Vec<(usize, gate::Gate)>> = Vec::new();
        let (mut gated, mut always) = (RuleSet::default(), RuleSet::default());
        let mut reach = vec![0; rules.rules.len()];
        for (r, rule) in rules.rules.iter().enumerate() {
            if rule.keywords.is_empty() {
                always.insert(r);
            }
            // Gated only with the regex its gates were derived from: another one runs ungated.
            let gates = gate::GATED
                .iter()
                .find(|g| g.id == rule.id && rule.regex.as_str() == rules::literal_braces(g.regex));
            if let Some(gates) = gates {
                gated.insert(r);
                reach[r] = gates.lead + rule.keywords.iter().map(String::len).max().unwrap_or(0);
            }
            for word in &rule.keywords {
                let k = words.iter().position(|w| w == word).unwrap_or_else(|| {
                    words.push(word.clone());
                    rules_of_keyword.push(Vec::new());
                    gates_of_keyword.push(Vec::new());
                    words.len() - 1
                });
                rules_of_keyword[k].push(r);
                if let Some(gates) = gates {
                    let gate = gates
                        .keywords
                        .gate(word)
                        .ok_or_else(|| format!("rule {}: keyword {word} has no gate", rule.id))?;
                    gates_of_keyword[k].push((r, gate));
                }
            }
        }
        if rules.rules.len() > 512 || words.len() > 512 {
            return Err("more than 512 rules or keywords: make RuleSet larger".into());
        }
        let keywords = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(&words)
            .map_err(|e| e.to_string())?;
        Ok(Self { rules, keywords, rules_of_keyword, gated, gates_of_keyword, reach, always })
    }

    /// How many rules there are.
    pub fn rule_count(&self) -> usize {
        self.rules.rules.len()
    }

    /// The credentials in a JSON document's strings, in document order, none overlapping.
    pub fn scan_document(&self, raw: &[u8]) -> Vec<Finding> {
        let mut findings = Vec::new();
        strings::string_values(raw, |path, content| {
            self.scan_value(raw, path, content, &mut findings)
        });
        findings
    }

    /// The secrets in the JSON string whose escaped characters are `json[content]`, as
    /// ranges of `json`. A string that is JSON itself (a tool's input, a file it read, in
    /// Roo's messages) is also read as such, `depth` levels down: its own strings are escaped
    /// once more, and a secret in them is followed by `\"` where a rule expects `"`.
    fn scan_string(
        &self,
        json: &[u8],
        content: Range<usize>,
        depth: u32,
    ) -> Vec<(Range<usize>, usize)> {
        let escaped = &json[content.clone()];
        let text = strings::decode(escaped);
        let found = self.scan_decoded(&text, depth);
        merge(found, |r| self.rules.rules[r].id.contains("generic"))
            .into_iter()
            .map(|(secret, rule)| {
                let secret = char_bounds(&text, secret);
                let at = |i: usize| match text {
                    std::borrow::Cow::Borrowed(_) => content.start + i,
                    std::borrow::Cow::Owned(_) => {
                        content.start + strings::escaped_offset(escaped, i)
                    }
                };
                (at(secret.start)..at(secret.end), rule)
            })
            .collect()
    }

    /// What the rules find in a JSON string's decoded characters, overlaps and all, as ranges
    /// of `text` (see [`Self::scan_string`]). Empty exactly when the string has no credential.
    fn scan_decoded(&self, text: &[u8], depth: u32) -> Vec<(Range<usize>, usize)> {
        let mut found = Vec::new();
        if depth > 0 && looks_like_json(text) {
            // Its strings with escapes (a file a tool read) are scanned decoded, once; the
            // rest of it (keys, plain values, structure) as it stands, between them.
            let mut from = 0;
            let between = |found: &mut Vec<_>, part: Range<usize>| {
                let at = part.start;
                found.extend(
                    self.candidates(&text[part])
                        .into_iter()
                        .map(|(s, r): (Range<usize>, usize)| (s.start + at..s.end + at, r)),
                );
            };
            strings::string_values(text, |_, inner| {
                if memchr::memchr(b'\\', &text[inner.clone()]).is_some() {
                    between(&mut found, from..inner.start);
                    found.extend(self.scan_string(text, inner.clone(), depth - 1));
                    from = inner.end;
                }
            });
            between(&mut found, from..text.len());
        } else {
            found = self.candidates(text);
        }
        found
    }

    /// A text with its credentials replaced, and the rules that found them; `None`: none.
    pub fn redact_text(&self, text: &str) -> Option<(String, Vec<String>)> {
        let found = self.scan_text(text.as_bytes());
        if found.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut kept = 0;
        let mut rules = Vec::new();
        for (secret, rule) in found {
            let secret = char_bounds(text.as_bytes(), secret);
            out.push_str(&text[kept..secret.start]);
            out.push_str(&marker(self.rule_id(rule)));
            kept = secret.end;
            rules.push(self.rule_id(rule).to_owned());
        }
        out.push_str(&text[kept..]);
        Some((out, rules))
    }

    fn rule_id(&self, rule: usize) -> &str {
        &self.rules.rules[rule].id
    }

    /// Secrets in one decoded text: (where, which rule), in order, merged where they overlap.
    fn scan_text(&self, text: &[u8]) -> Vec<(Range<usize>, usize)> {
        merge(self.candidates(text), |r| self.rules.rules[r].id.contains("generic"))
    }

    /// What the rules whose keywords `text` has find in it, overlaps and all.
    fn candidates(&self, text: &[u8]) -> Vec<(Range<usize>, usize)> {
        self.candidates_gated(text, true)
    }

    /// [`Self::candidates`]; `gated: false` runs every rule a keyword names, gate or not (what
    /// the gate is tested against).
    fn candidates_gated(&self, text: &[u8], gated: bool) -> Vec<(Range<usize>, usize)> {
        // No rule finds anything this short (the shortest, a URL with a password, is longer).
        if text.len() < MIN_TEXT {
            return Vec::new();
        }
        // Which rules to run: most texts name few keywords, each many times ("key", "s.").
        let mut run = self.always.clone();
        let mut keyword_seen = RuleSet::default();
        // Gated rules that run, and where their regex starts. Keywords are found in the order
        // they end, so a match's keyword ends no earlier than the first that opened a gate.
        let mut starts: Vec<(usize, usize)> = Vec::new();
        for m in self.keywords.find_overlapping_iter(text) {
            let k = m.pattern().as_usize();
            if keyword_seen.insert(k) {
                for &r in &self.rules_of_keyword[k] {
                    if !gated || !self.gated.contains(r) {
                        run.insert(r);
                    }
                }
            }
            for &(r, gate) in &self.gates_of_keyword[k] {
                if gated && !run.contains(r) && gate.opens(text, m.end()) {
                    run.insert(r);
                    starts.push((r, m.end().saturating_sub(self.reach[r])));
                }
            }
        }
        let mut found = Vec::new();
        for r in run.iter() {
            let from = starts.iter().find(|(g, _)| *g == r).map_or(0, |&(_, from)| from);
            self.rules.find(r, text, from, |secret| {
                if !secret.is_empty() {
                    found.push((secret, r))
                }
            });
        }
        found
    }
}

impl Scan for SecretScanner {
    fn finds_in(&self, text: &[u8]) -> bool {
        !self.scan_decoded(text, NESTED_JSON).is_empty()
    }

    /// The credentials in the string value of `raw` at `path`, its characters `raw[content]`.
    fn scan_value(
        &self,
        raw: &[u8],
        path: &[strings::Step],
        content: Range<usize>,
        findings: &mut Vec<Finding>,
    ) {
        let found = self.scan_string(raw, content, NESTED_JSON);
        if found.is_empty() {
            return;
        }
        let pointer = strings::pointer(raw, path);
        for (secret, rule) in found {
            findings.push(Finding {
                rule: self.rule_id(rule).to_owned(),
                pointer: pointer.clone(),
                raw: secret,
            });
        }
    }
}

/// A set of small numbers (rules, keywords): a bit each.
#[derive(Default, Clone)]
struct RuleSet([u64; 8]);

impl RuleSet {
    /// Adds `n`; whether it was new.
    fn insert(&mut self, n: usize) -> bool {
        let (word, bit) = (n / 64, 1u64 << (n % 64));
        let new = self.0[word] & bit == 0;
        self.0[word] |= bit;
        new
    }

    fn contains(&self, n: usize) -> bool {
        self.0[n / 64] & (1u64 << (n % 64)) != 0
    }

    /// In increasing order.
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    w * 64 + bit
                })
            })
        })
    }
}

/// Texts shorter than this are not scanned.
const MIN_TEXT: usize = 8;

/// How many levels of JSON inside JSON strings are read (see `scan_string`).
const NESTED_JSON: u32 = 2;

fn looks_like_json(text: &[u8]) -> bool {
    matches!(text.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'['))
}

/// Findings in order, overlapping ones made one; a specific rule names it over a generic one
/// (as gitleaks' report prefers), else the first.
fn merge(
    mut found: Vec<(Range<usize>, usize)>,
    generic: impl Fn(usize) -> bool,
) -> Vec<(Range<usize>, usize)> {
    found.sort_by_key(|(s, r)| (s.start, std::cmp::Reverse(s.end), *r));
    let mut merged: Vec<(Range<usize>, usize)> = Vec::new();
    for (secret, r) in found {
        match merged.last_mut() {
            Some((last, rule)) if secret.start < last.end => {
                last.end = last.end.max(secret.end);
                if generic(*rule) && !generic(r) {
                    *rule = r;
                }
            }
            _ => merged.push((secret, r)),
        }
    }
    merged
}

/// `range` widened to whole UTF-8 characters of `text` (a byte regex may cut one).
fn char_bounds(text: &[u8], range: Range<usize>) -> Range<usize> {
    let continuation = |i: usize| i < text.len() && text[i] & 0xC0 == 0x80;
    let (mut start, mut end) = (range.start, range.end);
    while start > 0 && continuation(start) {
        start -= 1;
    }
    while continuation(end) {
        end += 1;
    }
    start..end
}

#[cfg(test)]
mod tests;
