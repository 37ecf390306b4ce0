//! Why a piece of user input was refused.

const USERNAME: &str = "invalid username";
const SHARE_ID: &str = "invalid session id";
const TEAM: &str = "invalid team";

/// A username or id that cannot be one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{USERNAME}: {0}")]
    Username(String),
    #[error("{SHARE_ID}: {0}")]
    ShareId(String),
    #[error("{TEAM}: {0}")]
    Team(String),
}

impl DomainError {
    /// The error whose words (its `Display`) these are: a path parameter that did not parse
    /// reaches the error model as words only (poem-openapi keeps no more).
    pub fn from_words(words: &str) -> Option<Self> {
        let after =
            |prefix: &str| words.strip_prefix(prefix)?.strip_prefix(": ").map(str::to_owned);
        after(USERNAME)
            .map(Self::Username)
            .or_else(|| after(SHARE_ID).map(Self::ShareId))
            .or_else(|| after(TEAM).map(Self::Team))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_read_back_from_its_words() {
        for e in [DomainError::Username("x".into()), DomainError::ShareId("y: z".into())] {
            assert_eq!(DomainError::from_words(&e.to_string()), Some(e));
        }
        assert_eq!(DomainError::from_words("something else"), None);
    }
}
