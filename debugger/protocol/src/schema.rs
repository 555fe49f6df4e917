//! The schema hash: a hash of `schema.txt`, the textual description of every
//! message type, kept beside them in this folder.
//!
//! `tests/schema.rs` renders the description from the types themselves
//! (through `serde-reflection`) and fails, printing the new text, when the
//! two differ: a change of the types cannot go out without a change of the
//! hash, and peers built from different message sets refuse each other at
//! the [`crate::Hello`].

/// The description of the message types (one line per type).
pub const SCHEMA: &str = include_str!("schema.txt");

/// 64-bit FNV-1a of [`SCHEMA`].
pub const SCHEMA_HASH: u64 = fnv1a64(SCHEMA.as_bytes());

/// 64-bit FNV-1a, usable in constants.
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
