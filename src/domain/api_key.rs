use sha2::{Digest, Sha256};

/// A secret API key as issued to a user. It is shown once, when made, and otherwise only its
/// [`KeyHash`] is kept or compared. `Debug` never prints the secret.
pub struct ApiKey(String);

const PREFIX: &str = "ssk_";

impl ApiKey {
    /// A new key: `ssk_` and 43 URL-safe random characters (258 random bits).
    pub fn generate() -> Self {
        Self(format!("{PREFIX}{}", nanoid::nanoid!(43)))
    }

    /// Wraps a key a client presented. Any string is accepted: an unknown key simply hashes to
    /// something no stored record has.
    pub fn presented(raw: &str) -> Self {
        Self(raw.trim().to_owned())
    }

    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Keys carry 258 random bits, so a plain SHA-256 is enough to make the stored form useless
    /// to a thief; a slow password hash would only slow every request down.
    pub fn hash(&self) -> KeyHash {
        KeyHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// The SHA-256 of an API key, in lower-case hex: what storage holds and what lookups use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The short, public handle of a key (`keys list`, `keys revoke`, logs): the hash's first
    /// 12 hex digits. It reveals nothing about the key itself.
    pub fn key_id(&self) -> &str {
        &self.0[..12]
    }

    /// Parses a stored hash back (64 lower-case hex digits), e.g. from an object name.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(raw.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_never_debug_printed() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert!(a.expose_secret().starts_with("ssk_"));
        assert_eq!(a.expose_secret().len(), 47);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(!format!("{a:?}").contains(&a.expose_secret()[4..]));
    }

    #[test]
    fn a_presented_key_hashes_like_the_issued_one() {
        let issued = ApiKey::generate();
        let presented = ApiKey::presented(&format!(" {} ", issued.expose_secret()));
        assert_eq!(issued.hash(), presented.hash());
        assert_eq!(issued.hash().as_str().len(), 64);
        assert!(KeyHash::parse(issued.hash().as_str()).is_some());
        assert!(KeyHash::parse("../etc").is_none());
    }
}
