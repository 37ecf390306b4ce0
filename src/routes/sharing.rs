//! Storing an upload, for every route that shares a session: the credential scan, validation
//! and compression, then storage, then the answer the extension reads (`id`, `url`).

use bytes::Bytes;
use chrono::Utc;
use poem_openapi::{ApiResponse, payload::Json};
use serde_json::Value;

use super::{
    models::{Redaction, ShareCreated, ShareSummary},
    upload::cpu,
};
use crate::{
    domain::{
        Link, LinkKey, ShareId, ShareOptions, ShareRecord, Username,
        share_options::{MAX_TASK_EXCERPT_CHARS, truncate_chars},
    },
    error::{ApiError, ErrorCode},
    json::readable,
    secrets::{self, Finding, ParsedScan, SecretPolicy, SecretScanner},
    state::{AppState, Reshare},
    storage::{Compressed, Created, NewShare, Placement},
    validation::SessionValidator,
};

/// A new share, or a new revision of one.
#[derive(ApiResponse)]
pub enum CreateResponse {
    /// Shared. `Location` is the share's API URL; `url` in the body is its share URL. A share
    /// of a task its owner shared before is that share's next revision, same `id` and `url`
    /// (`updated: true`).
    #[oai(status = 201)]
    Created(
        Json<ShareCreated>,
        #[oai(header = "Location")] String,
        /// How many credentials were replaced before storing (`redactions` lists them).
        #[oai(header = "X-Session-Redactions")]
        u32,
    ),
}

/// A session checked and compressed, ready to store.
pub struct Checked {
    pub share: NewShare,
    /// `task.id`: what a share of the same task again finds.
    pub task_id: Option<String>,
    /// Credentials replaced before storing (`--secret-policy redact`).
    pub redactions: Vec<Finding>,
}

/// Checks an upload for storing, each step once: credentials first (refused or replaced, as
/// `--secret-policy` says; below a megabyte found as the upload is parsed), then the document
/// as it will be stored is checked against the schema and compressed. `parsed`: the upload,
/// parsed already by a caller that had to.
///
/// All of it is one piece of work on one blocking thread (inline when small): a hand-off to
/// the pool and back costs more CPU than it saves below a megabyte. Above one, the scan walks
/// the upload first and validation runs on a second thread beside compression, for the latency
/// of large uploads.
///
/// An invalid session is told so first: its credentials are not the problem yet.
pub async fn check(
    state: &AppState,
    bytes: &Bytes,
    parsed: Option<Value>,
) -> Result<Checked, ApiError> {
    // Held from the parse to the end of validation: the parsed tree lives that long.
    let _checking = state.checks.acquire().await.map_err(ApiError::internal)?;
    let check = Check {
        validator: state.validator.clone(),
        max_ttl: state.max_ttl,
        policy: state.secret_policy,
    };
    let bytes = bytes.clone();
    cpu(bytes.len(), move || check.run(&bytes, parsed)).await
}

impl Checked {
    fn of(facts: Facts, compressed: Compressed, size: usize, redactions: Vec<Finding>) -> Self {
        Checked {
            share: NewShare {
                compressed,
                size: size as u64,
                message_count: facts.message_count,
                task_excerpt: facts.task_excerpt,
                options: facts.options,
                redactions: redactions.len() as u32,
            },
            task_id: facts.task_id,
            redactions,
        }
    }
}

/// What checking an upload needs of the state, for a blocking thread.
struct Check {
    validator: std::sync::Arc<SessionValidator>,
    max_ttl: chrono::Duration,
    policy: SecretPolicy,
}

/// Uploads from this size on are validated on a second thread while they are compressed.
const PARALLEL_BYTES: usize = 1024 * 1024;

