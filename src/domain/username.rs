use super::error::DomainError;

/// The owner of a share, as it appears in share codes (`username/id`) and storage paths.
///
/// Usernames are case-insensitive (`Alice/x` and `alice/x` are the same share code), so they are
/// normalised to lower case when parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MAX_LEN: usize = 64;
    /// What a username looks like, as the OpenAPI document says it (`..` is refused too).
    pub const PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

    /// Accepts 1 to 64 ASCII letters, digits, `-`, `_` and `.`, starting with a letter or digit
    /// and without `..`: nothing that can climb out of, or add a level to, a storage path.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let fail = |why: &str| Err(DomainError::Username(why.to_owned()));
        if raw.is_empty() {
            return fail("it is empty");
        }
        if raw.len() > Self::MAX_LEN {
            return fail("it is longer than 64 characters");
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
            return fail("only ASCII letters, digits, '-', '_' and '.' are allowed");
        }
        if !raw.as_bytes()[0].is_ascii_alphanumeric() {
            return fail("it must start with a letter or a digit");
        }
        if raw.contains("..") {
            return fail("it must not contain '..'");
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How many characters [`Username::id_prefix`] has.
    pub const ID_PREFIX_LEN: usize = 8;

    /// The first characters of every id drawn for this owner (see [`ShareId::generate_for`]):
    /// 48 bits of the name's SHA-256, in the ids' alphabet. It lets storage keep an owner's
    /// shares under one prefix that an id alone also leads to. Two owners may share a prefix
    /// (rarely: 48 bits); listings check each share's owner, so that only costs a read.
    pub fn id_prefix(&self) -> String {
        use base64::Engine;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.0.as_bytes());
        let mut prefix = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..6]);
        prefix.truncate(Self::ID_PREFIX_LEN);
        prefix
    }
}

/// Stored as the plain name; read back through [`Username::parse`], so a stored record with a
/// name that could not be a username is refused as corrupt rather than trusted.
impl serde::Serialize for Username {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Username {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Username::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names_and_lowercases_them() {
        assert_eq!(Username::parse("viragtiwari").unwrap().as_str(), "viragtiwari");
        assert_eq!(Username::parse("John.Doe-2").unwrap().as_str(), "john.doe-2");
        assert!(Username::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn refuses_anything_that_could_escape_a_path() {
        for bad in [
            "",
            "..",
            "../etc",
            "a/b",
            "a%2Fb",
            "a\\b",
            ".hidden",
            "a..b",
            "-dash",
            "_x",
            "a b",
            "a\0b",
            "a\nb",
            "ålice",
            "用户",
            "a\u{202e}b",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Username::parse(&"a".repeat(65)).is_err());
    }
}
