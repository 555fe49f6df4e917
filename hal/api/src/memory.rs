//! Addresses, page permissions, the boot memory map and the frame allocator
//! interface the HAL uses for page tables.

use core::fmt;

/// A physical address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PhysAddr(pub u64);

/// A virtual address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VirtAddr(pub u64);

macro_rules! address_common {
    ($t:ident, $prefix:literal) => {
        impl $t {
            pub const fn as_u64(self) -> u64 {
                self.0
            }
            pub const fn is_page_aligned(self) -> bool {
                self.0 % crate::PAGE_SIZE as u64 == 0
            }
            pub const fn page_base(self) -> Self {
                Self(self.0 & !(crate::PAGE_SIZE as u64 - 1))
            }
            pub const fn page_offset(self) -> u64 {
                self.0 & (crate::PAGE_SIZE as u64 - 1)
            }
            pub const fn add(self, bytes: u64) -> Self {
                Self(self.0 + bytes)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "({:#x})"), self.0)
            }
        }
    };
}
address_common!(PhysAddr, "PhysAddr");
address_common!(VirtAddr, "VirtAddr");

impl VirtAddr {
    pub fn as_mut_ptr<T>(self) -> *mut T {
        self.0 as usize as *mut T
    }
}

/// Permissions of a mapped page. Pages are always readable.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct PageFlags {
    pub write: bool,
    pub execute: bool,
    /// Accessible from user mode.
    pub user: bool,
}

impl PageFlags {
    pub const USER_RO: Self = Self {
        write: false,
        execute: false,
        user: true,
    };
    pub const USER_RW: Self = Self {
        write: true,
        execute: false,
        user: true,
    };
    pub const USER_RX: Self = Self {
        write: false,
        execute: true,
        user: true,
    };
    pub const KERNEL_RW: Self = Self {
        write: true,
        execute: false,
        user: false,
    };
}

/// Why a mapping operation failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MapError {
    /// An address was not page aligned or outside the allowed half.
    BadAddress,
    /// The page is already mapped (map) or not mapped (unmap, protect).
    AlreadyMapped,
    NotMapped,
    /// No physical page for a page table.
    OutOfMemory,
}

/// Hands out zeroed 4 KiB physical pages.
pub trait FrameAllocator {
    /// A zeroed page, or `None` when memory is exhausted.
    fn alloc_frame(&mut self) -> Option<PhysAddr>;
    fn free_frame(&mut self, frame: PhysAddr);
}

/// One range of physical memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct MemoryRegion {
    pub start: PhysAddr,
    pub len: u64,
    pub kind: MemoryKind,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum MemoryKind {
    /// Free RAM the kernel may allocate.
    Usable,
    /// RAM holding the kernel image, boot tables, the device tree ...
    KernelAndBoot,
    /// Firmware, devices, anything else.
    #[default]
    Reserved,
}

/// Maximum number of regions in [`BootInfo`].
pub const MAX_REGIONS: usize = 64;

/// What the HAL learned at boot, handed to the kernel's entry.
#[derive(Debug)]
pub struct BootInfo {
    /// Where the memory map came from ("PVH start info", "device tree").
    pub source: &'static str,
    /// Physical memory, sorted by start, usable regions already excluding
    /// the kernel image and everything the HAL still uses.
    pub regions: [MemoryRegion; MAX_REGIONS],
    pub region_count: usize,
    /// Physical range of the loaded kernel image.
    pub kernel_start: PhysAddr,
    pub kernel_end: PhysAddr,
    /// Kernel command line (empty when none was given).
    pub cmdline: &'static str,
}

impl BootInfo {
    pub fn regions(&self) -> &[MemoryRegion] {
        &self.regions[..self.region_count]
    }
    pub fn usable(&self) -> impl Iterator<Item = &MemoryRegion> {
        self.regions()
            .iter()
            .filter(|r| r.kind == MemoryKind::Usable)
    }
}

/// Declare the kernel's entry point: `spinel_hal_api::kernel_entry!(main)` with
/// `fn main(info: &'static BootInfo) -> !`. The HAL's boot code calls it once
/// the console, the memory map and the direct map are ready.
#[macro_export]
macro_rules! kernel_entry {
    ($path:path) => {
        #[unsafe(export_name = "spinel_kernel_main")]
        pub extern "Rust" fn __spinel_kernel_main(info: &'static $crate::BootInfo) -> ! {
            let f: fn(&'static $crate::BootInfo) -> ! = $path;
            f(info)
        }
    };
}
