//! Domain types that can only be built by parsing, so nothing invalid reaches storage paths.

mod api_key;
mod error;
mod link;
mod share_id;
pub mod share_options;
mod share_record;
mod team;
mod username;

pub use api_key::{ApiKey, KeyHash};
pub use error::DomainError;
pub use link::{Link, LinkKey};
pub use share_id::{IdKey, ShareId};
pub use share_options::{FieldError, ShareOptions};
pub use share_record::{RevisionInfo, ShareRecord};
pub use team::{Team, Visibility};
pub use username::Username;
