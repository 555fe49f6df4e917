//! Spinel's virtual memory, portable and tested on the host.
//!
//! Principles:
//! - **No hardware here.** Page tables are reached through the HAL's
//!   [`AddressSpace`](spinel_hal_api::AddressSpace) trait and physical pages
//!   through [`PhysicalMemory`], which the kernel implements over its direct
//!   map and the tests implement over plain vectors.
//! - **User memory is never touched directly.** Every access the kernel makes
//!   on behalf of a process (syscall arguments, `process_read_memory`, the
//!   loader) goes through [`VmSpace::read`] / [`VmSpace::write`], which find
//!   the physical pages through the process's page tables (a one-entry
//!   cache in front) when they are present with the access allowed, and
//!   otherwise through its mappings (committing pages on the way), and copy
//!   through the physical pages. A bad pointer is an error status, never a
//!   kernel fault, and SMAP/PAN never need relaxing.
//! - **Pages on demand.** A VMO commits a zeroed page the first time it is
//!   touched, by a user fault or a kernel copy alike.
#![cfg_attr(not(any(test, feature = "fake")), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod elf;
mod space;
mod vmo;

pub use space::{Access, Mapping, VmSpace};
pub use vmo::Vmo;

use spinel_hal_api::{FrameAllocator, PhysAddr};

/// Physical pages as the VM needs them. All offsets are within one page.
pub trait PhysicalMemory: Sync {
    /// A zero-filled page, or `None` when memory is exhausted.
    fn alloc_zeroed(&self) -> Option<PhysAddr>;
    fn free(&self, page: PhysAddr);
    fn read(&self, page: PhysAddr, offset: usize, out: &mut [u8]);
    fn write(&self, page: PhysAddr, offset: usize, data: &[u8]);
}

/// Adapter handing page-table pages to the HAL from a [`PhysicalMemory`].
pub struct Frames<'a>(pub &'a dyn PhysicalMemory);

impl FrameAllocator for Frames<'_> {
    fn alloc_frame(&mut self) -> Option<PhysAddr> {
        self.0.alloc_zeroed()
    }
    fn free_frame(&mut self, frame: PhysAddr) {
        self.0.free(frame)
    }
}

#[cfg(any(test, feature = "fake"))]
pub mod fake;
