//! Domain types that can only be built by parsing, so nothing invalid reaches storage paths.

mod api_key;
mod share_id;
pub mod share_options;
mod share_record;
mod username;

pub use api_key::{ApiKey, KeyHash};
pub use share_id::{IdKey, ShareId};
pub use share_options::{FieldError, ShareOptions};
pub use share_record::{RevisionInfo, ShareRecord};
pub use username::Username;

/// Why a piece of user input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("invalid username: {0}")]
    Username(String),
    #[error("invalid session id: {0}")]
    ShareId(String),
}
