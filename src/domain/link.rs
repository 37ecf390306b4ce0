//! Signed links: a token that lets whoever holds it read one share until it expires, checked
//! by every replica with nothing but the service's link key (no lookup). It binds the share,
//! the expiry and the share's link generation (revoking a share's links moves the generation
//! on); it holds no key of anyone's.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::ShareId;

/// The secret links are signed with (`config/link-key`, beside the id key).
#[derive(Clone)]
pub struct LinkKey([u8; 32]);

impl LinkKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(<secret>)")
    }
}

/// What a link grants: reading `share` while its link generation is `generation`, until
/// `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub share: ShareId,
    pub expires_at: DateTime<Utc>,
    pub generation: u32,
}

/// The signature's length in bytes (128 bits).
const MAC_LEN: usize = 16;

impl Link {
    fn mac(&self, key: &LinkKey) -> [u8; MAC_LEN] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("any key length");
        mac.update(b"session-share link v1\0");
        mac.update(self.share.as_str().as_bytes());
        mac.update(&self.expires_at.timestamp().to_be_bytes());
        mac.update(&self.generation.to_be_bytes());
        mac.finalize().into_bytes()[..MAC_LEN].try_into().expect("long enough")
    }

    /// The token: `<expiry, unix seconds>.<generation>.<signature>`, URL-safe.
    pub fn token(&self, key: &LinkKey) -> String {
        let mac = URL_SAFE_NO_PAD.encode(self.mac(key));
        format!("{}.{}.{mac}", self.expires_at.timestamp(), self.generation)
    }

    /// The link `token` is for `share`, if it is one this key signed for it (expired or not:
    /// the caller compares the expiry and the generation with what holds now).
    pub fn verify(token: &str, share: &ShareId, key: &LinkKey) -> Option<Self> {
        let mut parts = token.trim().splitn(3, '.');
        let expires: i64 = parts.next()?.parse().ok()?;
        let generation: u32 = parts.next()?.parse().ok()?;
        let sent = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
        let link = Self {
            share: share.clone(),
            expires_at: DateTime::from_timestamp(expires, 0)?,
            generation,
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("any key length");
        mac.update(b"session-share link v1\0");
        mac.update(share.as_str().as_bytes());
        mac.update(&expires.to_be_bytes());
        mac.update(&generation.to_be_bytes());
        // Constant time: a forger learns nothing from how long a refusal takes.
        mac.verify_truncated_left(&sent).ok()?;
        (sent.len() == MAC_LEN).then_some(link)
    }

    /// Whether it lets someone read now, for a share whose link generation is `generation`.
    pub fn holds(&self, now: DateTime<Utc>, generation: u32) -> bool {
        self.expires_at > now && self.generation == generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ShareId {
        ShareId::parse(s).unwrap()
    }

    #[test]
    fn a_token_reads_back_only_for_its_share_key_and_generation() {
        let key = LinkKey::from_bytes([3; 32]);
        let share = id("K9gGyX8OELMtgEtasURHY");
        let at = DateTime::from_timestamp(2_000_000_000, 0).unwrap();
        let link = Link { share: share.clone(), expires_at: at, generation: 2 };
        let token = link.token(&key);
        assert!(!token.contains('/') && !token.contains('+') && !token.contains('='), "{token}");
        assert_eq!(Link::verify(&token, &share, &key), Some(link.clone()));
        assert!(link.holds(at - chrono::Duration::seconds(1), 2));
        assert!(!link.holds(at, 2), "expired at its expiry");
        assert!(!link.holds(at - chrono::Duration::seconds(1), 3), "revoked");
        assert_eq!(Link::verify(&token, &id("K9gGyX8OELMtgEtasURHZ"), &key), None, "another share");
        assert_eq!(
            Link::verify(&token, &share, &LinkKey::from_bytes([4; 32])),
            None,
            "another key"
        );
        // Any character changed.
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap();
            if changed != token {
                assert_eq!(Link::verify(&changed, &share, &key), None, "{changed}");
            }
        }
        for bad in ["", "x", "1.2", "1.2.", "a.b.c", &format!("{token}x")] {
            assert_eq!(Link::verify(bad, &share, &key), None, "{bad}");
        }
    }
}
