//! Owners manage their shares: list, change options, delete. Every route needs the owner's key.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use poem::web::Data;
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Json,
    types::MaybeUndefined,
};

use super::{
    ApiTags,
    auth::RequiredKey,
    models::{ShareList, ShareSummary, ShareUpdate},
    payload::JsonUpload,
    responses::{api_response, respond},
};
use crate::{
    access::ClientAddr,
    domain::{
        ShareId, Username,
        share_options::{check_expiry, default_title, parse_description, parse_tags, parse_title},
    },
    error::{ApiError, ErrorCode},
    state::AppState,
    storage::{OwnedDocument, ShareRecord, StorageError, UpdateError},
};

/// Listing page sizes.
const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;
/// A PATCH body holds a few short fields.
const MAX_UPDATE_BODY: u64 = 64 * 1024;
/// Records fetched at once while listing.
const LIST_CONCURRENCY: usize = 16;

api_response! {
    pub enum ListResponse {
        /// A page of your shares, newest first.
        #[oai(status = 200)]
        Ok(Json<ShareList>),
    }
    errors {
        /// `INVALID_REQUEST`: `limit` out of range or a `cursor` this service did not make.
        BadRequest,
        Unauthorized,
    }
}

api_response! {
    pub enum UpdateResponse {
        /// Updated; the share as it is now.
        #[oai(status = 200)]
        Ok(Json<ShareSummary>),
    }
    errors {
        /// `INVALID_REQUEST`: a field of the wrong type, an unknown field, or a value outside
        /// its rules (`details` has its pointer).
        BadRequest,
        Unauthorized,
        /// `ACCESS_DENIED`: the share is someone else's.
        Forbidden,
        /// `SESSION_NOT_FOUND`.
        NotFound,
        /// `CONFLICT`: other updates kept winning; retry.
        Conflict,
        /// `SESSION_EXPIRED`: an expired share cannot be revived.
        Gone,
        PayloadTooLarge,
        UnsupportedMediaType,
    }
}

api_response! {
    pub enum DeleteResponse {
        /// Deleted, or already gone: the document, its record and its id lookup.
        #[oai(status = 204)]
        Deleted,
    }
    errors {
        /// `INVALID_ID`.
        BadRequest,
        Unauthorized,
        /// `ACCESS_DENIED`: the share is someone else's.
        Forbidden,
    }
}

pub struct OwnerApi;

#[OpenApi]
impl OwnerApi {
    /// List your shares
    ///
    /// Newest first, `limit` at a time (1 to 100, default 20); pass `nextCursor` back as
    /// `cursor` for the next page. `tag` keeps shares with that tag; `q` keeps shares whose
    /// title, description or task prompt contains the text (case-insensitive). Expired shares
    /// are left out.
    #[oai(
        path = "/api/sessions",
        method = "get",
        operation_id = "listSessions",
        tag = "ApiTags::Owner"
    )]
    // Each argument is an extractor that poem-openapi documents; a struct would hide them.
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        client: ClientAddr,
        key: RequiredKey,
        /// Items per page, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Only shares with this tag.
        tag: Query<Option<String>>,
        /// Only shares whose title, description or task prompt contains this text.
        q: Query<Option<String>>,
    ) -> ListResponse {
        respond(async {
            // Listing is a read (charged to the read rate) that needs a valid key, unlike other
            // reads, where a key that is not valid reads as no key.
            let key = key.key();
            let owner = state.authenticate_from(&key, &client).await?;
            state.charge_read(Some(&key), &client)?;
            let limit = limit.0.unwrap_or(DEFAULT_LIMIT);
            if !(1..=MAX_LIMIT).contains(&limit) {
                return Err(ApiError::invalid_field(
                    ErrorCode::InvalidRequest,
                    "limit",
                    format!("from 1 to {MAX_LIMIT}"),
                ));
            }
            // An empty parameter (`?cursor=` from a form or a generated client) is no parameter.
            let after =
                cursor.0.as_deref().filter(|c| !c.is_empty()).map(Cursor::decode).transpose()?;
            let filter = Filter {
                tag: tag.0.map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()),
                q: q.0.map(|q| q.trim().to_lowercase()).filter(|q| !q.is_empty()),
                now: Utc::now(),
            };
            let page = list_page(&state, &owner, limit as usize, after, &filter).await?;
            Ok(ListResponse::Ok(Json(page)))
        })
        .await
    }

    /// Change a share's options
    ///
    /// Send only the fields to change: `title`, `description`, `tags`, `isPublic`,
    /// `expiresAt` (`null` removes a description or an expiry, and restores the default
    /// title). The session document itself never changes. Concurrent updates do not lose one
    /// another.
    #[oai(
        path = "/api/sessions/:id",
        method = "patch",
        operation_id = "updateSession",
        tag = "ApiTags::Owner"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        client: ClientAddr,
        key: RequiredKey,
        /// The share id.
        id: Path<String>,
        body: JsonUpload<ShareUpdate>,
    ) -> UpdateResponse {
        respond(async {
            let owner = state.writer(&key.key(), &client).await?;
            let id = ShareId::parse(&id)?;
            let bytes = body.read(MAX_UPDATE_BODY, &state).await?.0;
            let change = Change::parse(&bytes, state.max_ttl)?;
            let updated = state
                .sessions
                .update_record(&id, |record| change.apply(&owner, record))
                .await
                .map_err(|e| match e {
                    UpdateError::Rejected(e) => e,
                    UpdateError::Conflict => ApiError::conflict(),
                    UpdateError::Storage(e) => e.into(),
                })?;
            tracing::info!(share_id = %id, username = %owner, "share updated");
            Ok(UpdateResponse::Ok(Json(summary(&state, &id, &updated))))
        })
        .await
    }

    /// Delete a share
    ///
    /// The document and its record are deleted; later reads answer 404. Deleting a share
    /// that is already gone answers 204 too, so a retried DELETE is not an error.
    #[oai(
        path = "/api/sessions/:id",
        method = "delete",
        operation_id = "deleteSession",
        tag = "ApiTags::Owner"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        client: ClientAddr,
        key: RequiredKey,
        /// The share id.
        id: Path<String>,
    ) -> DeleteResponse {
        respond(async {
            let owner = state.writer(&key.key(), &client).await?;
            let id = ShareId::parse(&id)?;
            let record = match state.sessions.record(&id).await {
                Ok((record, _)) => record,
                Err(StorageError::NotFound { .. }) => return Ok(DeleteResponse::Deleted),
                Err(e) => return Err(e.into()),
            };
            if record.username != owner.as_str() {
                return Err(ApiError::access_denied());
            }
            state.sessions.delete(&owner, &id).await?;
            tracing::info!(share_id = %id, username = %owner, "share deleted");
            Ok(DeleteResponse::Deleted)
        })
        .await
    }
}

