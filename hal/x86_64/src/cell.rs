//! The one kind of mutable global state in this crate.

use core::cell::UnsafeCell;

/// A static the HAL changes in place: descriptor tables, boot page tables,
/// the boot information. Spinel runs on one CPU, and the HAL touches these
/// only during single-threaded boot or with interrupts disabled, so accesses
/// never overlap; `get` hands out a raw pointer and each user says in its
/// `SAFETY` comment why its access is exclusive.
#[repr(transparent)]
pub(crate) struct CpuLocal<T>(UnsafeCell<T>);

// SAFETY: there is one CPU and every access happens with interrupts disabled
// (or before they are ever enabled), so no two accesses run concurrently.
unsafe impl<T> Sync for CpuLocal<T> {}

impl<T> CpuLocal<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    pub(crate) const fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// A page-aligned stack for the boot thread and the interrupt-stack-table
/// entries; `N` bytes.
#[repr(C, align(4096))]
pub(crate) struct Stack<const N: usize>(pub(crate) [u8; N]);

impl<const N: usize> Stack<N> {
    pub(crate) const fn new() -> Self {
        Self([0; N])
    }
}

impl<const N: usize> CpuLocal<Stack<N>> {
    /// The address just past the end: the initial stack pointer.
    pub(crate) fn top(&self) -> u64 {
        self.get() as u64 + N as u64
    }
}
