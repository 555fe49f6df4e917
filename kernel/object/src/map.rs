//! [`IntMap`]: a hash map from integer keys (koids, handle values) to
//! values, for the kernel's hot lookups.
//!
//! Open addressing with linear probing over a power-of-two table that is at
//! most half full, Fibonacci hashing, and backward-shift deletion (no
//! tombstones), so a lookup is a multiply, a shift and a probe or two. The
//! order of iteration is the table's, not the keys': callers whose results
//! depend on an order sort what they collect.

use alloc::vec::Vec;

/// A map from `u64` keys to `V`.
pub struct IntMap<V> {
    slots: Vec<Option<(u64, V)>>,
    len: usize,
    /// `64 - log2(capacity)`: the top bits of the product pick the slot.
    shift: u32,
}

impl<V> Default for IntMap<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: core::fmt::Debug> core::fmt::Debug for IntMap<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut entries: Vec<(u64, &V)> = self.iter().collect();
        entries.sort_by_key(|(k, _)| *k);
        f.debug_map().entries(entries).finish()
    }
}

const MIN_CAPACITY: usize = 8;

impl<V> IntMap<V> {
    pub const fn new() -> Self {
        IntMap {
            slots: Vec::new(),
            len: 0,
            shift: 64,
        }
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// The slot holding `key`.
    #[inline]
    fn find(&self, key: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            match &self.slots[i] {
                Some((k, _)) if *k == key => return Some(i),
                Some(_) => i = (i + 1) & mask,
                None => return None,
            }
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn contains_key(&self, key: &u64) -> bool {
        self.find(*key).is_some()
    }

    #[inline]
    pub fn get(&self, key: &u64) -> Option<&V> {
        let i = self.find(*key)?;
        self.slots[i].as_ref().map(|(_, v)| v)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &u64) -> Option<&mut V> {
        let i = self.find(*key)?;
        self.slots[i].as_mut().map(|(_, v)| v)
    }

    /// Insert or replace; returns the value `key` had.
    pub fn insert(&mut self, key: u64, value: V) -> Option<V> {
        if let Some(i) = self.find(key) {
            let slot = self.slots[i].as_mut().expect("found");
            return Some(core::mem::replace(&mut slot.1, value));
        }
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        self.place(key, value);
        self.len += 1;
        None
    }

    /// Put a key known to be absent into its first free slot.
    fn place(&mut self, key: u64, value: V) {
        let mask = self.mask();
        let mut i = self.home(key);
        while self.slots[i].is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Some((key, value));
    }

    fn grow(&mut self) {
        let capacity = (self.slots.len() * 2).max(MIN_CAPACITY);
        let mut slots = Vec::with_capacity(capacity);
        slots.resize_with(capacity, || None);
        let old = core::mem::replace(&mut self.slots, slots);
        self.shift = 64 - capacity.trailing_zeros();
        for (key, value) in old.into_iter().flatten() {
            self.place(key, value);
        }
    }

    pub fn remove(&mut self, key: &u64) -> Option<V> {
        let mut hole = self.find(*key)?;
        let (_, value) = self.slots[hole].take().expect("found");
        self.len -= 1;
        // Backward shift: pull later entries of the probe run into the hole
        // when the hole lies between their home and where they are.
        let mask = self.mask();
        let mut j = (hole + 1) & mask;
        while let Some((k, _)) = &self.slots[j] {
            let home = self.home(*k);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[j].take();
                hole = j;
            }
            j = (j + 1) & mask;
        }
        Some(value)
    }

    /// Every (key, value), in table order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &V)> {
        self.slots
            .iter()
            .filter_map(|slot| slot.as_ref().map(|(k, v)| (*k, v)))
    }

    /// Every value, in table order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.slots
            .iter()
            .filter_map(|slot| slot.as_ref().map(|(_, v)| v))
    }

    /// Every value, mutably, in table order.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slots
            .iter_mut()
            .filter_map(|slot| slot.as_mut().map(|(_, v)| v))
    }

    /// Every key, sorted.
    pub fn sorted_keys(&self) -> Vec<u64> {
        let mut keys: Vec<u64> = self.iter().map(|(k, _)| k).collect();
        keys.sort_unstable();
        keys
    }

    /// Empty the map, returning its entries sorted by key.
    pub fn drain_sorted(&mut self) -> Vec<(u64, V)> {
        let slots = core::mem::take(&mut self.slots);
        self.len = 0;
        self.shift = 64;
        let mut entries: Vec<(u64, V)> = slots.into_iter().flatten().collect();
        entries.sort_unstable_by_key(|(k, _)| *k);
        entries
    }
}

impl<V> core::ops::Index<&u64> for IntMap<V> {
    type Output = V;
    #[track_caller]
    fn index(&self, key: &u64) -> &V {
        self.get(key).expect("key present in IntMap")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    /// Random inserts and removes agree with a BTreeMap.
    #[test]
    fn agrees_with_btreemap() {
        let mut ours = IntMap::new();
        let mut theirs = BTreeMap::new();
        let mut x: u64 = 0x1234_5678;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Small key space so that removals hit and probe runs collide.
            let key = (x % 97) * if step % 3 == 0 { 1 } else { 1 << 20 };
            if x & 4 == 0 {
                assert_eq!(ours.remove(&key), theirs.remove(&key));
            } else {
                assert_eq!(ours.insert(key, step), theirs.insert(key, step));
            }
            assert_eq!(ours.len(), theirs.len());
            assert_eq!(ours.get(&key), theirs.get(&key));
        }
        for (k, v) in &theirs {
            assert_eq!(ours.get(k), Some(v));
        }
        assert_eq!(
            ours.sorted_keys(),
            theirs.keys().copied().collect::<Vec<_>>()
        );
        let drained = ours.drain_sorted();
        assert_eq!(drained, theirs.into_iter().collect::<Vec<_>>());
        assert!(ours.is_empty());
        assert_eq!(ours.get(&1), None);
    }
}