fn summary(state: &AppState, id: &ShareId, record: &ShareRecord) -> ShareSummary {
    ShareSummary {
        id: id.to_string(),
        url: state.share_url(id),
        share_code: format!("{}/{id}", record.username),
        title: record.title.clone(),
        description: record.description.clone(),
        tags: record.tags.clone(),
        is_public: record.is_public,
        created_at: record.created_at,
        expires_at: record.expires_at,
        size: record.size,
        message_count: record.message_count,
    }
}

/// Where a page starts: after this document, in newest-first order. Opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    millis: i64,
    id: String,
}

impl Cursor {
    fn of(doc: &OwnedDocument) -> Self {
        Self { millis: doc.last_modified.timestamp_millis(), id: doc.id.to_string() }
    }

    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.millis, self.id))
    }

    fn decode(raw: &str) -> Result<Self, ApiError> {
        let invalid = || {
            ApiError::invalid_field(
                ErrorCode::InvalidRequest,
                "cursor",
                "not a cursor from this service",
            )
        };
        let text = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let text = String::from_utf8(text).map_err(|_| invalid())?;
        let (millis, id) = text.split_once(':').ok_or_else(invalid)?;
        Ok(Self {
            millis: millis.parse().map_err(|_| invalid())?,
            id: ShareId::parse(id).map_err(|_| invalid())?.to_string(),
        })
    }

    /// Newest first; ties broken by id so the order is total.
    fn key(&self) -> (std::cmp::Reverse<i64>, std::cmp::Reverse<String>) {
        (std::cmp::Reverse(self.millis), std::cmp::Reverse(self.id.clone()))
    }
}

struct Filter {
    tag: Option<String>,
    q: Option<String>,
    now: DateTime<Utc>,
}

impl Filter {
    fn keeps(&self, record: &ShareRecord) -> bool {
        if record.is_expired(self.now) {
            return false;
        }
        if let Some(tag) = &self.tag {
            if !record.tags.contains(tag) {
                return false;
            }
        }
        if let Some(q) = &self.q {
            let hit = |text: &str| text.to_lowercase().contains(q.as_str());
            if !(hit(&record.title)
                || record.description.as_deref().is_some_and(hit)
                || hit(&record.task_excerpt))
            {
                return false;
            }
        }
        true
    }
}

