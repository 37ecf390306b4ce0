//! gitleaks' rule format, read and compiled: the rules themselves are gitleaks' own
//! (`gitleaks.toml`, verbatim) and this service's few additions (`own-rules.toml`).
//!
//! What a rule means follows gitleaks' detector (v8.30): the regex finds a match; the secret
//! is its `secretGroup`, or else its first non-empty group, or else all of it; a rule with an
//! `entropy` drops secrets whose Shannon entropy is not above it; the global allowlist, then
//! the rule's, drop secrets they match (regexes against the secret, the match or the line, as
//! `regexTarget` says; stopwords within the secret). Rules and allowlist conditions about file
//! paths do not apply: a session's text has no path (see [`Rules::load`]).

use aho_corasick::{AhoCorasick, MatchKind};
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Deserialize;

/// A rule set in gitleaks' format.
#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    allowlist: Option<AllowlistConfig>,
    #[serde(default)]
    rules: Vec<RuleConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleConfig {
    id: String,
    regex: Option<String>,
    #[serde(default)]
    secret_group: usize,
    #[serde(default)]
    entropy: f64,
    #[serde(default)]
    keywords: Vec<String>,
    path: Option<String>,
    #[serde(default)]
    allowlists: Vec<AllowlistConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AllowlistConfig {
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    regex_target: Option<String>,
    #[serde(default)]
    condition: Option<String>,
}

pub struct Rule {
    pub id: String,
    pub regex: Regex,
    secret_group: usize,
    entropy: f64,
    allowlists: Vec<Allowlist>,
    /// Keywords, lower case; none: the rule runs on every text.
    pub keywords: Vec<String>,
}

/// What an allowlist's regexes are matched against.
#[derive(Clone, Copy)]
enum Target {
    Secret,
    Match,
    Line,
}

struct Allowlist {
    target: Target,
    regexes: Option<RegexSet>,
    stopwords: Option<AhoCorasick>,
    /// `condition = "AND"`: every condition given must hold, and one about paths never does.
    all: bool,
    has_paths: bool,
}

/// A candidate secret in a text: where the match and the secret are (byte ranges).
pub struct Candidate<'t> {
    pub text: &'t [u8],
    pub matched: std::ops::Range<usize>,
    pub secret: std::ops::Range<usize>,
}

impl Candidate<'_> {
    /// The line the match is on.
    fn line(&self) -> &[u8] {
        let start = memchr::memrchr(b'\n', &self.text[..self.matched.start]).map_or(0, |i| i + 1);
        let end = memchr::memchr(b'\n', &self.text[self.matched.end..])
            .map_or(self.text.len(), |i| self.matched.end + i);
        &self.text[start..end]
    }
}

/// Rules compiled, with the global allowlists.
pub struct Rules {
    pub rules: Vec<Rule>,
    global: Vec<Allowlist>,
}

/// Regexes of gitleaks' rules are Go's RE2 syntax, which `regex` reads; `\w`, `\d`, `\s` and
/// `\b` are ASCII in RE2, so Unicode is off, as it is there.
fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(&literal_braces(pattern))
        .unicode(false)
        .size_limit(64 << 20)
        .dfa_size_limit(32 << 20)
        .build()
}

/// RE2 reads a `{` that does not start a repetition (`{2}`, `{2,}`, `{2,5}`) as itself;
/// `regex` refuses it. Such braces are escaped (outside character classes, where both read
/// them as themselves).
pub fn literal_braces(pattern: &str) -> String {
    let bytes = pattern.as_bytes();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\\' => {
                let next = pattern[i + 1..].chars().next().map_or(0, char::len_utf8);
                out.push_str(&pattern[i..i + 1 + next]);
                i += 1 + next;
                continue;
            }
            b'[' if !in_class => {
                in_class = true;
                out.push('[');
                // A `]` first in a class (or after `^`) is itself.
                let mut j = i + 1;
                if bytes.get(j) == Some(&b'^') {
                    out.push('^');
                    j += 1;
                }
                if bytes.get(j) == Some(&b']') {
                    out.push(']');
                    j += 1;
                }
                i = j;
                continue;
            }
            b']' if in_class => in_class = false,
            b'{' if !in_class && !is_repetition(&pattern[i..]) => {
                out.push_str("\\{");
                i += 1;
                continue;
            }
            _ => {}
        }
        let len = pattern[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&pattern[i..i + len]);
        i += len;
    }
    out
}

