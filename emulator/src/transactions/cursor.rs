//! Cursors: positions in an Item's log, as the opaque strings `/transactions/sync` hands out.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// A position in an Item's log, and (mid-pagination) the span being paged and the offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub from: u32,
    pub to: u32,
    pub offset: u32,
}

impl Cursor {
    /// A settled cursor: everything up to `pos` has been seen.
    pub fn at(pos: u32) -> Self {
        Cursor { from: pos, to: pos, offset: 0 }
    }

    /// Whether this cursor was issued with `has_more: true`.
    pub fn is_mid_pagination(&self) -> bool {
        self.offset > 0
    }

    fn tag(&self, item_id: &str, seed: u64) -> [u8; 8] {
        let mut h = Sha256::new();
        h.update(b"plaid-emulator cursor v1");
        h.update(seed.to_le_bytes());
        h.update(item_id.as_bytes());
        h.update(self.from.to_be_bytes());
        h.update(self.to.to_be_bytes());
        h.update(self.offset.to_be_bytes());
        let digest = h.finalize();
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&digest[..8]);
        tag
    }

    fn mask(item_id: &str, seed: u64, tag: &[u8; 8]) -> [u8; 13] {
        let mut h = Sha256::new();
        h.update(b"plaid-emulator cursor mask");
        h.update(seed.to_le_bytes());
        h.update(item_id.as_bytes());
        h.update(tag);
        let digest = h.finalize();
        let mut mask = [0u8; 13];
        mask.copy_from_slice(&digest[..13]);
        mask
    }

    /// The opaque string form: base64 of version and positions (masked with a keystream bound to
    /// the Item) and a tag that authenticates them.
    pub fn encode(&self, item_id: &str, seed: u64) -> String {
        let tag = self.tag(item_id, seed);
        let mut bytes = Vec::with_capacity(21);
        bytes.push(1u8);
        bytes.extend_from_slice(&self.from.to_be_bytes());
        bytes.extend_from_slice(&self.to.to_be_bytes());
        bytes.extend_from_slice(&self.offset.to_be_bytes());
        for (b, m) in bytes.iter_mut().zip(Self::mask(item_id, seed, &tag)) {
            *b ^= m;
        }
        bytes.extend_from_slice(&tag);
        STANDARD.encode(bytes)
    }

    /// Parses a cursor issued for this Item; `None` if it is malformed or belongs elsewhere.
    pub fn decode(s: &str, item_id: &str, seed: u64) -> Option<Cursor> {
        let mut bytes = STANDARD.decode(s).ok()?;
        if bytes.len() != 21 {
            return None;
        }
        let tag: [u8; 8] = bytes.get(13..21)?.try_into().ok()?;
        for (b, m) in bytes.iter_mut().zip(Self::mask(item_id, seed, &tag)) {
            *b ^= m;
        }
        if bytes[0] != 1 {
            return None;
        }
        let word = |i: usize| -> Option<u32> {
            let b: [u8; 4] = bytes.get(i..i + 4)?.try_into().ok()?;
            Some(u32::from_be_bytes(b))
        };
        let cursor = Cursor { from: word(1)?, to: word(5)?, offset: word(9)? };
        if cursor.from > cursor.to || tag != cursor.tag(item_id, seed) {
            return None;
        }
        Some(cursor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn cursors_are_opaque_and_bound_to_the_item() {
        let c = Cursor { from: 3, to: 40, offset: 10 };
        let s = c.encode("item", 1);
        assert!(s.parse::<u64>().is_err());
        assert_eq!(Cursor::decode(&s, "item", 1), Some(c));
        assert_eq!(Cursor::decode(&s, "other", 1), None);
        assert_eq!(Cursor::decode("garbage", "item", 1), None);
        assert_eq!(Cursor::decode("", "item", 1), None);
    }

    proptest! {
        #[test]
        fn cursors_round_trip_and_reject_tampering(from in 0u32..1000, len in 0u32..1000, offset in 0u32..1000, flip in 0usize..21) {
            let c = Cursor { from, to: from + len, offset };
            let s = c.encode("item", 9);
            prop_assert_eq!(Cursor::decode(&s, "item", 9), Some(c));
            let mut bytes = STANDARD.decode(&s).unwrap();
            bytes[flip] ^= 0x01;
            prop_assert_eq!(Cursor::decode(&STANDARD.encode(bytes), "item", 9), None);
        }
    }
}
