//! Making shares. A share of a task is made at the id the task leads to (see
//! [`ShareId::for_task`]): if the owner's share of that task is live there, this adds a
//! revision to it instead, so sharing a task again keeps its link. A share that no task leads
//! to gets a random id.
//!
//! A create is one conditional write (`If-None-Match: *`) of one object: until it lands
//! nothing is readable, and no other create can take the same id. Its answer is the truth: a
//! write whose reply is lost is read back, and a write that lands after the service gave up on
//! it (a proxy that held it, say) never counts: its record says by when it had to land
//! (`pendingUntil`), and readers treat a later one as not there (see [`settle`](SessionStore::settle)).

use std::{sync::LazyLock, time::Duration};

use chrono::{DateTime, Utc};
use object_store::{ObjectStoreExt, PutMode, PutPayload, UpdateVersion, path::Path};

use super::{
    ConditionalWrites, SessionStore, StorageError, layout,
    share_file::{self, Compressed, Marker, StoredRecord},
    store::{Slot, corrupt},
};
use crate::domain::{ShareId, ShareOptions, ShareRecord, Username};

/// A validated document to store, with what is kept beside it.
pub struct NewShare {
    pub compressed: Compressed,
    /// The document's size as uploaded.
    pub size: u64,
    pub message_count: u64,
    pub task_excerpt: String,
    pub options: ShareOptions,
    /// Credentials replaced in it before it was stored.
    pub redactions: u32,
}

/// Where a create goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// The owner's share of this task (`task.id`): made if there is none, else revised.
    Task(String),
    /// A share of its own, with a new link.
    NewLink,
}

#[derive(Debug, Clone)]
pub struct Created {
    pub id: ShareId,
    pub record: ShareRecord,
    /// An existing share got this revision (or already had this very document).
    pub updated: bool,
}

/// How far the storage's clock may be from ours. A create's write counts if storage stamped it
/// no later than its deadline; the service waits this much past it, and a second for the
/// stamps' one-second resolution, before it decides that a write it lost track of did not.
pub const CLOCK_ALLOWANCE: Duration = Duration::from_secs(1);
/// Generations of a task's share tried before a new link is drawn at random: each generation
/// is used up by a share of the task that was deleted or expired.
const MAX_GENERATIONS: u32 = 32;
/// Random ids have 78 bits besides the owner's prefix; the bound only stops a misbehaving store.
const MAX_ID_ATTEMPTS: usize = 8;
/// Rounds of read-and-write against concurrent writers before giving up with a conflict.
const MAX_ATTEMPTS: usize = 10;
/// A document larger than this looks at its task's id before writing: a write refused
/// because the share exists would move the whole document for nothing.
const LOOK_FIRST_BYTES: usize = 256 * 1024;
/// Reads of what a failed create's write left before its answer stays open (each within the
/// storage bound).
const READ_BACK_ATTEMPTS: usize = 5;
/// How long a create that could not be settled keeps being looked after in the background:
/// S3 and MinIO refuse a request signed longer ago than 15 minutes.
const SETTLE_LATER_FOR: Duration = Duration::from_secs(15 * 60);

pub(super) static EMPTY: LazyLock<Compressed> = LazyLock::new(|| Compressed::of(b"{}"));

// Short-lived, matched at once: boxing the record would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Claim {
    Made(ShareRecord),
    /// Something else is there now.
    Taken,
}

impl SessionStore {
    /// Stores `share` for `owner` where `placement` says.
    pub async fn create(
        &self,
        owner: &Username,
        share: &NewShare,
        placement: &Placement,
    ) -> Result<Created, StorageError> {
        // Before the share exists, so that a read by id finds its owner's folder.
        self.owners.ensure(owner).await?;
        let Placement::Task(task) = placement else {
            return self.create_at_random(owner, share).await;
        };
        let key = self.id_key().await?;
        for generation in 0..MAX_GENERATIONS {
            let id = ShareId::for_task(&key, owner, task, generation);
            if let Some(created) = self.place(owner, &id, share).await? {
                return Ok(created);
            }
        }
        self.create_at_random(owner, share).await
    }