/// Whether `s` starts with `{n}`, `{n,}` or `{n,m}`.
fn is_repetition(s: &str) -> bool {
    let Some(end) = s.find('}') else { return false };
    let inner = &s[1..end];
    let (low, high) = inner.split_once(',').unwrap_or((inner, "0"));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    !low.is_empty() && digits(low) && digits(high)
}

impl Rules {
    /// Reads rule sets in gitleaks' format, in order. Rules that apply only to files of a
    /// certain path (`path`) are left out: a session's text has no file path.
    pub fn load(sources: &[&str]) -> Result<Self, String> {
        let mut rules = Vec::new();
        let mut global = Vec::new();
        for source in sources {
            let config: Config = toml::from_str(source).map_err(|e| e.to_string())?;
            if let Some(allowlist) = config.allowlist {
                global.push(Allowlist::compile(allowlist)?);
            }
            for rule in config.rules {
                let (Some(regex), None) = (&rule.regex, &rule.path) else { continue };
                rules.push(Rule {
                    regex: compile(regex).map_err(|e| format!("rule {}: {e}", rule.id))?,
                    secret_group: rule.secret_group,
                    entropy: rule.entropy,
                    keywords: rule.keywords.iter().map(|k| k.to_lowercase()).collect(),
                    allowlists: rule
                        .allowlists
                        .into_iter()
                        .map(Allowlist::compile)
                        .collect::<Result<_, _>>()?,
                    id: rule.id,
                });
            }
        }
        Ok(Self { rules, global })
    }

    /// Runs rule `r` over `text`: the secrets it finds that survive its checks. `from`: no
    /// match of the rule starts before it (the text before it is still read, for `\b`).
    pub fn find(
        &self,
        r: usize,
        text: &[u8],
        from: usize,
        mut found: impl FnMut(std::ops::Range<usize>),
    ) {
        let rule = &self.rules[r];
        for m in matches_from(&rule.regex, text, from) {
            // As gitleaks: a match's leading and trailing newlines are not part of it.
            let (mut start, mut end) = (m.start(), m.end());
            while start < end && text[start] == b'\n' {
                start += 1;
            }
            while end > start && text[end - 1] == b'\n' {
                end -= 1;
            }
            let secret = rule
                .secret_in(&text[start..end])
                .map_or(start..end, |s| start + s.start..start + s.end);
            let Some(secret) = outside_escapes(text, secret) else { continue };
            let candidate = Candidate { text, matched: start..end, secret };
            if rule.entropy != 0.0 && entropy(&text[candidate.secret.clone()]) <= rule.entropy {
                continue;
            }
            let allowed = |lists: &[Allowlist]| lists.iter().any(|a| a.allows(&candidate));
            if allowed(&self.global) || allowed(&rule.allowlists) {
                continue;
            }
            found(candidate.secret);
        }
    }
}

/// The matches `regex.find_iter(text)` gives, when none of them starts before `from`.
fn matches_from<'t>(
    regex: &'t Regex,
    text: &'t [u8],
    from: usize,
) -> impl Iterator<Item = regex::bytes::Match<'t>> {
    let mut all = (from == 0).then(|| regex.find_iter(text));
    let mut at = from;
    std::iter::from_fn(move || {
        if let Some(all) = &mut all {
            return all.next();
        }
        // Only gated rules start later, and none of them matches an empty text (each needs
        // its keyword), so this is find_iter's iteration: each search from the last match's end.
        if at > text.len() {
            return None;
        }
        let m = regex.find_at(text, at)?;
        at = if m.is_empty() { m.end() + 1 } else { m.end() };
        Some(m)
    })
}

