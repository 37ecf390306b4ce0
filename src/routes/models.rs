//! The documents as the OpenAPI document shows them.
//!
//! Validation uses `openapi/session.schema.json`, not these types; a unit test keeps the two in
//! agreement on field names and required fields.

use chrono::{DateTime, Utc};
use poem_openapi::{
    Enum, Object, Union,
    types::{Example, MaybeUndefined},
};
use serde_json::Value;

/// A shared task: its metadata and its whole chat, as the extension serializes it.
/// Unknown extra fields are accepted and kept.
#[derive(Object, Debug, Clone)]
#[oai(example, skip_serializing_if_is_none)]
pub struct SerializedSession {
    /// Serialization format version; this service accepts `1.x.y` (today `1.0.0`).
    #[oai(validator(pattern = r"^1\.[0-9]+\.[0-9]+$"))]
    pub version: String,
    pub task: HistoryItem,
    pub messages: Vec<ClineMessage>,
    /// Share title (at most 200 characters); default: the first line of `task.task`.
    #[oai(validator(max_length = 200))]
    pub title: Option<String>,
    /// Share description (at most 2000 characters).
    #[oai(validator(max_length = 2000))]
    pub description: Option<String>,
    /// Up to 20 tags of 1 to 40 characters; trimmed and lower-cased.
    #[oai(validator(max_items = 20, min_length = 1, max_length = 40))]
    pub tags: Option<Vec<String>>,
    /// `false`: only the owner's key can read the share. Default `true`.
    #[oai(rename = "isPublic")]
    pub is_public: Option<bool>,
    /// Who may read the share: `public` (default), `team` (anyone in the owner's team, with
    /// their key) or `private` (the owner). Says more than `isPublic`; send one of them.
    pub visibility: Option<ShareVisibility>,
    /// When the share expires (RFC 3339, in the future, at most `--max-ttl` away); it then
    /// answers 410 `SESSION_EXPIRED` and `session-share gc` deletes it.
    #[oai(rename = "expiresAt")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// The task's metadata (`HistoryItem` in `@roo-code/types`).
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct HistoryItem {
    /// The task's id in the author's editor; import writes the messages under it.
    pub id: String,
    pub number: f64,
    /// Unix time in milliseconds.
    pub ts: f64,
    /// The task prompt.
    pub task: String,
    pub tokens_in: f64,
    pub tokens_out: f64,
    pub total_cost: f64,
    pub cache_writes: Option<f64>,
    pub cache_reads: Option<f64>,
    pub size: Option<f64>,
    pub workspace: Option<String>,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum MessageType {
    Ask,
    Say,
}

/// One chat message (`ClineMessage`). `ask` and `say` are open sets: every extension release
/// adds kinds, and unknown ones are accepted.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct ClineMessage {
    /// Unix time in milliseconds.
    pub ts: f64,
    #[oai(rename = "type")]
    pub kind: MessageType,
    /// e.g. `followup`, `command`, `tool`, `completion_result`.
    pub ask: Option<String>,
    /// e.g. `text`, `reasoning`, `api_req_started`, `command_output`, `user_feedback`.
    pub say: Option<String>,
    /// Often a JSON string of its own (`api_req_started`, tool asks, follow-up questions).
    pub text: Option<String>,
    /// Data URLs, often large base64 PNGs.
    pub images: Option<Vec<String>>,
    pub partial: Option<bool>,
    pub reasoning: Option<String>,
    pub conversation_history_index: Option<f64>,
    pub checkpoint: Option<Value>,
    pub progress_status: Option<ProgressStatus>,
    pub context_condense: Option<ContextCondense>,
    pub is_protected: Option<bool>,
    /// `openai` or `anthropic` today; any string is accepted.
    pub api_protocol: Option<String>,
}

#[derive(Object, Debug, Clone)]
#[oai(skip_serializing_if_is_none)]
pub struct ProgressStatus {
    pub icon: Option<String>,
    pub text: Option<String>,
}

#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct ContextCondense {
    pub cost: f64,
    pub prev_context_tokens: f64,
    pub new_context_tokens: f64,
    pub summary: String,
}

impl Example for SerializedSession {
    fn example() -> Self {
        let say = |ts: f64, say: &str, text: &str| ClineMessage {
            ts,
            kind: MessageType::Say,
            ask: None,
            say: Some(say.into()),
            text: Some(text.into()),
            images: None,
            partial: Some(false),
            reasoning: None,
            conversation_history_index: None,
            checkpoint: None,
            progress_status: None,
            context_condense: None,
            is_protected: None,
            api_protocol: None,
        };
        Self {
            version: "1.0.0".into(),
            task: HistoryItem {
                id: "1f49865b-7269-4439-a235-c4b3561b80d8".into(),
                number: 3.0,
                ts: 1760537579471.0,
                task: "Add retries to the upload client".into(),
                tokens_in: 62256.0,
                tokens_out: 1510.0,
                total_cost: 0.1867,
                cache_writes: Some(3759.0),
                cache_reads: Some(73583.0),
                size: Some(3379.0),
                workspace: Some("/home/dev/projects/uploader".into()),
            },
            messages: vec![
                say(1760537579471.0, "text", "Add retries to the upload client"),
                say(
                    1760537595723.0,
                    "api_req_started",
                    r#"{"tokensIn":5551,"tokensOut":218,"cost":0.0114}"#,
                ),
                say(1760537604537.0, "completion_result", "Retries added with backoff."),
            ],
            title: None,
            description: None,
            tags: Some(vec!["rust".into(), "networking".into()]),
            is_public: None,
            visibility: None,
            expires_at: None,
        }
    }
}