/// One page: the owner's documents in newest-first order after the cursor, their records
/// fetched a few at a time until the page is full.
async fn list_page(
    state: &AppState,
    owner: &Username,
    limit: usize,
    after: Option<Cursor>,
    filter: &Filter,
) -> Result<ShareList, ApiError> {
    let mut docs = state.sessions.list_owned(owner).await?;
    docs.sort_by_key(|d| Cursor::of(d).key());
    if let Some(after) = &after {
        docs.retain(|d| Cursor::of(d).key() > after.key());
    }
    let total = docs.len();
    let mut records = futures::stream::iter(docs.into_iter().map(|doc| async move {
        let record = state.sessions.record(&doc.id).await;
        (doc, record)
    }))
    .buffered(LIST_CONCURRENCY);
    let (mut items, mut last, mut scanned) = (Vec::new(), None, 0);
    while let Some((doc, record)) = records.next().await {
        scanned += 1;
        let record = match record {
            Ok((record, _)) => record,
            // A document whose record is gone is being deleted (or awaits gc): not listed.
            Err(StorageError::NotFound { .. } | StorageError::Corrupt { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        if record.username != owner.as_str() || !filter.keeps(&record) {
            continue;
        }
        items.push(summary(state, &doc.id, &record));
        last = Some(Cursor::of(&doc));
        if items.len() == limit {
            break;
        }
    }
    let next_cursor = (items.len() == limit && scanned < total)
        .then(|| last.expect("a full page has a last item").encode());
    Ok(ShareList { items, next_cursor })
}

/// The checked changes. Outer `None`: leave as is.
struct Change {
    title: Option<Option<String>>,
    description: Option<Option<String>>,
    tags: Option<Vec<String>>,
    is_public: Option<bool>,
    expires_at: Option<Option<DateTime<Utc>>>,
}

impl Change {
    fn parse(bytes: &[u8], max_ttl: chrono::Duration) -> Result<Self, ApiError> {
        let body: ShareUpdate = serde_json::from_slice(bytes)
            .map_err(|e| ApiError::invalid_request(format!("not a valid update: {e}")))?;
        let field = |e: crate::domain::FieldError| {
            ApiError::invalid_field(ErrorCode::InvalidRequest, e.pointer, e.message)
        };
        let now = Utc::now();
        // Outer `None`: the field was left out; inner `None`: it was `null`.
        let nullable = |v: MaybeUndefined<String>, parse: fn(&str) -> _| {
            Option::<Option<String>>::from(v)
                .map(|v| v.as_deref().map(parse).transpose().map(Option::flatten))
                .transpose()
                .map_err(field)
        };
        Ok(Self {
            title: nullable(body.title, parse_title)?,
            description: nullable(body.description, parse_description)?,
            tags: body
                .tags
                .map(|tags| parse_tags(&tags.iter().map(String::as_str).collect::<Vec<_>>()))
                .transpose()
                .map_err(field)?,
            is_public: body.is_public,
            expires_at: Option::<Option<DateTime<Utc>>>::from(body.expires_at)
                .map(|at| at.map(|at| check_expiry(at, now, max_ttl)).transpose())
                .transpose()
                .map_err(field)?,
        })
    }

    /// Applied to the freshest record, again on every compare-and-swap retry.
    fn apply(&self, owner: &Username, record: &mut ShareRecord) -> Result<(), ApiError> {
        if record.username != owner.as_str() {
            return Err(ApiError::access_denied());
        }
        if record.is_expired(Utc::now()) {
            return Err(ApiError::session_expired());
        }
        if let Some(title) = &self.title {
            record.title = title.clone().unwrap_or_else(|| default_title(&record.task_excerpt));
        }
        if let Some(description) = &self.description {
            record.description = description.clone();
        }
        if let Some(tags) = &self.tags {
            record.tags = tags.clone();
        }
        if let Some(is_public) = self.is_public {
            record.is_public = is_public;
        }
        if let Some(expires_at) = self.expires_at {
            record.expires_at = expires_at;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        let cursor = Cursor { millis: 1_763_700_000_123, id: "HzKozOxIxl4dO0YijPu0q".into() };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        for bad in ["", "!!!", &URL_SAFE_NO_PAD.encode("12:../x"), &URL_SAFE_NO_PAD.encode("x:abc")]
        {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn updates_tell_absent_from_null() {
        let ttl = chrono::Duration::days(1);
        let change = Change::parse(br#"{"description": null, "tags": ["A", "a"]}"#, ttl).unwrap();
        assert_eq!(change.title, None);
        assert_eq!(change.description, Some(None));
        assert_eq!(change.tags, Some(vec!["a".to_owned()]));
        assert!(Change::parse(br#"{"colour": "red"}"#, ttl).is_err());
        assert!(Change::parse(br#"{"isPublic": "yes"}"#, ttl).is_err());
        assert!(Change::parse(br#"{"expiresAt": "2000-01-01T00:00:00Z"}"#, ttl).is_err());
    }
}