    async fn create_at_random(
        &self,
        owner: &Username,
        share: &NewShare,
    ) -> Result<Created, StorageError> {
        for _ in 0..MAX_ID_ATTEMPTS {
            let id = (self.random_ids)(owner);
            match self.claim(owner, &id, share, None).await? {
                Claim::Made(record) => return Ok(Created { id, record, updated: false }),
                Claim::Taken => {
                    tracing::warn!(share_id = %id, "drew an id that is taken; drawing again")
                }
            }
        }
        Err(StorageError::IdsExhausted { attempts: MAX_ID_ATTEMPTS })
    }

    /// The task's share at `id`: made if the id is free, revised if it is live. `None` if the
    /// id is dead (its share was deleted or expired), and the task moves on to the next one.
    async fn place(
        &self,
        owner: &Username,
        id: &ShareId,
        share: &NewShare,
    ) -> Result<Option<Created>, StorageError> {
        let path = layout::share(owner, id);
        // A share this replica has seen is revised at once (one read of it); a large document
        // looks before it writes, rather than send itself to be refused.
        let seen = self.caches.order(id).await.is_some();
        let mut look = seen || share.compressed.len() > LOOK_FIRST_BYTES;
        for _ in 0..MAX_ATTEMPTS {
            let replacing = if look {
                match self.revise(owner, id, share, Revise::Task).await? {
                    Revised::Made(created) => return Ok(Some(*created)),
                    Revised::Dead => return Ok(None),
                    Revised::Withdrawn(version) => Some(version),
                    Revised::Missing => None,
                }
            } else {
                None
            };
            match self.claim(owner, id, share, replacing).await? {
                Claim::Made(record) => {
                    return Ok(Some(Created { id: id.clone(), record, updated: false }));
                }
                Claim::Taken => look = true,
            }
        }
        Err(StorageError::Contended { path: path.to_string() })
    }

    /// Writes a new share at `id`: where nothing is (`replacing` none), or over what a failed
    /// create left (`replacing` its version).
    async fn claim(
        &self,
        owner: &Username,
        id: &ShareId,
        share: &NewShare,
        replacing: Option<UpdateVersion>,
    ) -> Result<Claim, StorageError> {
        let path = layout::share(owner, id);
        let now = Utc::now();
        let bound = self.bounds.for_upload(share.compressed.len()) + CLOCK_ALLOWANCE;
        let deadline = now + chrono::Duration::from_std(bound).expect("a bounded duration");
        let record = ShareRecord {
            username: owner.clone(),
            created_at: now,
            title: share.options.title.clone(),
            description: share.options.description.clone(),
            tags: share.options.tags.clone(),
            is_public: share.options.is_public,
            expires_at: share.options.expires_at,
            task_excerpt: share.task_excerpt.clone(),
            revision: 1,
            revised_at: now,
            size: share.size,
            message_count: share.message_count,
            redactions: share.redactions,
            earlier: vec![],
            pending_until: Some(deadline),
        };
        let object = share_file::object(&StoredRecord::Share(record.clone()), &share.compressed)
            .map_err(|e| corrupt(&path, e))?;
        let written = match replacing {
            Some(version) => self.put_over(&path, object.clone(), version).await,
            None if self.conditional.get() != ConditionalWrites::Supported => {
                // Without (known) conditional writes, look first. Not atomic: see the docs.
                match self.store.head(&path).await {
                    Ok(_) => return Ok(Claim::Taken),
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(StorageError::from_store("check", &path, e)),
                }
                self.put_new(&path, object.clone()).await
            }
            None => self.put_new(&path, object.clone()).await,
        };
        let made = match written {
            Ok(()) => true,
            // Refused: taken by someone else, or by this very write, whose reply was lost and
            // which the client then retried. Only the latter holds our exact bytes (records
            // carry their creation time to the nanosecond).
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => match self.holds(&path, &object, deadline).await {
                Ok(ours) => ours,
                // Whether it is ours is not known: settled as a failed write is.
                Err(error) => match self.settle(owner, &path, &object, deadline).await {
                    true => true,
                    false => return Err(error),
                },
            },
            Err(error) => match self.settle(owner, &path, &object, deadline).await {
                true => true,
                false => return Err(StorageError::from_store("write", &path, error)),
            },
        };
        if !made {
            return Ok(Claim::Taken);
        }
        self.caches.remember(id, &record).await;
        Ok(Claim::Made(record))
    }

