//! Teams and who may see a share.

use serde::{Deserialize, Serialize};

use super::error::DomainError;

/// A team users are put in by an operator (`session-share teams`); a user is in one at most.
/// Names follow the rules of usernames and are lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Team(String);

impl Team {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let name = super::Username::parse(raw)
            .map_err(|e| DomainError::Team(e.to_string().replace("invalid username: ", "")))?;
        Ok(Self(name.as_str().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Team {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Team {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Team::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Who may read a share (besides its owner, and anyone holding a signed link to it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Anyone with its id.
    #[default]
    Public,
    /// Anyone in its owner's team, with their key.
    Team,
    /// Its owner.
    Private,
}

impl Visibility {
    /// `isPublic` as the API has always said it: `true` is public, `false` private.
    pub fn from_is_public(is_public: bool) -> Self {
        if is_public { Self::Public } else { Self::Private }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "public" => Some(Self::Public),
            "team" => Some(Self::Team),
            "private" => Some(Self::Private),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Team => "team",
            Self::Private => "private",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teams_are_names_and_visibility_reads_as_the_api_says_it() {
        assert_eq!(Team::parse("Acme").unwrap().as_str(), "acme");
        assert!(Team::parse("../x").is_err());
        for v in [Visibility::Public, Visibility::Team, Visibility::Private] {
            assert_eq!(Visibility::parse(v.as_str()), Some(v));
        }
        assert_eq!(Visibility::from_is_public(false), Visibility::Private);
    }
}