/// A signed link to make.
#[derive(Object, serde::Deserialize, Debug, Clone)]
#[oai(rename_all = "camelCase", example)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkRequest {
    /// When the link stops opening the share (RFC 3339, in the future, at most `--max-ttl`
    /// away); default 7 days from now.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl Example for LinkRequest {
    fn example() -> Self {
        let at = DateTime::parse_from_rfc3339("2026-12-24T18:00:00Z").expect("a valid date");
        Self { expires_at: Some(at.with_timezone(&Utc)) }
    }
}

/// A signed link made.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct LinkCreated {
    /// `<public URL>/session/<id>?link=<token>`: opens the share, with no key, until it expires.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// Who may read a share.
#[derive(Enum, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ShareVisibility {
    /// Anyone with the link or id.
    Public,
    /// Anyone in the owner's team, with their key.
    Team,
    /// The owner (and whoever holds a signed link).
    Private,
}

impl From<crate::domain::Visibility> for ShareVisibility {
    fn from(v: crate::domain::Visibility) -> Self {
        use crate::domain::Visibility;
        match v {
            Visibility::Public => Self::Public,
            Visibility::Team => Self::Team,
            Visibility::Private => Self::Private,
        }
    }
}

impl ShareVisibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Team => "team",
            Self::Private => "private",
        }
    }
}

/// Import: which share to fetch. `username` is left out when the user pasted a bare id or a URL.
#[derive(Object, Debug, Clone)]
#[oai(example, skip_serializing_if_is_none)]
pub struct ImportRequest {
    /// The share id.
    pub id: String,
    /// The share's author, from a `username/id` share code. When given, only that user's
    /// share answers.
    pub username: Option<String>,
}

impl Example for ImportRequest {
    fn example() -> Self {
        Self { id: "az9MVr61PxEOK-sdvM2U5".into(), username: Some("viragtiwari".into()) }
    }
}

/// `POST /api/sessions` body: a session to share (older extensions) or a share to import
/// (newer extensions), told apart by shape.
// Only documents the body (never built), so the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Union, Debug, Clone)]
pub enum CreateOrImport {
    Create(SerializedSession),
    Import(ImportRequest),
}

/// A share made, or given a new revision (`updated`).
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase", example, skip_serializing_if_is_none)]
pub struct ShareCreated {
    /// The share id (21 URL-safe characters). Sharing the same task again answers the same id.
    pub id: String,
    /// The share URL: `<public base URL>/session/<id>`.
    pub url: String,
    /// The author: the owner of the API key used.
    pub username: String,
    /// `username/id`: paste it into "import task".
    pub share_code: String,
    pub created_at: DateTime<Utc>,
    pub title: String,
    pub tags: Vec<String>,
    /// `true` for a public share (`visibility: public`).
    pub is_public: bool,
    pub visibility: ShareVisibility,
    pub expires_at: Option<DateTime<Utc>>,
    /// The revision this session is: 1 for a new share, more when the task was shared before.
    pub revision: u32,
    /// `true` when an existing share of the same task got this session (same link) rather
    /// than a new share being made. A session identical to the latest revision adds none.
    pub updated: bool,
    /// Credentials replaced by `[REDACTED:<rule>]` before the session was stored (never the
    /// credentials themselves); empty when there were none.
    pub redactions: Vec<Redaction>,
}

/// A credential the server removed from a session before storing it.
#[derive(Object, Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// JSON pointer of the string it was in (`/messages/12/text`).
    pub pointer: String,
    /// The rule that found it (gitleaks' rule ids, such as `aws-access-token`); the string now
    /// reads `[REDACTED:<rule>]` where the credential was.
    pub rule: String,
}

impl Example for ShareCreated {
    fn example() -> Self {
        Self {
            id: "az9MVr61PxEOK-sdvM2U5".into(),
            url: "https://sessions.syntx.dev/session/az9MVr61PxEOK-sdvM2U5".into(),
            username: "viragtiwari".into(),
            share_code: "viragtiwari/az9MVr61PxEOK-sdvM2U5".into(),
            created_at: DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
                .expect("valid example date")
                .with_timezone(&Utc),
            title: "Add retries to the upload client".into(),
            tags: vec!["rust".into(), "networking".into()],
            is_public: true,
            visibility: ShareVisibility::Public,
            expires_at: None,
            revision: 1,
            updated: false,
            redactions: vec![Redaction {
                pointer: "/messages/14/text".into(),
                rule: "github-pat".into(),
            }],
        }
    }
}