impl Rule {
    /// The secret within a match, as gitleaks picks it: the rule's secret group, or the first
    /// non-empty group. `None`: the whole match.
    fn secret_in(&self, matched: &[u8]) -> Option<std::ops::Range<usize>> {
        let groups = self.regex.captures(matched)?;
        if groups.len() < 2 {
            return None;
        }
        if self.secret_group > 0 {
            return groups.get(self.secret_group).map(|g| g.range());
        }
        groups.iter().skip(1).flatten().find(|g| !g.is_empty()).map(|g| g.range())
    }
}

impl Allowlist {
    fn compile(config: AllowlistConfig) -> Result<Self, String> {
        let regexes = (!config.regexes.is_empty())
            .then(|| {
                RegexSetBuilder::new(config.regexes.iter().map(|r| literal_braces(r)))
                    .unicode(false)
                    .size_limit(64 << 20)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .transpose()?;
        let stopwords = (!config.stopwords.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(&config.stopwords)
                    .map_err(|e| e.to_string())
            })
            .transpose()?;
        Ok(Self {
            target: match config.regex_target.as_deref() {
                Some("match") => Target::Match,
                Some("line") => Target::Line,
                _ => Target::Secret,
            },
            regexes,
            stopwords,
            all: config.condition.as_deref() == Some("AND"),
            has_paths: !config.paths.is_empty(),
        })
    }

    fn allows(&self, c: &Candidate) -> bool {
        let target = match self.target {
            Target::Secret => &c.text[c.secret.clone()],
            Target::Match => &c.text[c.matched.clone()],
            Target::Line => c.line(),
        };
        let regex = self.regexes.as_ref().map(|set| set.is_match(target));
        let stopword =
            self.stopwords.as_ref().map(|words| words.is_match(&c.text[c.secret.clone()]));
        if self.all {
            // A condition on paths cannot hold: there is no path.
            !self.has_paths
                && (regex.is_some() || stopword.is_some())
                && regex.unwrap_or(true)
                && stopword.unwrap_or(true)
        } else {
            regex.unwrap_or(false) || stopword.unwrap_or(false)
        }
    }
}

/// `secret` without a backslash it ends in or an escaped character it starts with: in JSON
/// inside a string they belong to an escape (`\"`, `\n`), and cutting one would break it.
fn outside_escapes(text: &[u8], secret: std::ops::Range<usize>) -> Option<std::ops::Range<usize>> {
    let (mut start, mut end) = (secret.start, secret.end);
    let backslashes_before =
        |at: usize| text[..at].iter().rev().take_while(|&&b| b == b'\\').count();
    if backslashes_before(start) % 2 == 1 {
        start += 1;
    }
    while end > start && text[end - 1] == b'\\' {
        end -= 1;
    }
    (end > start).then_some(start..end)
}

/// Shannon entropy in bits per character, as gitleaks computes it: over the characters,
/// divided by the length in bytes.
pub fn entropy(secret: &[u8]) -> f64 {
    if secret.is_empty() {
        return 0.0;
    }
    let mut counts = std::collections::HashMap::new();
    for c in String::from_utf8_lossy(secret).chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = secret.len() as f64;
    counts.values().map(|&k| k as f64 / n).map(|p| -p * p.log2()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_that_are_not_repetitions_read_as_themselves() {
        assert_eq!(literal_braces(r"^\$(?:\d+|{\d+})$"), r"^\$(?:\d+|\{\d+})$");
        assert_eq!(literal_braces(r"a{2}b{2,}c{2,5}[{}]\{"), r"a{2}b{2,}c{2,5}[{}]\{");
        assert_eq!(
            literal_braces(r"^\{\{[ \t]*[\w ().|]+[ \t]*}}$"),
            r"^\{\{[ \t]*[\w ().|]+[ \t]*}}$"
        );
        assert_eq!(literal_braces(r"[]{]x{,3}"), r"[]{]x\{,3}");
        assert!(compile(r"^\${(?:[A-Z_]+|[a-z_]+)}$").unwrap().is_match(b"${HOME}"));
    }

    #[test]
    fn entropy_is_gitleaks_measure() {
        assert_eq!(entropy(b""), 0.0);
        assert_eq!(entropy(b"aaaa"), 0.0);
        assert!((entropy(b"abcd") - 2.0).abs() < 1e-9);
    }
}