    /// Writes where nothing is. A store found not to honour `If-None-Match` is noted, and
    /// written to anyway (the caller looked first).
    async fn put_new(&self, path: &Path, object: PutPayload) -> object_store::Result<()> {
        match self.put(path, object.clone(), PutMode::Create).await {
            Err(object_store::Error::NotImplemented { .. }) => {
                self.conditional.set(ConditionalWrites::Unsupported);
                self.put(path, object, PutMode::Overwrite).await
            }
            other => other,
        }
    }

    /// Writes over the object's `version` only. Stores without `If-Match` (the local file
    /// system, one host): the version is compared just before, under this replica's lock for
    /// the share, which changes hold.
    pub(super) async fn put_over(
        &self,
        path: &Path,
        object: PutPayload,
        version: UpdateVersion,
    ) -> object_store::Result<()> {
        match self.put(path, object.clone(), PutMode::Update(version.clone())).await {
            Err(object_store::Error::NotImplemented { .. }) => {
                let changed = || object_store::Error::Precondition {
                    path: path.to_string(),
                    source: "changed since it was read".into(),
                };
                match self.store.head(path).await {
                    Ok(meta) if meta.e_tag == version.e_tag => {
                        self.put(path, object, PutMode::Overwrite).await
                    }
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => Err(changed()),
                    Err(e) => Err(e),
                }
            }
            other => other,
        }
    }

    /// Whether `path` holds exactly `object`, written in time (see [`SessionStore::settle`]).
    async fn holds(
        &self,
        path: &Path,
        object: &PutPayload,
        deadline: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let found = match self.store.get(path).await {
            Ok(found) if found.meta.size != object.content_length() as u64 => return Ok(false),
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(StorageError::from_store("read", path, e)),
        };
        let in_time = found.meta.last_modified <= deadline;
        let stored = found.bytes().await.map_err(|e| StorageError::from_store("read", path, e))?;
        let mut rest = &stored[..];
        let ours = object.iter().all(|part| match rest.split_at_checked(part.len()) {
            Some((head, tail)) if head == &part[..] => {
                rest = tail;
                true
            }
            _ => false,
        });
        if ours {
            tracing::info!(%path, in_time, "a write whose answer was lost is stored");
        }
        Ok(ours && in_time)
    }

    /// A create's write failed as far as we can tell, yet it may have landed, or land later.
    /// Settles which: `true` if it counts (the share is made, the client is told so).
    ///
    /// First a marker is written where the share would be, if nothing is there: once it is,
    /// nothing of ours can land (conditional writes), and the create failed. If storage will
    /// not take that write either, wait until any write of ours that could count has landed
    /// (its deadline, plus the clock allowance and a second), then read: our bytes, stamped in
    /// time, mean the share is made; anything else, or nothing, that it is not, and a write
    /// that lands even later is past its deadline and never shown. Only if storage cannot be
    /// read either (five tries) does the answer stay open: then it is settled in the
    /// background, and a share of ours found there is withdrawn.
    async fn settle(
        &self,
        owner: &Username,
        path: &Path,
        object: &PutPayload,
        deadline: DateTime<Utc>,
    ) -> bool {
        let marker = StoredRecord::Withdrawn(Marker { username: owner.clone(), at: Utc::now() });
        let marker = share_file::object(&marker, &EMPTY).expect("a marker fits");
        match self.put(path, marker, PutMode::Create).await {
            Ok(()) => return false,
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => {}
            Err(_) => {
                sleep_until(
                    deadline
                        + chrono::Duration::from_std(CLOCK_ALLOWANCE + Duration::from_secs(1))
                            .expect("small"),
                )
                .await
            }
        }
        for _ in 0..READ_BACK_ATTEMPTS {
            if let Ok(made) = self.holds(path, object, deadline).await {
                return made;
            }
        }
        tracing::error!(%path, "storage cannot be read to settle a failed create; settling it in the background");
        tokio::spawn(self.clone().settle_later(
            path.clone(),
            object.clone(),
            deadline,
            owner.clone(),
        ));
        false
    }

