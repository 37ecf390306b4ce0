use super::{DomainError, Username};

/// The id of a share: 21 URL-safe random characters when this service makes it
/// (`HzKozOxIxl4dO0YijPu0q`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShareId(String);

impl ShareId {
    pub const GENERATED_LEN: usize = 21;
    /// Ids longer than ours are still looked up (and answer 404) rather than refused, so a
    /// future longer id format stays readable; beyond this they are refused outright.
    pub const MAX_LEN: usize = 64;

    /// Accepts 1 to 64 characters of the URL-safe alphabet `A-Z a-z 0-9 _ -`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let fail = |why: &str| Err(DomainError::ShareId(why.to_owned()));
        if raw.is_empty() {
            return fail("it is empty");
        }
        if raw.len() > Self::MAX_LEN {
            return fail("it is longer than 64 characters");
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')) {
            return fail("only the characters A-Z, a-z, 0-9, '_' and '-' are allowed");
        }
        Ok(Self(raw.to_owned()))
    }

    /// Ids this service draws start with their owner's prefix, this long.
    pub const OWNER_PREFIX_LEN: usize = 8;

    /// A fresh id for `owner`'s share: [`Username::id_prefix`] and 13 random characters of a
    /// 64-letter alphabet (78 random bits), 21 characters like the ids the extension knows.
    pub fn generate_for(owner: &Username) -> Self {
        const RANDOM_LEN: usize = ShareId::GENERATED_LEN - ShareId::OWNER_PREFIX_LEN;
        Self(format!("{}{}", owner.id_prefix(), nanoid::nanoid!(RANDOM_LEN)))
    }

    /// Where storage keeps the share (see [`ShareId::generate_for`]); for ids made before
    /// prefixes, and ids shorter than one, it leads nowhere and the older layout is used.
    pub fn prefix(&self) -> &str {
        &self.0[..self.0.len().min(Self::OWNER_PREFIX_LEN)]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ShareId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_21_url_safe_characters_and_parse_back() {
        let alice = Username::parse("alice").unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = ShareId::generate_for(&alice);
            assert_eq!(id.as_str().len(), 21);
            assert_eq!(ShareId::parse(id.as_str()).unwrap(), id);
            assert!(seen.insert(id), "ids repeat");
        }
    }

    #[test]
    fn ids_start_with_their_owners_prefix_and_owners_differ() {
        let (alice, bob) = (Username::parse("alice").unwrap(), Username::parse("Bob").unwrap());
        assert_eq!(ShareId::generate_for(&alice).prefix(), alice.id_prefix());
        assert_eq!(alice.id_prefix().len(), ShareId::OWNER_PREFIX_LEN);
        assert_ne!(alice.id_prefix(), bob.id_prefix());
        // Case-insensitive names, one prefix; and it never changes (stored shares rely on it).
        assert_eq!(bob.id_prefix(), Username::parse("bob").unwrap().id_prefix());
        assert_eq!(alice.id_prefix(), "K9gGyX8O");
        // Ids made before prefixes (or shorter than one) still have one: it leads nowhere.
        assert_eq!(ShareId::parse("abc").unwrap().prefix(), "abc");
    }

    #[test]
    fn accepts_the_seed_example() {
        assert!(ShareId::parse("HzKozOxIxl4dO0YijPu0q").is_ok());
    }

    #[test]
    fn refuses_path_tricks_and_non_ascii() {
        for bad in ["", "..", "a/b", "a%2Fb", "a.json", "a b", "é", "a\u{0}", "Hz\u{ff0f}x"] {
            assert!(ShareId::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(ShareId::parse(&"a".repeat(65)).is_err());
    }
}
