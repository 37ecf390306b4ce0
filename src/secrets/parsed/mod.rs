//! The scan riding on the parse: a create parses its upload anyway (to validate it), and the
//! parse decodes every string, so each string value is scanned as the parse hands it over
//! ([`crate::json::parse_for_checks_seeing`]) instead of in a walk and a decoding of their own.
//! A string the rules find something in is counted, and only then found in the raw bytes (by
//! its place in the order of the document's string values) to say where its credentials are,
//! and, once they are replaced, to read those strings again into the parsed document.

use std::{
    cell::{Cell, RefCell},
    ops::Range,
};

use serde_json::Value;

use super::{
    finding::{Finding, marker},
    strings,
};
use crate::json::{StringValue, set_string_for_checks};

/// What the scan on the parse needs of the scanner.
pub trait Scan {
    /// Whether the rules find anything in a string value's decoded characters.
    fn finds_in(&self, text: &[u8]) -> bool;

    /// Adds to `findings` the credentials in the string value of `raw` at `path`, its
    /// characters `raw[content]`.
    fn scan_value(
        &self,
        raw: &[u8],
        path: &[strings::Step],
        content: Range<usize>,
        findings: &mut Vec<Finding>,
    );
}

pub struct ParsedScan<'s> {
    scanner: &'s dyn Scan,
    /// String values seen so far.
    seen: Cell<usize>,
    /// Of those, the ones (by their order) the rules found something in.
    found_in: RefCell<Vec<usize>>,
    /// Those that hold credentials: their pointers, and their characters in the upload.
    holding: Vec<(String, Range<usize>)>,
}

impl<'s> ParsedScan<'s> {
    pub fn new(scanner: &'s dyn Scan) -> Self {
        Self {
            scanner,
            seen: Cell::new(0),
            found_in: RefCell::new(Vec::new()),
            holding: Vec::new(),
        }
    }

    /// The document's next string value.
    pub fn see(&self, value: StringValue) {
        let n = self.seen.get();
        self.seen.set(n + 1);
        // Images are left out as the walk of `scan_document` leaves them out. A data URL with
        // escapes is scanned: the walk judges its escaped characters, which the parse does not
        // hand over, so this scans that string if the walk might. More than it, never less.
        if value.image_item || (value.unescaped && strings::is_data_url(value.text.as_bytes())) {
            return;
        }
        if self.scanner.finds_in(value.text.as_bytes()) {
            self.found_in.borrow_mut().push(n);
        }
    }

    /// The credentials of `raw`: what [`SecretScanner::scan_document`] finds in it, provided
    /// that every string value of `raw`, as it is, was seen (the parse says whether).
    ///
    /// [`SecretScanner::scan_document`]: super::SecretScanner::scan_document
    pub fn findings(&mut self, raw: &[u8]) -> Vec<Finding> {
        let mut findings = Vec::new();
        let mut holding = Vec::new();
        self.each_found_in(raw, |path, content| {
            let before = findings.len();
            self.scanner.scan_value(raw, path, content.clone(), &mut findings);
            if let Some(first) = findings.get(before) {
                holding.push((first.pointer.clone(), content));
            }
        });
        self.holding = holding;
        findings
    }

    /// `document`, parsed from the upload, as parsing `redacted` (the upload with `findings`,
    /// from [`Self::findings`], replaced by [`redact`](super::redact)) reads it: only the
    /// strings that held credentials are read again. `None` if one of them is not in it.
    pub fn redact_parsed(
        &self,
        mut document: Value,
        redacted: &[u8],
        findings: &[Finding],
    ) -> Option<Value> {
        // Where a byte of the upload is in `redacted`: each credential before it was replaced
        // by its marker.
        let moved = |at: usize| {
            let before = findings.iter().take_while(|f| f.raw.end <= at);
            before.fold(at, |at, f| at + marker(&f.rule).len() - f.raw.len())
        };
        for (pointer, content) in &self.holding {
            let text = strings::decode(redacted.get(moved(content.start)..moved(content.end))?);
            let text = std::str::from_utf8(&text).ok()?;
            if !set_string_for_checks(&mut document, pointer, text) {
                return None;
            }
        }
        Some(document)
    }

    /// Calls `each(path, content)` for the strings of `raw` (not images) the rules found
    /// something in.
    fn each_found_in(&self, raw: &[u8], mut each: impl FnMut(&[strings::Step], Range<usize>)) {
        let found_in = self.found_in.borrow();
        if found_in.is_empty() {
            return;
        }
        let mut next = found_in.iter().copied().peekable();
        let mut n = 0;
        strings::every_string_value(raw, |path, content, image| {
            if next.next_if_eq(&n).is_some() && !image {
                each(path, content);
            }
            n += 1;
        });
    }
}

#[cfg(test)]
mod tests;
