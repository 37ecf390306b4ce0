use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{error::DomainError, username::Username};

/// The id of a share: 21 URL-safe characters when this service makes it
/// (`K9gGyX8OAbcdefghijklm`): its owner's [`Username::id_prefix`], then 13 more.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShareId(String);

/// The secret behind the ids of shares made from a task (see [`ShareId::for_task`]): without
/// it, nobody can work out a task's share link from the task's id.
#[derive(Clone)]
pub struct IdKey([u8; 32]);

impl IdKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn generate() -> Self {
        Self(rand::random())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdKey(<secret>)")
    }
}

impl ShareId {
    /// Every id has this many characters.
    pub const LEN: usize = 21;
    /// What an id looks like, as the OpenAPI document says it.
    pub const PATTERN: &str = "^[A-Za-z0-9_-]{21}$";
    /// Ids this service makes start with their owner's prefix, this long.
    pub const OWNER_PREFIX_LEN: usize = Username::ID_PREFIX_LEN;
    const TAIL_LEN: usize = Self::LEN - Self::OWNER_PREFIX_LEN;

    /// Accepts 21 characters of the URL-safe alphabet `A-Z a-z 0-9 _ -`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let fail = |why: &str| Err(DomainError::ShareId(why.to_owned()));
        if raw.len() != Self::LEN {
            return fail("a share id has 21 characters");
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')) {
            return fail("only the characters A-Z, a-z, 0-9, '_' and '-' are allowed");
        }
        Ok(Self(raw.to_owned()))
    }

    /// A fresh id for a share of `owner` that no task leads to: the owner's prefix and 13
    /// random characters (78 random bits).
    pub fn generate_for(owner: &Username) -> Self {
        const TAIL: usize = ShareId::TAIL_LEN;
        Self(format!("{}{}", owner.id_prefix(), nanoid::nanoid!(TAIL)))
    }

    /// The id of `owner`'s share of task `task_id`, in its `generation`: the same for every
    /// share of that task, so sharing it again finds the share it made before. A share that
    /// was deleted or expired keeps its generation for good, and the task's next share takes
    /// the next one (a new link). The tail is 78 bits of HMAC-SHA256 under `key`.
    pub fn for_task(key: &IdKey, owner: &Username, task_id: &str, generation: u32) -> Self {
        use base64::Engine;
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
        // Lengths first, so that no two (owner, task) pairs feed the same bytes.
        for part in [owner.as_str().as_bytes(), task_id.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(&generation.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let mut tail = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..12]);
        tail.truncate(Self::TAIL_LEN);
        Self(format!("{}{tail}", owner.id_prefix()))
    }

    /// The first characters, which name the owner's prefix in ids this service makes; for
    /// other ids they lead nowhere.
    pub fn prefix(&self) -> &str {
        &self.0[..Self::OWNER_PREFIX_LEN]
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

/// Stored as the id; read back through [`ShareId::parse`].
impl serde::Serialize for ShareId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ShareId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        ShareId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_21_url_safe_characters_and_parse_back() {
        let alice = Username::parse("alice").unwrap();
        let key = IdKey::generate();
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000 {
            for id in [ShareId::generate_for(&alice), ShareId::for_task(&key, &alice, "t", i)] {
                assert_eq!(id.as_str().len(), ShareId::LEN);
                assert_eq!(ShareId::parse(id.as_str()).unwrap(), id);
                assert!(seen.insert(id), "ids repeat");
            }
        }
    }

    #[test]
    fn a_task_leads_to_one_id_per_owner_key_and_generation() {
        let (alice, bob) = (Username::parse("alice").unwrap(), Username::parse("bob").unwrap());
        let key = IdKey::from_bytes([7; 32]);
        let id = ShareId::for_task(&key, &alice, "task-1", 0);
        assert_eq!(id, ShareId::for_task(&key, &alice, "task-1", 0), "stable");
        assert_eq!(id.prefix(), alice.id_prefix());
        for other in [
            ShareId::for_task(&key, &bob, "task-1", 0),
            ShareId::for_task(&key, &alice, "task-2", 0),
            ShareId::for_task(&key, &alice, "task-1", 1),
            ShareId::for_task(&IdKey::from_bytes([8; 32]), &alice, "task-1", 0),
        ] {
            assert_ne!(other, id);
        }
        // Pinned: stored shares are found again through it.
        assert_eq!(id.as_str(), "K9gGyX8OELMtgEtasURHY");
    }

    #[test]
    fn ids_start_with_their_owners_prefix() {
        let (alice, bob) = (Username::parse("alice").unwrap(), Username::parse("Bob").unwrap());
        assert_eq!(ShareId::generate_for(&alice).prefix(), alice.id_prefix());
        assert_eq!(alice.id_prefix().len(), ShareId::OWNER_PREFIX_LEN);
        assert_ne!(alice.id_prefix(), bob.id_prefix());
        // Case-insensitive names, one prefix; and it never changes (stored shares rely on it).
        assert_eq!(bob.id_prefix(), Username::parse("bob").unwrap().id_prefix());
        assert_eq!(alice.id_prefix(), "K9gGyX8O");
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
        assert!(
            ShareId::parse(&"a".repeat(20)).is_err() && ShareId::parse(&"a".repeat(22)).is_err()
        );
        assert!(ShareId::parse(&format!("{}/", "a".repeat(20))).is_err());
    }
}
