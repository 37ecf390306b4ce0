//! What a replica knows of an owner's folder: each object's ETag and, for a live share, its
//! record. Plain data, kept by [`super::caches`] and brought up to date by [`super::listing`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::domain::{ShareId, ShareRecord};

/// What the index knows of one object of an owner's folder, true while its ETag is `etag`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub etag: String,
    /// The share's record if it is a live share; none for a deleted share's marker, a failed
    /// create's, or an object that is not a share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<ShareRecord>,
}

/// An owner's index: every object of their folder by share id.
pub type Index = HashMap<ShareId, Entry>;
