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
    /// At most how many bytes a match has before the keyword it uses: its regex need not
    /// run from further back than that before the first keyword whose gate opens.
    pub lead: usize,
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
        regex: r#"(?i)[\w.-]{0,50}?(?:access|auth|(?-i:[Aa]pi|API)|credential|creds|key|passw(?:or)?d|secret|token)(?:[ \t\w.-]{0,20})[\s'"]{0,3}(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)[\x60'"\s=]{0,5}([\w.=-]{10,150}|[a-z0-9][a-z0-9+/]{11,}={0,3})(?:[\x60'"\s;]|\\[nr]|$)"#,
        keywords: Keywords::All(Gate::Assignment),
        // `[\w.-]{0,50}?`, one byte each (no Unicode).
        lead: 50,
    },
    GatedRule {
        id: "jwt",
        regex: r#"\b(ey[a-zA-Z0-9]{17,}\.ey[a-zA-Z0-9\/\\_-]{17,}\.(?:[a-zA-Z0-9\/\\_-]{10,}={0,2})?)(?:[\x60'"\s;]|\\[nr]|$)"#,
        keywords: Keywords::Each(&[("ey", Gate::Followed { min: 17, class: alphanumeric })]),
        lead: 0,
    },
    GatedRule {
        id: "vault-service-token",
        regex: r#"\b((?:hvs\.[\w-]{90,120}|s\.(?i:[a-z0-9]{24})))(?:[\x60'"\s;]|\\[nr]|$)"#,
        keywords: Keywords::Each(&[
            ("hvs.", Gate::Followed { min: 90, class: word_or_dash }),
            ("s.", Gate::Followed { min: 24, class: alphanumeric }),
        ]),
        lead: 0,
    },
];

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
mod tests;