impl Check {
    fn run(&self, bytes: &Bytes, parsed: Option<Value>) -> Result<Checked, ApiError> {
        let scanner = SecretScanner::embedded();
        let mut scan = ParsedScan::new(scanner);
        let (parsed, findings, on_parse) = match (self.policy, parsed) {
            (SecretPolicy::Off, parsed) => (parsed, Vec::new(), false),
            // Scanned as the parse decodes each string: one pass over the upload, not two.
            // From PARALLEL_BYTES on the parse runs beside compression instead (below).
            (_, None) if bytes.len() < PARALLEL_BYTES => {
                // An upload that is not JSON is told so first, as below.
                let (document, saw_all) =
                    SessionValidator::parse_json_seeing(bytes, &|value| scan.see(value))?;
                match saw_all {
                    true => (Some(document), scan.findings(bytes), true),
                    false => (Some(document), scanner.scan_document(bytes), false),
                }
            }
            (_, parsed) => (parsed, scanner.scan_document(bytes), false),
        };
        if findings.is_empty() {
            let (facts, compressed) = self.validate_and_compress(bytes, parsed)?;
            return Ok(Checked::of(facts, compressed, bytes.len(), findings));
        }
        if self.policy == SecretPolicy::Reject {
            self.validate(bytes, parsed)?;
            return Err(ApiError::secrets_found(&findings));
        }
        // What is checked, compressed and stored: the upload with each credential replaced, so
        // that nothing read from it for the record holds one either.
        let redacted = Bytes::from(secrets::redact(bytes, &findings));
        // Parsed again, unless the scan rode on the parse: then only the strings it redacted.
        let (reparsed, parsed) = match on_parse {
            true => (parsed.and_then(|doc| scan.redact_parsed(doc, &redacted, &findings)), None),
            false => (None, parsed),
        };
        match self.validate_and_compress(&redacted, reparsed) {
            Ok((facts, compressed)) => Ok(Checked::of(facts, compressed, redacted.len(), findings)),
            // An invalid upload is described as it was sent (where its JSON breaks, which of
            // its values are wrong), as it would be without credentials in it.
            Err(redacted_error) => {
                self.validate(bytes, parsed)?;
                Err(redacted_error)
            }
        }
    }