/// One of the caller's shares, as listed and as answered by PATCH.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct ShareSummary {
    pub id: String,
    /// The share URL: `<public base URL>/session/<id>`.
    pub url: String,
    /// In listings, for a share that is not public: a signed link that opens it in a browser
    /// (no key needed) for 10 minutes.
    pub link_url: Option<String>,
    pub share_code: String,
    pub title: String,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// `true` for a public share (`visibility: public`).
    pub is_public: bool,
    pub visibility: ShareVisibility,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The latest revision's size in bytes, as uploaded.
    pub size: u64,
    pub message_count: u64,
    /// The latest revision's number.
    pub revision: u32,
    /// Revisions kept (at most `--max-revisions`).
    pub revision_count: u32,
    /// When the latest revision was shared.
    pub updated_at: DateTime<Utc>,
    /// Credentials replaced in the latest revision before it was stored.
    pub redactions: u32,
}

/// One revision of a share.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct RevisionSummary {
    pub revision: u32,
    /// When this revision was shared.
    pub created_at: DateTime<Utc>,
    /// Its size in bytes, as uploaded.
    pub size: u64,
    pub message_count: u64,
    /// Credentials replaced in it before it was stored.
    pub redactions: u32,
    /// Where it reads: `GET /api/sessions/{id}?revision=N`.
    pub url: String,
}

/// A share's revisions, oldest first; the last is the latest.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct RevisionList {
    pub id: String,
    pub items: Vec<RevisionSummary>,
}

/// A page of the caller's shares, newest first.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct ShareList {
    pub items: Vec<ShareSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// PATCH body: the fields to change. A field left out stays as it is; `description` and
/// `expiresAt` can be set to `null` to remove them, `title` to `null` to restore the default.
// The one definition of the body: documented through `Object`, read through serde (see
// `owner::Change::parse`), so the rules checked are the domain's (`share_options`).
#[derive(Object, serde::Deserialize, Debug, Clone)]
#[oai(rename_all = "camelCase", example)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShareUpdate {
    /// At most 200 characters; `null` restores the default (the task prompt's first line).
    #[oai(validator(max_length = 200))]
    #[serde(default)]
    pub title: MaybeUndefined<String>,
    /// At most 2000 characters; `null` removes it.
    #[oai(validator(max_length = 2000))]
    #[serde(default)]
    pub description: MaybeUndefined<String>,
    /// Replaces the tags: up to 20 of 1 to 40 characters; trimmed and lower-cased.
    #[oai(validator(max_items = 20, min_length = 1, max_length = 40))]
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// `true`: public, `false`: private (or send `visibility`).
    #[serde(default)]
    pub is_public: Option<bool>,
    /// `public`, `team` (anyone in your team, with their key) or `private`.
    #[serde(default)]
    pub visibility: Option<ShareVisibility>,
    /// RFC 3339, in the future, at most `--max-ttl` away; `null` removes the expiry.
    #[serde(default)]
    pub expires_at: MaybeUndefined<DateTime<Utc>>,
}

impl Example for ShareUpdate {
    fn example() -> Self {
        Self {
            title: MaybeUndefined::Value("Retries for the upload client".into()),
            description: MaybeUndefined::Undefined,
            tags: Some(vec!["rust".into()]),
            is_public: None,
            visibility: Some(ShareVisibility::Team),
            expires_at: MaybeUndefined::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use poem_openapi::{registry::Registry, types::Type};
    use serde_json::Value;

    use super::*;

    /// Property names and required lists of one schema, as sorted sets.
    fn shape(schema: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
        let props = schema["properties"].as_object().unwrap().keys().cloned().collect();
        let required = schema["required"]
            .as_array()
            .map(|r| r.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        (props, required)
    }

    #[test]
    fn documented_types_agree_with_the_validation_schema() {
        let schema: Value = serde_json::from_str(crate::validation::SESSION_SCHEMA).unwrap();
        let mut registry = Registry::new();
        SerializedSession::register(&mut registry);
        let documented = serde_json::to_value(&registry.schemas).unwrap();
        for (doc_name, schema_pointer) in [
            ("SerializedSession", ""),
            ("HistoryItem", "/$defs/HistoryItem"),
            ("ClineMessage", "/$defs/ClineMessage"),
            ("ContextCondense", "/$defs/ClineMessage/properties/contextCondense"),
            ("ProgressStatus", "/$defs/ClineMessage/properties/progressStatus"),
        ] {
            let validated = schema.pointer(schema_pointer).unwrap();
            assert_eq!(shape(&documented[doc_name]), shape(validated), "{doc_name}");
        }
    }
}
