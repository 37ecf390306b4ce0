//! Conditional reads: the `If-None-Match` header and the `ETag` answered.

/// The entity tags a client says it already has (`If-None-Match`).
pub struct IfNoneMatch(Vec<String>);

impl IfNoneMatch {
    pub fn parse(header: Option<&str>) -> Self {
        let tags = header.map(|h| h.split(',').map(str::trim).map(str::to_owned).collect());
        Self(tags.unwrap_or_default())
    }

    /// The one tag to hand to storage, which can then answer "not modified" without the body.
    pub fn single(&self) -> Option<&str> {
        match self.0.as_slice() {
            // Storage compares strongly; a weak tag we sent names the same stored object.
            [one] if one != "*" => Some(one.trim_start_matches("W/")),
            _ => None,
        }
    }

    /// The tag the client sent when it sent one: what a 304 that storage decided repeats (weak
    /// if the client has the gzip form, strong if the plain one).
    pub fn sent(&self) -> Option<&str> {
        match self.0.as_slice() {
            [one] if one != "*" => Some(one),
            _ => None,
        }
    }

    /// Whether the document with this `ETag` (as [`http_etag`] spells it) is one the client has.
    pub fn matches(&self, etag: &str) -> bool {
        self.0.iter().any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
    }
}

/// Stores differ in how they spell ETags (S3 quotes them, the local file system does not);
/// HTTP wants them quoted.
pub fn http_etag(stored: &str) -> String {
    if stored.starts_with('"') || stored.starts_with("W/") {
        stored.to_owned()
    } else {
        format!("\"{stored}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_tags_lists_and_stars_match() {
        let etag = http_etag("abc");
        assert_eq!(etag, "\"abc\"");
        assert!(IfNoneMatch::parse(Some("\"x\", W/\"abc\"")).matches(&etag));
        assert!(IfNoneMatch::parse(Some("*")).matches(&etag));
        assert!(!IfNoneMatch::parse(Some("\"x\"")).matches(&etag));
        assert!(!IfNoneMatch::parse(None).matches(&etag));
        assert_eq!(IfNoneMatch::parse(Some("\"x\"")).single(), Some("\"x\""));
        assert_eq!(IfNoneMatch::parse(Some("*")).single(), None);
        assert_eq!(IfNoneMatch::parse(Some("W/\"x\"")).single(), Some("\"x\""));
        assert_eq!(http_etag("\"s3\""), "\"s3\"");
    }
}
