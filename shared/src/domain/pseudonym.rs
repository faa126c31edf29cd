//! The user as Plaid sees them: a stable pseudonym, never the app's own subject (which may be an email).

use super::UserId;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Makes `client_user_id`s: HMAC-SHA256 of the user id under a key of the deployment's, base64url (43
/// characters). Stable for a user as long as the key is, unlinkable to the subject without the key.
#[derive(Clone)]
pub struct UserPseudonyms {
    /// The MAC, keyed once.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for UserPseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserPseudonyms(***)")
    }
}

/// Why a pseudonym key is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the pseudonym key must be at least 32 bytes")]
pub struct WeakPseudonymKey;

impl UserPseudonyms {
    /// The shortest key accepted.
    pub const MIN_KEY_BYTES: usize = 32;

    pub fn new(key: impl Into<Vec<u8>>) -> Result<Self, WeakPseudonymKey> {
        let key = Zeroizing::new(key.into());
        if key.len() < Self::MIN_KEY_BYTES {
            return Err(WeakPseudonymKey);
        }
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&key).map_err(|_| WeakPseudonymKey)?;
        Ok(Self { keyed })
    }

    /// Pseudonyms under a fresh random key of this process (tests, local tools; deployed functions get the
    /// deployment's key): never the subject, but not stable across processes.
    pub fn ephemeral() -> Self {
        use aes_gcm::aead::Generate;
        use sha2::Digest;
        let key = <[u8; 32]>::try_generate().unwrap_or_else(|_| {
            // The OS generator failed: a key no one else can guess either (this process's random hasher
            // state, its id and the time), which is all an ephemeral key needs.
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
            );
            h.write_u32(std::process::id());
            Sha256::digest(h.finish().to_le_bytes()).into()
        });
        // A key shorter than SHA-256's 64-byte block is zero-padded by HMAC: the same MAC, built infallibly.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&key);
        Self { keyed: <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block.into()) }
    }

    /// The `client_user_id` Plaid gets for `user`.
    pub fn client_user_id(&self, user: &UserId) -> String {
        let mut mac = self.keyed.clone();
        mac.update(b"weft:client_user_id\0");
        mac.update(user.as_str().as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stable_keyed_and_never_the_subject() {
        let p = UserPseudonyms::new([7u8; 32]).unwrap();
        let alice = UserId::parse("alice@example.com").unwrap();
        let id = p.client_user_id(&alice);
        assert_eq!(id, p.client_user_id(&alice), "stable");
        assert_eq!(id.len(), 43);
        assert!(!id.contains("alice"));
        assert_ne!(id, p.client_user_id(&UserId::parse("bob@example.com").unwrap()));
        assert_ne!(id, UserPseudonyms::new([8u8; 32]).unwrap().client_user_id(&alice), "keyed");
        assert_eq!(UserPseudonyms::new([1u8; 31]).unwrap_err(), WeakPseudonymKey);
        assert_eq!(format!("{p:?}"), "UserPseudonyms(***)");
        let (a, b) = (UserPseudonyms::ephemeral(), UserPseudonyms::ephemeral());
        assert_ne!(a.client_user_id(&alice), b.client_user_id(&alice), "fresh keys");
        // The padded block key is the same MAC as the key itself.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&[7u8; 32]);
        let padded = UserPseudonyms { keyed: <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block.into()) };
        assert_eq!(padded.client_user_id(&alice), id);
    }
}
