//! Handles and per-process handle tables.
//!
//! A handle is a (kernel object, rights) pair owned by exactly one place: a
//! process's table, a message in a channel, or the kernel itself (e.g. the
//! kernel end of an exception channel). [`Handle`] is deliberately not
//! `Clone`: creating and dropping one goes through the kernel, which counts
//! handles per object and reacts when the last one goes.
//!
//! Handle values are not indexes: each table scrambles a never-repeating
//! serial number through a keyed bijection, so values are hard to guess and
//! are not reused for 2^30 allocations.

use alloc::vec::Vec;
use spinel_abi::{HandleValue, Koid, Rights};

use crate::map::IntMap;

/// One handle. Not `Clone`: see the module documentation.
#[derive(PartialEq, Eq, Debug)]
pub struct Handle {
    pub(crate) koid: Koid,
    pub(crate) rights: Rights,
}

impl Handle {
    pub fn koid(&self) -> Koid {
        self.koid
    }
    pub fn rights(&self) -> Rights {
        self.rights
    }
}

/// Most handles one process may hold.
pub const MAX_HANDLES_PER_PROCESS: usize = 64 * 1024;

const VALUE_BITS: u32 = 30;
const VALUE_MASK: u32 = (1 << VALUE_BITS) - 1;

/// A process's handles, by value.
#[derive(Debug)]
pub struct HandleTable {
    entries: IntMap<Handle>,
    serial: u32,
    secret: u32,
}

impl HandleTable {
    pub(crate) fn new(secret: u64) -> Self {
        HandleTable {
            entries: IntMap::new(),
            serial: 0,
            secret: (secret ^ (secret >> 32)) as u32,
        }
    }

    /// Keyed bijection on 30 bits (xor, odd multiply, xorshift: each step is
    /// invertible), then the fixed low bits.
    fn scramble(&self, serial: u32) -> u32 {
        let mut x = (serial ^ self.secret) & VALUE_MASK;
        x = x.wrapping_mul(0x2c1b_3c6d) & VALUE_MASK;
        x ^= x >> 15;
        x = x.wrapping_mul(0x297a_2d39) & VALUE_MASK;
        x ^= x >> 13;
        (x << 2) | HandleValue::FIXED_BITS
    }

    pub(crate) fn is_full(&self) -> bool {
        self.entries.len() >= MAX_HANDLES_PER_PROCESS
    }

    pub(crate) fn insert(&mut self, handle: Handle) -> HandleValue {
        loop {
            self.serial = self.serial.wrapping_add(1) & VALUE_MASK;
            let value = self.scramble(self.serial);
            if !self.entries.contains_key(&u64::from(value)) {
                self.entries.insert(u64::from(value), handle);
                return HandleValue(value);
            }
        }
    }

    #[inline]
    pub(crate) fn get(&self, value: HandleValue) -> Option<&Handle> {
        self.entries.get(&u64::from(value.0))
    }

    pub(crate) fn remove(&mut self, value: HandleValue) -> Option<Handle> {
        self.entries.remove(&u64::from(value.0))
    }

    /// Every handle, in order of value; the table is left empty.
    pub(crate) fn drain(&mut self) -> Vec<Handle> {
        self.entries
            .drain_sorted()
            .into_iter()
            .map(|(_, h)| h)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether some handle names `koid` with at least `rights`.
    pub(crate) fn holds(&self, koid: Koid, rights: Rights) -> bool {
        self.entries
            .values()
            .any(|h| h.koid == koid && h.rights.contains(rights))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (HandleValue, &Handle)> {
        self.entries.iter().map(|(v, h)| (HandleValue(v as u32), h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_unique_nonzero_and_not_reused_at_once() {
        let mut table = HandleTable::new(0x1234_5678_9abc_def0);
        let mut seen = alloc::collections::BTreeSet::new();
        for _ in 0..10_000 {
            let v = table.insert(Handle {
                koid: 1,
                rights: Rights::NONE,
            });
            assert_ne!(v, HandleValue::INVALID);
            assert_eq!(v.0 & 3, 3);
            assert!(seen.insert(v), "value reused");
            table.remove(v);
        }
    }

    #[test]
    fn values_differ_between_tables() {
        let mut a = HandleTable::new(1);
        let mut b = HandleTable::new(2);
        let va = a.insert(Handle {
            koid: 1,
            rights: Rights::NONE,
        });
        let vb = b.insert(Handle {
            koid: 1,
            rights: Rights::NONE,
        });
        assert_ne!(va, vb);
        // Consecutive values are not consecutive integers.
        let va2 = a.insert(Handle {
            koid: 1,
            rights: Rights::NONE,
        });
        assert_ne!(va2.0.wrapping_sub(va.0), 4);
    }
}
