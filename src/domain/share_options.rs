//! The owner's options for a share: title, description, tags, visibility, expiry.
//! One set of rules for create (top-level fields of the document) and PATCH.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_CHARS: usize = 40;
/// How much of the task prompt is kept beside the share for `q` searches.
pub const MAX_TASK_EXCERPT_CHARS: usize = 1000;

/// A rule broken by one field, with the JSON pointer of that field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub pointer: &'static str,
    pub message: String,
}

fn field_error(pointer: &'static str, message: impl Into<String>) -> FieldError {
    FieldError { pointer, message: message.into() }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareOptions {
    pub title: String,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub is_public: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

impl ShareOptions {
    /// Reads the options of a schema-valid session document.
    pub fn from_document(
        document: &Value,
        now: DateTime<Utc>,
        max_ttl: Duration,
    ) -> Result<Self, FieldError> {
        let text = |key: &str| document.get(key).and_then(Value::as_str);
        let task = document.pointer("/task/task").and_then(Value::as_str).unwrap_or_default();
        let title = match text("title") {
            Some(raw) => parse_title(raw)?,
            None => None,
        };
        let tags = match document.get("tags").and_then(Value::as_array) {
            Some(tags) => {
                let tags: Vec<&str> = tags.iter().filter_map(Value::as_str).collect();
                parse_tags(&tags)?
            }
            None => Vec::new(),
        };
        let expires_at = match text("expiresAt") {
            Some(raw) => Some(parse_expiry(raw, now, max_ttl)?),
            None => None,
        };
        Ok(Self {
            title: title.unwrap_or_else(|| default_title(task)),
            description: text("description").map(parse_description).transpose()?.flatten(),
            tags,
            is_public: document.get("isPublic").and_then(Value::as_bool).unwrap_or(true),
            expires_at,
        })
    }
}

/// The first non-empty line of the task prompt, trimmed and cut to length.
pub fn default_title(task: &str) -> String {
    let line = task.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("Untitled session");
    truncate_chars(line, MAX_TITLE_CHARS).to_owned()
}

pub fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// A title, trimmed; blank means "use the default".
pub fn parse_title(raw: &str) -> Result<Option<String>, FieldError> {
    let title = raw.trim();
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(field_error("/title", format!("at most {MAX_TITLE_CHARS} characters")));
    }
    if title.chars().any(char::is_control) {
        return Err(field_error("/title", "no control characters (one line)"));
    }
    Ok((!title.is_empty()).then(|| title.to_owned()))
}

/// A description, trimmed; blank means none.
pub fn parse_description(raw: &str) -> Result<Option<String>, FieldError> {
    let description = raw.trim();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(field_error(
            "/description",
            format!("at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok((!description.is_empty()).then(|| description.to_owned()))
}

/// Tags are trimmed, lower-cased and de-duplicated, so `Rust` and `rust ` are one tag.
pub fn parse_tags(raw: &[&str]) -> Result<Vec<String>, FieldError> {
    let mut tags: Vec<String> = Vec::new();
    for tag in raw {
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS {
            return Err(field_error(
                "/tags",
                format!("each tag has 1 to {MAX_TAG_CHARS} characters"),
            ));
        }
        if tag.chars().any(|c| c.is_control() || c == ',') {
            return Err(field_error("/tags", "tags may not hold commas or control characters"));
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(field_error("/tags", format!("at most {MAX_TAGS} tags")));
    }
    Ok(tags)
}

/// An RFC 3339 time in the future, at most `max_ttl` from now.
pub fn parse_expiry(
    raw: &str,
    now: DateTime<Utc>,
    max_ttl: Duration,
) -> Result<DateTime<Utc>, FieldError> {
    let at = DateTime::parse_from_rfc3339(raw)
        .map_err(|e| field_error("/expiresAt", format!("not an RFC 3339 time ({e})")))?
        .with_timezone(&Utc);
    check_expiry(at, now, max_ttl)
}

pub fn check_expiry(
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    max_ttl: Duration,
) -> Result<DateTime<Utc>, FieldError> {
    if at <= now {
        return Err(field_error("/expiresAt", "must be in the future"));
    }
    if at > now + max_ttl {
        let days = max_ttl.num_days();
        return Err(field_error(
            "/expiresAt",
            format!(
                "at most {} from now",
                if days > 0 {
                    format!("{days} days")
                } else {
                    format!("{} seconds", max_ttl.num_seconds())
                }
            ),
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn defaults_come_from_the_task() {
        let doc = json!({"task": {"task": "\n  Fix the flaky upload test  \nwith details"}});
        let options = ShareOptions::from_document(&doc, now(), Duration::days(365)).unwrap();
        assert_eq!(options.title, "Fix the flaky upload test");
        assert!(options.is_public);
        assert_eq!(options.tags, Vec::<String>::new());
        assert_eq!(options.expires_at, None);
        assert_eq!(default_title(&"é".repeat(500)).chars().count(), MAX_TITLE_CHARS);
        assert_eq!(default_title("   "), "Untitled session");
    }

    #[test]
    fn explicit_options_are_checked_and_normalised() {
        let doc = json!({"task": {"task": "t"}, "title": " Mine ", "description": "d",
            "tags": ["Rust", "rust ", "cli"], "isPublic": false, "expiresAt": "2026-11-22T12:00:00+02:00"});
        let options = ShareOptions::from_document(&doc, now(), Duration::days(365)).unwrap();
        assert_eq!(options.title, "Mine");
        assert_eq!(options.tags, ["rust", "cli"]);
        assert!(!options.is_public);
        assert_eq!(options.expires_at.unwrap().to_rfc3339(), "2026-11-22T10:00:00+00:00");
    }

    #[test]
    fn expiry_must_be_in_the_future_and_within_the_ttl() {
        let ttl = Duration::days(30);
        assert_eq!(
            parse_expiry("2026-11-20T00:00:00Z", now(), ttl).unwrap_err().pointer,
            "/expiresAt"
        );
        assert!(
            parse_expiry("2027-01-30T00:00:00Z", now(), ttl)
                .unwrap_err()
                .message
                .contains("30 days")
        );
        assert!(parse_expiry("tomorrow", now(), ttl).is_err());
        assert!(parse_expiry("2026-12-01T00:00:00Z", now(), ttl).is_ok());
    }

    #[test]
    fn tags_are_bounded() {
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(parse_tags(&many).is_err());
        assert!(parse_tags(&[""]).is_err());
        assert!(parse_tags(&[&"x".repeat(41)]).is_err());
        assert!(parse_tags(&["a,b"]).is_err());
    }
}