    /// Whether `path` holds exactly `object` (a few tries); `None` if storage cannot tell.
    async fn read_back(&self, path: &Path, object: &PutPayload) -> Option<bool> {
        let whenever = DateTime::<Utc>::MAX_UTC;
        for _ in 0..READ_BACK_ATTEMPTS {
            if let Ok(ours) = self.holds(path, object, whenever).await {
                return Some(ours);
            }
        }
        None
    }

    /// Keeps trying to read what a failed create left; a share of ours found there, which
    /// its client was told did not exist, is replaced by a marker.
    async fn settle_later(
        self,
        path: Path,
        object: PutPayload,
        deadline: DateTime<Utc>,
        owner: Username,
    ) {
        let until = tokio::time::Instant::now() + SETTLE_LATER_FOR;
        while tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let version = match self.store.head(&path).await {
                Ok(meta) => super::store::version_of(&meta),
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(_) => continue,
            };
            match self.holds(&path, &object, deadline).await {
                Ok(false) => return,
                Ok(true) => {
                    let marker =
                        StoredRecord::Withdrawn(Marker { username: owner.clone(), at: Utc::now() });
                    let marker = share_file::object(&marker, &EMPTY).expect("a marker fits");
                    if self.put_over(&path, marker, version).await.is_ok() {
                        tracing::warn!(%path, "withdrew a share whose create had been answered as failed");
                        return;
                    }
                }
                Err(_) => {}
            }
        }
        tracing::error!(%path, "gave up settling a failed create: a share its client was told failed may be readable");
    }
}

/// Storage refused the write's condition (someone else's version is there now).
fn is_refusal(error: &object_store::Error) -> bool {
    matches!(
        error,
        object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }
    )
}

