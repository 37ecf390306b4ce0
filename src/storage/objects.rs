//! Small helpers over stored objects that several of the store's jobs use.

use super::StorageError;

/// Every object below `prefix`.
pub(crate) async fn list_under(
    store: &dyn object_store::ObjectStore,
    prefix: &str,
) -> Result<Vec<object_store::ObjectMeta>, StorageError> {
    use futures::TryStreamExt;
    let prefix = object_store::path::Path::from(prefix);
    store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| StorageError::from_store("list", &prefix, e))
}

/// Whether an entity tag a client sent (weak or strong, as this service hands them out)
/// names the stored version whose tag is `stored`.
pub fn etag_matches(sent: &str, stored: Option<&str>) -> bool {
    let bare = |tag: &str| tag.trim().trim_start_matches("W/").trim_matches('"').to_owned();
    stored.is_some_and(|stored| {
        sent.split(',').any(|tag| tag.trim() == "*" || bare(tag) == bare(stored))
    })
}

/// Whether storage refused a conditional write (something else is there, or another version).
pub(crate) fn is_refusal(error: &object_store::Error) -> bool {
    matches!(
        error,
        object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }
    )
}
