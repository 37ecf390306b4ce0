//! What goes wrong in storage, said so that an operator knows what failed and where.

/// A storage failure, saying what was being done and where.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("not found: {path}")]
    NotFound { path: String },
    /// The share is there, but keeps no such revision.
    #[error("no revision {revision} of {path}")]
    NoSuchRevision { path: String, revision: u32 },
    #[error("storage failed to {operation} {path}: {source}")]
    Unavailable {
        operation: &'static str,
        path: String,
        #[source]
        source: object_store::Error,
    },
    /// Storage refused the service itself: wrong credentials, no permission, or no such
    /// bucket. Retrying will not help; an operator must.
    #[error(
        "storage refused to {operation} {path}: {source}; check the S3 credentials, that the \
         bucket exists, and the bucket's policy"
    )]
    Refused {
        operation: &'static str,
        path: String,
        #[source]
        source: object_store::Error,
    },
    #[error("stored object {path} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("could not find a free id after {attempts} attempts")]
    IdsExhausted { attempts: usize },
    /// The share has expired: it is never changed or revived.
    #[error("{path} has expired")]
    Expired { path: String },
    /// A conditional change (`If-Match`) found another version.
    #[error("{path} changed since the version the change was made on")]
    ChangedMeanwhile { path: String },
    /// Other writers kept winning; the caller may retry.
    #[error("{path} kept changing under concurrent writers")]
    Contended { path: String },
}

impl StorageError {
    pub(crate) fn from_store(
        operation: &'static str,
        path: &object_store::path::Path,
        source: object_store::Error,
    ) -> Self {
        let path = path.to_string();
        match source {
            // A write answered "not found" is about the bucket, not the object.
            object_store::Error::NotFound { .. } if operation == "write" => {
                Self::Refused { operation, path, source }
            }
            // S3 answers 404 for a missing bucket as for a missing object; its body says which.
            object_store::Error::NotFound { source: ref body, .. }
                if body.to_string().contains("NoSuchBucket") =>
            {
                Self::Refused { operation, path, source }
            }
            object_store::Error::NotFound { .. } => Self::NotFound { path },
            object_store::Error::Unauthenticated { .. }
            | object_store::Error::PermissionDenied { .. } => {
                Self::Refused { operation, path, source }
            }
            // object_store reports a failed listing as a generic error; its text says whether
            // storage refused us (credentials, policy, bucket) rather than failed.
            source if refusal_in(&source) => Self::Refused { operation, path, source },
            source => Self::Unavailable { operation, path, source },
        }
    }
}

/// Whether an error's chain holds storage refusing the service itself.
fn refusal_in(error: &object_store::Error) -> bool {
    const REFUSALS: [&str; 6] = [
        "403 Forbidden",
        "401 Unauthorized",
        "AccessDenied",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "NoSuchBucket",
    ];
    let mut cause: Option<&dyn std::error::Error> = Some(error);
    while let Some(error) = cause {
        let text = error.to_string();
        if REFUSALS.iter().any(|r| text.contains(r)) {
            return true;
        }
        cause = error.source();
    }
    false
}