async fn sleep_until(at: DateTime<Utc>) {
    if let Ok(wait) = (at - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
}

/// What adding a revision found.
pub(super) enum Revised {
    /// Boxed: a record is far larger than the other answers.
    Made(Box<Created>),
    /// Nothing is at the id.
    Missing,
    /// The id's share was deleted or expired: it is never used again.
    Dead,
    /// What a failed create left, at this version: as good as empty.
    Withdrawn(UpdateVersion),
}

/// How a revision is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Revise<'a> {
    /// Sharing a task again: an expired share is made dead (the task gets a new link).
    Task,
    /// `PUT` by the owner, on the version they read when they send one.
    Put { if_match: Option<&'a str> },
}

impl SessionStore {
    /// Replaces the session of `owner`'s share `id` (`PUT`): the session it had becomes a
    /// revision. `if_match` is the entity tag the owner read, if they want the change only on
    /// that version.
    pub async fn replace(
        &self,
        owner: &Username,
        id: &ShareId,
        share: &NewShare,
        if_match: Option<&str>,
    ) -> Result<Created, StorageError> {
        match self.revise(owner, id, share, Revise::Put { if_match }).await? {
            Revised::Made(created) => Ok(*created),
            Revised::Missing | Revised::Dead | Revised::Withdrawn(_) => {
                Err(StorageError::NotFound { path: format!("share {id}") })
            }
        }
    }

    /// Adds `share` as the next revision of the live share at `id`: the latest is kept as a
    /// revision of its own (as it is: a standard gzip file), then the new one is written over
    /// it, only if it is still the version read. An expired share shared again dies instead
    /// (it is never revived).
    pub(super) async fn revise(
        &self,
        owner: &Username,
        id: &ShareId,
        share: &NewShare,
        how: Revise<'_>,
    ) -> Result<Revised, StorageError> {
        let path = layout::share(owner, id);
        let _queued = self.lock_for(id).lock().await;
        let _room = self.rewrites.acquire().await.expect("the semaphore is never closed");
        for _ in 0..MAX_ATTEMPTS {
            let Some((found, header_len, object)) = self.read_whole(&path).await? else {
                return Ok(Revised::Missing);
            };
            let latest = match found.slot() {
                Slot::Live(record) => record,
                Slot::Dead => {
                    self.caches.dead(id).await;
                    return Ok(Revised::Dead);
                }
                Slot::Withdrawn => return Ok(Revised::Withdrawn(found.version)),
            };
            if let Revise::Put { if_match: Some(tag) } = how {
                if !super::etag_matches(tag, found.version.e_tag.as_deref()) {
                    return Err(StorageError::ChangedMeanwhile { path: path.to_string() });
                }
            }
            if latest.is_expired(Utc::now()) {
                if how == Revise::Task {
                    match self.bury(owner, id, found.version).await {
                        Ok(()) => return Ok(Revised::Dead),
                        Err(StorageError::ChangedMeanwhile { .. }) => continue,
                        Err(e) => return Err(e),
                    }
                }
                return Err(StorageError::Expired { path: path.to_string() });
            }
            if object.slice(header_len..) == share.compressed.bytes() {
                // The very document of the latest revision: nothing to add.
                return Ok(Revised::Made(Box::new(Created {
                    id: id.clone(),
                    record: latest,
                    updated: true,
                })));
            }
            // Kept as it is, first: if what follows fails, nothing is lost.
            let archive = layout::revision(owner, id, latest.revision);
            match self.put_new(&archive, PutPayload::from(object.clone())).await {
                Ok(())
                | Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => {}
                Err(e) => return Err(StorageError::from_store("write", &archive, e)),
            }
            let mut next = latest.clone();
            next.revision = latest.revision + 1;
            next.revised_at = Utc::now();
            next.size = share.size;
            next.message_count = share.message_count;
            next.redactions = share.redactions;
            next.task_excerpt = share.task_excerpt.clone();
            next.pending_until = None;
            next.earlier.push(latest.this_revision());
            let keep = self.max_revisions.saturating_sub(1) as usize;
            let dropped: Vec<u32> = next
                .earlier
                .drain(..next.earlier.len().saturating_sub(keep))
                .map(|r| r.revision)
                .collect();
            let object = share_file::object(&StoredRecord::Share(next.clone()), &share.compressed)
                .map_err(|e| corrupt(&path, e))?;
            let written = match self.put_over(&path, object.clone(), found.version).await {
                // The write may have landed though its answer was lost: if our bytes are
                // there, the revision is made, and the client is told so.
                Err(error) if !is_refusal(&error) => match self.read_back(&path, &object).await {
                    Some(true) => Ok(()),
                    _ => Err(error),
                },
                written => written,
            };
            match written {
                Ok(()) => {
                    self.caches.remember(id, &next).await;
                    for revision in dropped {
                        let old = layout::revision(owner, id, revision);
                        if let Err(error) = self.delete_path(&old).await {
                            tracing::warn!(%error, "an old revision stays until gc");
                        }
                    }
                    return Ok(Revised::Made(Box::new(Created {
                        id: id.clone(),
                        record: next,
                        updated: true,
                    })));
                }
                Err(
                    object_store::Error::Precondition { .. }
                    | object_store::Error::AlreadyExists { .. },
                ) => {
                    if matches!(how, Revise::Put { if_match: Some(_) }) {
                        return Err(StorageError::ChangedMeanwhile { path: path.to_string() });
                    }
                    tracing::debug!(share_id = %id, "share changed under us; re-reading");
                }
                Err(e) => return Err(StorageError::from_store("write", &path, e)),
            }
        }
        Err(StorageError::Contended { path: path.to_string() })
    }

    /// Replaces the share at `path` (at `version`) by a marker that keeps its id from ever
    /// being used again, then deletes its earlier revisions.
    pub(super) async fn bury(
        &self,
        owner: &Username,
        id: &ShareId,
        version: UpdateVersion,
    ) -> Result<(), StorageError> {
        let path = layout::share(owner, id);
        let marker = StoredRecord::Deleted(Marker { username: owner.clone(), at: Utc::now() });
        let marker = share_file::object(&marker, &EMPTY).expect("a marker fits");
        match self.put_over(&path, marker, version).await {
            Ok(()) => {}
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => {
                return Err(StorageError::ChangedMeanwhile { path: path.to_string() });
            }
            Err(e) => return Err(StorageError::from_store("write", &path, e)),
        }
        self.caches.dead(id).await;
        self.delete_revisions(owner, id).await
    }
}
