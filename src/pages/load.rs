//! A share's revision as the pages show it: its record decides access on every request, its
//! parsed session comes from the cache.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;

use super::{document::PageDocument, settings::PageSettings};
use crate::{
    access::{Granted, Reader},
    domain::{RevisionInfo, ShareId, ShareRecord},
    error::ApiError,
    state::AppState,
    storage::{Opened, share_file},
};

/// A share's revision as a page shows it: the record (the latest's options, the revision's
/// own size and messages) and the parsed document.
pub struct Loaded {
    pub record: ShareRecord,
    /// Every revision kept, oldest first.
    pub revisions: Vec<RevisionInfo>,
    pub doc: Arc<PageDocument>,
    /// What the parsed document is kept under: it names the revision's bytes.
    pub key: String,
    /// What let the reader see it.
    pub granted: Granted,
}

/// The record decides access on every request (a share may have been deleted, made private
/// or have expired since it was cached); the parsed document comes from the cache.
pub async fn load(
    state: &AppState,
    settings: &PageSettings,
    id: &ShareId,
    revision: Option<u32>,
    reader: &Reader,
) -> Result<Loaded, ApiError> {
    let latest = state.sessions.current_record(id, None).await?;
    let granted = state.may_read(id, &latest, reader).await?;
    let revision = revision.unwrap_or(latest.revision);
    let shown = shown_revision(&latest, revision).ok_or_else(ApiError::revision_not_found)?;
    let revisions = latest.revisions();
    // The size and redactions change if `scan --redact` rewrites the revision.
    let key = format!("{id}@{revision}:{}:{}", shown.size, shown.redactions);
    if let Some(doc) = settings.cache.get(&key).await {
        return Ok(Loaded { record: shown, revisions, doc, key, granted });
    }
    // Not parsed yet: one storage read gives the document.
    let opened = if revision == latest.revision {
        state.sessions.open(id, Some(&latest.username), None).await
    } else {
        state.sessions.open_revision(id, Some(&latest.username), revision, None).await
    };
    let (record, Opened::Found { rest, .. }) = opened? else {
        return Err(ApiError::internal("not-modified answer to an unconditional read"));
    };
    state.may_read(id, &record, reader).await?;
    let chunks: Vec<Bytes> = share_file::as_gzip(rest).try_collect().await.map_err(|e| {
        tracing::warn!(error = %e, share_id = %id, "reading a session for its page failed");
        ApiError::storage_unavailable()
    })?;
    let stored: Bytes = chunks.concat().into();
    let limit = state.uploads.max_body.max(record.size);
    let document = tokio::task::spawn_blocking(move || crate::compression::gunzip(&stored, limit))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            ApiError::from(crate::storage::StorageError::Corrupt {
                path: format!("the share {id}"),
                reason: e.to_string(),
            })
        })?;
    let doc = settings.cache.insert(&key, document).await.map_err(ApiError::internal)?;
    Ok(Loaded { record, revisions, doc, key, granted })
}

/// Revision `revision` of the share whose latest record is `latest`, as a page shows it.
fn shown_revision(latest: &ShareRecord, revision: u32) -> Option<ShareRecord> {
    if revision == latest.revision {
        return Some(latest.clone());
    }
    let earlier = latest.earlier.iter().find(|r| r.revision == revision)?;
    let mut shown = latest.clone();
    shown.revision = earlier.revision;
    shown.revised_at = earlier.created_at;
    shown.size = earlier.size;
    shown.message_count = earlier.message_count;
    shown.redactions = earlier.redactions;
    Some(shown)
}
