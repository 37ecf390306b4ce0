//! What is known about a share besides its document.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Username, Visibility};

/// A share's record: who owns it, the owner's options (which apply to every revision), and
/// the revision stored with it. It is read before any of the document is served, since it says
/// who may see the share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareRecord {
    pub username: Username,
    /// When the share was first made (its link's birth; re-shares do not change it).
    pub created_at: DateTime<Utc>,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Who may read it: anyone, the owner's team, the owner.
    pub visibility: Visibility,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The start of the task prompt: what `q` searches besides title and description, and
    /// where the default title comes from.
    #[serde(default)]
    pub task_excerpt: String,
    /// This document's revision: 1 for the first share, one more for each share of it since.
    pub revision: u32,
    /// When this revision was shared (`created_at` for the first).
    pub revised_at: DateTime<Utc>,
    /// This revision's document: its size in bytes as uploaded, and its messages.
    pub size: u64,
    pub message_count: u64,
    /// Credentials replaced in this revision's document before it was stored.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redactions: u32,
    /// Earlier revisions still kept, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<RevisionInfo>,
    /// The generation of its signed links: revoking them moves it on, and a link signed for
    /// another generation no longer opens the share.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub link_generation: u32,
    /// Written by a create: the write counts only if storage stamped it by then. A write that
    /// lands later (its client long told it failed) is never shown; see `storage::create`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_until: Option<DateTime<Utc>>,
}

/// One revision of a share, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionInfo {
    pub revision: u32,
    pub created_at: DateTime<Utc>,
    pub size: u64,
    pub message_count: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redactions: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl ShareRecord {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// This revision, as listed.
    pub fn this_revision(&self) -> RevisionInfo {
        RevisionInfo {
            revision: self.revision,
            created_at: self.revised_at,
            size: self.size,
            message_count: self.message_count,
            redactions: self.redactions,
        }
    }

    /// Every revision kept, oldest first, this one last.
    pub fn revisions(&self) -> Vec<RevisionInfo> {
        let mut all = self.earlier.clone();
        all.push(self.this_revision());
        all
    }

    pub fn is_public(&self) -> bool {
        self.visibility == Visibility::Public
    }

    /// Whether `caller` owns the share.
    pub fn is_owned_by(&self, caller: Option<&Username>) -> bool {
        caller == Some(&self.username)
    }
}
