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

use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::{ObjectStoreExt, PutMode, PutPayload, UpdateVersion, path::Path};

use super::{
    ConditionalWrites, SessionStore, StorageError, layout,
    revise::{Revise, Revised},
    share_file::{self, StoredRecord},
    store::corrupt,
    writes::{Created, MAX_ATTEMPTS, NewShare, READ_BACK_ATTEMPTS, is_refusal},
};
use crate::domain::{ShareId, ShareRecord, Username, share_options::default_title};

/// Where a create goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// The owner's share of this task (`task.id`): made if there is none, else revised.
    Task(String),
    /// A share of its own, with a new link.
    NewLink,
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
/// A document larger than this looks at its task's id before writing: a write refused
/// because the share exists would move the whole document for nothing.
const LOOK_FIRST_BYTES: usize = 256 * 1024;
/// How long a create that could not be settled keeps being looked after in the background:
/// S3 and MinIO refuse a request signed longer ago than 15 minutes.
const SETTLE_LATER_FOR: Duration = Duration::from_secs(15 * 60);

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
        let seen = self.caches.seen(id);
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
        // The write, retried after a fault, must land by a time its record says; a write
        // storage stamps later never counts (see `landed_late`). Room for a try after one
        // that got no answer, and the upload's size at the slowest rate allowed.
        let window = self.bounds.for_upload(share.compressed.len()) + self.bounds.timeout;
        let writes_until = tokio::time::Instant::now() + window;
        let deadline =
            now + chrono::Duration::from_std(window + CLOCK_ALLOWANCE).expect("a bounded duration");
        let mut record = ShareRecord {
            username: owner.clone(),
            created_at: now,
            title: default_title(&share.task_excerpt),
            description: None,
            tags: vec![],
            visibility: crate::domain::Visibility::Public,
            link_generation: 0,
            expires_at: None,
            task_excerpt: share.task_excerpt.clone(),
            revision: 1,
            revised_at: now,
            size: share.size,
            message_count: share.message_count,
            redactions: share.redactions,
            earlier: vec![],
            pending_until: Some(deadline),
        };
        share.options.apply(&mut record);
        let object = share_file::object(&StoredRecord::Share(record.clone()), &share.compressed)
            .map_err(|e| corrupt(&path, e))?;
        // `None`: taken (seen before writing, on a store without conditional writes).
        let write = async {
            Ok::<_, StorageError>(Some(match replacing {
                Some(version) => self.put_over(&path, object.clone(), version).await,
                None if self.conditional.get() != ConditionalWrites::Supported => {
                    // Without (known) conditional writes, look first. Not atomic: see the docs.
                    match self.store.head(&path).await {
                        Ok(_) => return Ok(None),
                        Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(StorageError::from_store("check", &path, e)),
                    }
                    self.put_new(&path, object.clone()).await
                }
                None => self.put_new(&path, object.clone()).await,
            }))
        };
        let Some(written) = crate::deadline::until(writes_until, write).await? else {
            return Ok(Claim::Taken);
        };
        let made = match written {
            Ok(()) => true,
            // Refused: taken by someone else, or by this very write, whose reply was lost and
            // which the client then retried. Only the latter holds our exact bytes (records
            // carry their creation time to the nanosecond).
            Err(e) if is_refusal(&e) => match self.holds(&path, &object, deadline).await {
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
        self.caches.wrote(id, &record).await;
        Ok(Claim::Made(record))
    }

    /// A create's write failed as far as we can tell, yet it may have landed, or land later.
    /// Settles which: `true` if it counts (the share is made, the client is told so).
    ///
    /// First a marker is written where the share would be, if nothing is there: once it is,
    /// nothing of ours can land (conditional writes), and the create failed. If storage will
    /// not take that write either, wait until any write of ours that could count has landed
    /// (its deadline, plus the clock allowance and a second), then read: our bytes, stamped in
    /// time, mean the share is made; anything else, or nothing, that it is not, and a write
    /// that lands even later is past its deadline and never shown. All of it within the
    /// request's deadline: if storage cannot tell by then, the answer stays open, and it is
    /// settled in the background (a share of ours found there is withdrawn).
    async fn settle(
        &self,
        owner: &Username,
        path: &Path,
        object: &PutPayload,
        deadline: DateTime<Utc>,
    ) -> bool {
        let marker = share_file::marker(StoredRecord::Withdrawn, owner, Utc::now());
        match self.put(path, marker, PutMode::Create).await {
            Ok(()) => return false,
            Err(e) if is_refusal(&e) => {}
            Err(_) => {
                let landed_by = deadline
                    + chrono::Duration::from_std(CLOCK_ALLOWANCE + Duration::from_secs(1))
                        .expect("small");
                if !sleep_until(landed_by).await {
                    return self.settle_in_background(owner, path, object, deadline);
                }
            }
        }
        for _ in 0..READ_BACK_ATTEMPTS {
            if crate::deadline::passed() {
                break;
            }
            if let Ok(made) = self.holds(path, object, deadline).await {
                return made;
            }
        }
        self.settle_in_background(owner, path, object, deadline)
    }

    /// The answer stays open: the create is answered as failed, and settled later.
    fn settle_in_background(
        &self,
        owner: &Username,
        path: &Path,
        object: &PutPayload,
        deadline: DateTime<Utc>,
    ) -> bool {
        tracing::error!(%path, "storage cannot be read to settle a failed create; settling it in the background");
        tokio::spawn(self.clone().settle_later(
            path.clone(),
            object.clone(),
            deadline,
            owner.clone(),
        ));
        false
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
                    let marker = share_file::marker(StoredRecord::Withdrawn, &owner, Utc::now());
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

/// Sleeps until `at`; `false` (at once) if the request's deadline comes first.
async fn sleep_until(at: DateTime<Utc>) -> bool {
    let Ok(wait) = (at - Utc::now()).to_std() else { return true };
    if crate::deadline::bound(Duration::MAX).is_none_or(|left| left <= wait) {
        return false;
    }
    tokio::time::sleep(wait).await;
    true
}
