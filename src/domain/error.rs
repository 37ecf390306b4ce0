//! Why a piece of user input was refused.

/// A username or id that cannot be one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("invalid username: {0}")]
    Username(String),
    #[error("invalid session id: {0}")]
    ShareId(String),
}
