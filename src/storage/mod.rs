//! Object storage: where shares and key hashes live, behind one `Arc<dyn ObjectStore>`.
//!
//! [`layout`] says where each thing is kept; [`share_file`] what a stored share is (a
//! standard gzip file of the uploaded JSON, its record in the gzip header); [`SessionStore`]
//! makes, reads, revises, changes, lists and deletes shares, one job per file.

mod backend;
mod caches;
mod create;
mod error;
mod gc;
mod key_store;
pub mod layout;
mod listing;
mod objects;
mod owner_index;
mod owners;
mod probe;
mod read;
mod rescan;
mod retry;
mod revise;
mod secrets;
pub mod share_file;
mod store;
mod teams;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
mod traced;
mod update;
mod writes;

pub use backend::{OpenedStore, S3Options, StorageUrl, open_store, open_store_bounded};
pub use create::{CLOCK_ALLOWANCE, Placement};
pub use error::StorageError;
pub use gc::GcReport;
pub use key_store::{KeyRecord, KeyStore, KeyStoreError};
pub use listing::{ListPage, ListPosition};
pub use objects::etag_matches;
pub(crate) use objects::list_under;
pub use probe::{ConditionalWrites, ConditionalWritesState, probe_conditional_writes};
pub use read::Opened;
pub use rescan::{Cleaned, Hit, ScanReport};
pub use share_file::Compressed;
pub use store::{DEFAULT_MAX_REVISIONS, IdSource, MAX_REVISIONS_LIMIT, SessionStore};
pub use teams::TeamStore;
pub use traced::StorageBounds;
pub use update::UpdateError;
pub use writes::{Created, NewShare};