    /// [`Self::validate`], and the bytes compressed if they are valid: one after the other,
    /// or from [`PARALLEL_BYTES`] on at once on two threads (then an invalid upload has been
    /// compressed for nothing, as the price of the large ones' latency).
    fn validate_and_compress(
        &self,
        bytes: &Bytes,
        parsed: Option<Value>,
    ) -> Result<(Facts, Compressed), ApiError> {
        if bytes.len() < PARALLEL_BYTES {
            let facts = self.validate(bytes, parsed)?;
            return Ok((facts, Compressed::of(bytes)));
        }
        std::thread::scope(|threads| {
            // A thread the system cannot make now: compress on this one afterwards.
            let compressing =
                std::thread::Builder::new().spawn_scoped(threads, || Compressed::of(bytes)).ok();
            let facts = self.validate(bytes, parsed);
            let compressed = compressing.map(|thread| {
                thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
            Ok((facts?, compressed.unwrap_or_else(|| Compressed::of(bytes))))
        })
    }

    /// Parses `bytes` (unless `parsed` is they), checks them against the schema, and reads
    /// what the share's record keeps.
    fn validate(&self, bytes: &Bytes, parsed: Option<Value>) -> Result<Facts, ApiError> {
        let document = match parsed {
            Some(document) => document,
            None => SessionValidator::parse_json(bytes)?,
        };
        self.validator.check(&document)?;
        Facts::of(&document, self.max_ttl)
    }
}

/// What is kept beside a valid document, read from it while it is parsed.
struct Facts {
    options: ShareOptions,
    message_count: u64,
    task_excerpt: String,
    task_id: Option<String>,
}

impl Facts {
    fn of(document: &Value, max_ttl: chrono::Duration) -> Result<Self, ApiError> {
        let options = ShareOptions::from_document(document, Utc::now(), max_ttl).map_err(|e| {
            ApiError::invalid_field(ErrorCode::InvalidSession, e.pointer, e.message)
        })?;
        let text =
            |pointer: &str| document.pointer(pointer).and_then(Value::as_str).unwrap_or_default();
        let task_id = text("/task/id").trim();
        Ok(Self {
            options,
            message_count: document["messages"].as_array().map_or(0, |m| m.len() as u64),
            task_excerpt: readable(truncate_chars(text("/task/task"), MAX_TASK_EXCERPT_CHARS))
                .into_owned(),
            task_id: (!task_id.is_empty()).then(|| task_id.to_owned()),
        })
    }
}

/// Where a create goes: the owner's share of its task, unless the client (`?new=true`) or
/// the operator (`--reshare new-link`) asks for a new link, or the task has no id.
pub fn placement(state: &AppState, task_id: Option<String>, new_link: bool) -> Placement {
    match task_id {
        Some(task) if !new_link && state.reshare == Reshare::Update => Placement::Task(task),
        _ => Placement::NewLink,
    }
}

/// Stores a checked session for `owner`; answers what the client is told.
pub async fn share(
    state: &AppState,
    owner: &Username,
    checked: Checked,
    new_link: bool,
) -> Result<CreateResponse, ApiError> {
    let placement = placement(state, checked.task_id, new_link);
    let created = state.sessions.create(owner, &checked.share, &placement).await?;
    tracing::info!(share_id = %created.id, username = %owner, bytes = checked.share.size,
        stored = checked.share.compressed.len(), revision = created.record.revision,
        updated = created.updated, redactions = checked.redactions.len(), "session shared");
    let location = format!("{}/api/sessions/{}", state.public_url, created.id);
    let count = checked.redactions.len() as u32;
    Ok(CreateResponse::Created(
        Json(share_created(state, &created, &checked.redactions)),
        location,
        count,
    ))
}

pub fn share_created(state: &AppState, created: &Created, redactions: &[Finding]) -> ShareCreated {
    let record = &created.record;
    ShareCreated {
        url: state.share_url(&created.id),
        username: record.username.to_string(),
        share_code: format!("{}/{}", record.username, created.id),
        id: created.id.to_string(),
        created_at: record.created_at,
        title: record.title.clone(),
        tags: record.tags.clone(),
        is_public: record.is_public(),
        visibility: record.visibility.into(),
        expires_at: record.expires_at,
        revision: record.revision,
        updated: created.updated,
        redactions: redactions
            .iter()
            .map(|f| Redaction { pointer: f.pointer.clone(), rule: f.rule.clone() })
            .collect(),
    }
}

/// How long the links a listing hands out to open shares that are not public last.
pub const OPEN_LINK_TTL: chrono::Duration = chrono::Duration::minutes(10);

/// The URL that opens `link`'s share while the link holds.
pub async fn link_url(state: &AppState, link: &crate::domain::Link) -> Result<String, ApiError> {
    let key = state.sessions.link_key().await?;
    Ok(format!("{}?link={}", state.share_url(&link.share), link.token(&key)))
}

/// A share as its owner's listing and PATCH show it.
///
/// With `open` (the link key), a share that is not public gets a signed link that opens it in
/// a browser for [`OPEN_LINK_TTL`]: what `/my` opens it with.
pub fn summary(
    state: &AppState,
    id: &ShareId,
    record: &ShareRecord,
    open: Option<&LinkKey>,
) -> ShareSummary {
    let link_url = open.filter(|_| !record.is_public()).map(|key| {
        let link = Link {
            share: id.clone(),
            expires_at: Utc::now() + OPEN_LINK_TTL,
            generation: record.link_generation,
        };
        format!("{}?link={}", state.share_url(id), link.token(key))
    });
    ShareSummary {
        link_url,
        id: id.to_string(),
        url: state.share_url(id),
        share_code: format!("{}/{id}", record.username),
        title: record.title.clone(),
        description: record.description.clone(),
        tags: record.tags.clone(),
        is_public: record.is_public(),
        visibility: record.visibility.into(),
        created_at: record.created_at,
        expires_at: record.expires_at,
        size: record.size,
        message_count: record.message_count,
        revision: record.revision,
        revision_count: record.earlier.len() as u32 + 1,
        updated_at: record.revised_at,
        redactions: record.redactions,
    }
}

/// Why a change by `owner` found no share `id` in their folder: 403 if the share is someone
/// else's, 404 if there is none.
pub async fn missing_or_not_yours(state: &AppState, id: &ShareId, owner: &Username) -> ApiError {
    match state.sessions.owner_of(id).await {
        Ok(Some(other)) if other != *owner => ApiError::access_denied(),
        Ok(_) => ApiError::session_not_found(),
        Err(e) => e.into(),
    }
}
