//! The owner's options for a share: title, description, tags, visibility, expiry.
//! One set of rules for create (top-level fields of the document) and PATCH.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::{ShareRecord, Visibility};

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

/// The options a request carries: a session's top-level fields (on a create, a re-share or a
/// replace) or a PATCH body. `None`: not carried, so left as the share has it (a new share
/// has the defaults: the task prompt's first line as title, no description or tags, public,
/// no expiry). An inner `None`: carried blank or `null`, so back to the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShareOptions {
    pub title: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    /// `visibility`, or `isPublic` (`true` public, `false` private).
    pub visibility: Option<Visibility>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

impl ShareOptions {
    /// Reads the options a schema-valid session document carries.
    pub fn from_document(
        document: &Value,
        now: DateTime<Utc>,
        max_ttl: Duration,
    ) -> Result<Self, FieldError> {
        let text = |key: &str| document.get(key).and_then(Value::as_str);
        let tags = match document.get("tags").and_then(Value::as_array) {
            Some(tags) => {
                let tags: Vec<&str> = tags.iter().filter_map(Value::as_str).collect();
                Some(parse_tags(&tags)?)
            }
            None => None,
        };
        Ok(Self {
            title: text("title").map(parse_title).transpose()?,
            description: text("description").map(parse_description).transpose()?,
            tags,
            visibility: visibility(
                document.get("visibility").and_then(Value::as_str),
                document.get("isPublic").and_then(Value::as_bool),
            )?,
            expires_at: text("expiresAt")
                .map(|raw| parse_expiry(raw, now, max_ttl).map(Some))
                .transpose()?,
        })
    }

    /// Puts the options carried on `record`; what is not carried stays as it is.
    pub fn apply(&self, record: &mut ShareRecord) {
        if let Some(title) = &self.title {
            record.title = title.clone().unwrap_or_else(|| default_title(&record.task_excerpt));
        }
        if let Some(description) = &self.description {
            record.description = description.clone();
        }
        if let Some(tags) = &self.tags {
            record.tags = tags.clone();
        }
        if let Some(visibility) = self.visibility {
            record.visibility = visibility;
        }
        if let Some(expires_at) = self.expires_at {
            record.expires_at = expires_at;
        }
    }

    /// Whether applying these options would change `record`.
    pub fn changes(&self, record: &ShareRecord) -> bool {
        let mut changed = record.clone();
        self.apply(&mut changed);
        changed != *record
    }
}

/// Who may read a share, from `visibility` (`public`, `team`, `private`) or the older
/// `isPublic`; both may be sent if they agree.
pub fn visibility(
    visibility: Option<&str>,
    is_public: Option<bool>,
) -> Result<Option<Visibility>, FieldError> {
    let named = visibility
        .map(|raw| {
            Visibility::parse(raw.trim())
                .ok_or_else(|| field_error("/visibility", "one of public, team or private"))
        })
        .transpose()?;
    match (named, is_public.map(Visibility::from_is_public)) {
        (Some(v), Some(p)) if v != p => {
            Err(field_error("/isPublic", "disagrees with visibility: send one of them"))
        }
        (named, from_bool) => Ok(named.or(from_bool)),
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

    fn record() -> ShareRecord {
        ShareRecord {
            username: crate::domain::Username::parse("alice").unwrap(),
            created_at: now(),
            title: "old".into(),
            description: Some("d".into()),
            tags: vec!["t".into()],
            visibility: Visibility::Public,
            expires_at: None,
            task_excerpt: "\n  Fix the flaky upload test  \nwith details".into(),
            revision: 1,
            revised_at: now(),
            size: 1,
            message_count: 1,
            redactions: 0,
            earlier: vec![],
            link_generation: 0,
            pending_until: None,
        }
    }

    #[test]
    fn options_not_carried_stay_and_blank_ones_go_back_to_the_default() {
        let none = ShareOptions::from_document(
            &json!({"task": {"task": "t"}}),
            now(),
            Duration::days(365),
        )
        .unwrap();
        assert_eq!(none, ShareOptions::default());
        let mut kept = record();
        none.apply(&mut kept);
        assert_eq!(kept, record());
        assert!(!none.changes(&record()));
        let blank = ShareOptions::from_document(
            &json!({"title": "  ", "description": ""}),
            now(),
            Duration::days(365),
        )
        .unwrap();
        let mut reset = record();
        blank.apply(&mut reset);
        assert_eq!(reset.title, "Fix the flaky upload test");
        assert_eq!(reset.description, None);
        assert_eq!(default_title(&"é".repeat(500)).chars().count(), MAX_TITLE_CHARS);
        assert_eq!(default_title("   "), "Untitled session");
    }

    #[test]
    fn explicit_options_are_checked_normalised_and_applied() {
        let doc = json!({"task": {"task": "t"}, "title": " Mine ", "description": "d",
            "tags": ["Rust", "rust ", "cli"], "isPublic": false, "expiresAt": "2026-11-22T12:00:00+02:00"});
        let options = ShareOptions::from_document(&doc, now(), Duration::days(365)).unwrap();
        let mut shared = record();
        assert!(options.changes(&shared));
        options.apply(&mut shared);
        assert_eq!(shared.title, "Mine");
        assert_eq!(shared.tags, ["rust", "cli"]);
        assert_eq!(shared.visibility, Visibility::Private);
        assert_eq!(shared.expires_at.unwrap().to_rfc3339(), "2026-11-22T10:00:00+00:00");
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
