//! A credential found, and what replaces it in the stored document.

use std::ops::Range;

/// A credential found in a document: which rule found it, at which string, and which bytes of
/// the document it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: String,
    /// JSON pointer of the string it is in.
    pub pointer: String,
    /// Its bytes in the document as uploaded (still JSON-escaped).
    pub raw: Range<usize>,
}

impl Finding {
    /// "message 3 (/messages/2/text)", "the task (/task/task)": where, for a person.
    pub fn place(&self) -> String {
        let message = self
            .pointer
            .strip_prefix("/messages/")
            .and_then(|rest| rest.split('/').next()?.parse::<usize>().ok());
        match message {
            Some(index) => format!("message {} ({})", index + 1, self.pointer),
            None => format!("{} ({})", self.pointer.trim_start_matches('/'), self.pointer),
        }
    }
}

/// What a credential is replaced by.
pub fn marker(rule: &str) -> String {
    format!("[REDACTED:{rule}]")
}

/// `raw` with each finding's bytes replaced by its marker. The markers need no escaping, and
/// findings start and end on whole characters, so JSON stays JSON.
pub fn redact(raw: &[u8], findings: &[Finding]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut kept = 0;
    for finding in findings {
        out.extend_from_slice(&raw[kept..finding.raw.start]);
        out.extend_from_slice(marker(&finding.rule).as_bytes());
        kept = finding.raw.end;
    }
    out.extend_from_slice(&raw[kept..]);
    out
}
