//! Translation tables: the kernel's upper half (TTBR1) built once at boot,
//! and user address spaces (TTBR0), one table tree and one ASID each.
//!
//! Layout of the 48-bit halves (4 KiB granule, four levels):
//!
//! | virtual range                     | what                                   |
//! | --------------------------------- | -------------------------------------- |
//! | `0 .. USER_TOP`                   | user space of the active process       |
//! | `KERNEL_OFFSET + pa`              | the kernel image, per-section rights   |
//! | `DIRECT_MAP_BASE + pa`            | all RAM (Normal) and our MMIO (Device) |
//!
//! Descriptor bits are written as named constants below; register values
//! (TCR, MAIR, SCTLR) come from `cpu.rs`.

use crate::cpu::{MAIR_INDEX_DEVICE, MAIR_INDEX_NORMAL};
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{TTBR0_EL1, Writeable};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use spinel_hal_api::{
    FrameAllocator, MapError, PAGE_SIZE, PageFlags, PhysAddr, USER_TOP, VirtAddr,
};

/// Virtual address of the kernel image = `KERNEL_OFFSET` + physical address
/// (must match `link.ld`).
pub const KERNEL_OFFSET: u64 = 0xffff_0000_0000_0000;
/// Virtual address of physical memory in the direct map.
pub const DIRECT_MAP_BASE: u64 = 0xffff_8000_0000_0000;

const PAGE: u64 = PAGE_SIZE as u64;
const ENTRIES: usize = 512;

// Stage 1 descriptor bits (Arm ARM D8.3, VMSAv8-64 translation table format).
/// The descriptor is valid.
const VALID: u64 = 1 << 0;
/// At levels 0-2: points to a next-level table (clear: a block). At level 3:
/// must be set for a page.
const TABLE_OR_PAGE: u64 = 1 << 1;
/// Shift of the MAIR index (AttrIndx[2:0]).
const ATTR_INDEX_SHIFT: u64 = 2;
/// AP[1]: EL0 may access the page.
const AP_EL0: u64 = 1 << 6;
/// AP[2]: read only (at every level that may access it).
const AP_READ_ONLY: u64 = 1 << 7;
/// SH[1:0] = inner shareable.
const SHARE_INNER: u64 = 0b11 << 8;
/// Access flag: set up front, so no access-flag faults are taken.
const ACCESS_FLAG: u64 = 1 << 10;
/// nG: the translation belongs to one ASID (user pages).
const NOT_GLOBAL: u64 = 1 << 11;
/// EL1 may not execute.
const PXN: u64 = 1 << 53;
/// EL0 may not execute.
const UXN: u64 = 1 << 54;
/// Output address bits of a table, block or page descriptor.
const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

const NORMAL: u64 = (MAIR_INDEX_NORMAL << ATTR_INDEX_SHIFT) | SHARE_INNER | ACCESS_FLAG;
const DEVICE: u64 = (MAIR_INDEX_DEVICE << ATTR_INDEX_SHIFT) | ACCESS_FLAG | PXN | UXN;

/// Attributes (without the level-dependent type bit) of kernel mappings.
pub const KERNEL_TEXT: u64 = NORMAL | AP_READ_ONLY | UXN;
pub const KERNEL_READ_ONLY: u64 = NORMAL | AP_READ_ONLY | UXN | PXN;
pub const KERNEL_READ_WRITE: u64 = NORMAL | UXN | PXN;
pub const KERNEL_DEVICE: u64 = DEVICE;

/// The boot assembly's 1 GiB blocks: kernel RAM (executable, it runs from
/// there until the final tables are in) and the device gigabyte.
pub const BOOT_BLOCK_RAM: u64 = VALID | NORMAL | UXN;
pub const BOOT_BLOCK_DEVICE: u64 = VALID | DEVICE;

/// Kernel virtual address of physical address `pa` (direct map).
pub fn phys_to_virt(pa: PhysAddr) -> VirtAddr {
    VirtAddr(DIRECT_MAP_BASE + pa.0)
}

/// Bits of `va` that index the table at `level` (0 = root).
fn index(va: u64, level: usize) -> usize {
    ((va >> (39 - 9 * level)) & (ENTRIES as u64 - 1)) as usize
}

/// Bytes covered by one entry at `level`.
fn entry_span(level: usize) -> u64 {
    1 << (39 - 9 * level)
}

/// One translation table, reached through the direct map.
#[derive(Clone, Copy)]
struct Table(u64);

impl Table {
    fn entry(self, index: usize) -> *mut u64 {
        debug_assert!(index < ENTRIES);
        (DIRECT_MAP_BASE + self.0 + 8 * index as u64) as *mut u64
    }

    fn read(self, index: usize) -> u64 {
        // SAFETY: `self.0` is the physical address of a live table page
        // (allocated by this module), and all RAM is in the direct map.
        unsafe { self.entry(index).read_volatile() }
    }

    fn write(self, index: usize, descriptor: u64) {
        // SAFETY: as in `read`; the walker reads tables concurrently, which
        // is why every writer issues `dsb ishst` before relying on the entry.
        unsafe { self.entry(index).write_volatile(descriptor) }
    }
}

fn is_table(descriptor: u64, level: usize) -> bool {
    level < 3 && descriptor & (VALID | TABLE_OR_PAGE) == VALID | TABLE_OR_PAGE
}

/// Descend from `root` to the table at `level` that covers `va`, creating
/// missing tables with `alloc`.
fn walk_create(
    root: u64,
    va: u64,
    level: usize,
    alloc: &mut dyn FnMut() -> Option<u64>,
) -> Result<Table, MapError> {
    let mut table = Table(root);
    for current in 0..level {
        let i = index(va, current);
        let descriptor = table.read(i);
        if descriptor & VALID == 0 {
            let next = alloc().ok_or(MapError::OutOfMemory)?;
            table.write(i, next | VALID | TABLE_OR_PAGE);
            table = Table(next);
        } else if is_table(descriptor, current) {
            table = Table(descriptor & ADDRESS_MASK);
        } else {
            // A block already covers this range.
            return Err(MapError::AlreadyMapped);
        }
    }
    Ok(table)
}

/// The leaf (block or page) descriptor mapping `va`: its table, index and
/// level.
fn walk_find(root: u64, va: u64) -> Option<(Table, usize, usize)> {
    let mut table = Table(root);
    for level in 0..4 {
        let i = index(va, level);
        let descriptor = table.read(i);
        if descriptor & VALID == 0 {
            return None;
        }
        if !is_table(descriptor, level) {
            return Some((table, i, level));
        }
        table = Table(descriptor & ADDRESS_MASK);
    }
    None
}

/// Make table writes visible to the walker.
fn publish_tables() {
    barrier::dsb(barrier::ISHST);
    barrier::isb(barrier::SY);
}

/// Map `[va, va + len)` to `[pa, pa + len)` with `attributes`, using 1 GiB
/// and 2 MiB blocks where alignment allows (kernel half only).
fn map_range(
    root: u64,
    va: u64,
    pa: u64,
    len: u64,
    attributes: u64,
    allow_blocks: bool,
    alloc: &mut dyn FnMut() -> Option<u64>,
) -> Result<(), MapError> {
    let mut offset = 0;
    while offset < len {
        let (v, p, left) = (va + offset, pa + offset, len - offset);
        // Level 1 and 2 blocks, then level 3 pages.
        let level = (1..=3)
            .find(|&level| {
                let span = entry_span(level);
                level == 3 || (allow_blocks && v % span == 0 && p % span == 0 && left >= span)
            })
            .unwrap_or(3);
        let table = walk_create(root, v, level, alloc)?;
        let type_bit = if level == 3 { TABLE_OR_PAGE } else { 0 };
        let i = index(v, level);
        if table.read(i) & VALID != 0 {
            return Err(MapError::AlreadyMapped);
        }
        table.write(i, p | attributes | VALID | type_bit);
        offset += entry_span(level);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The kernel half, built once at boot from a pool inside the image.

/// Tables for the kernel half come from here (before any frame allocator
/// exists). 64 pages cover the image in 4 KiB pages plus a direct map of
/// RAM in blocks.
const BOOT_POOL_PAGES: usize = 64;

#[repr(C, align(4096))]
struct PoolPage([u8; PAGE_SIZE]);

struct BootPool {
    pages: UnsafeCell<[PoolPage; BOOT_POOL_PAGES]>,
    next: AtomicU64,
}

// SAFETY: pages are handed out once each (atomic bump index) and only
// written through the page-table code.
unsafe impl Sync for BootPool {}

static BOOT_POOL: BootPool = BootPool {
    pages: UnsafeCell::new([const { PoolPage([0; PAGE_SIZE]) }; BOOT_POOL_PAGES]),
    next: AtomicU64::new(0),
};

/// A zeroed page of the pool, by physical address.
fn boot_pool_alloc() -> Option<u64> {
    let n = BOOT_POOL.next.fetch_add(1, Ordering::Relaxed) as usize;
    if n >= BOOT_POOL_PAGES {
        return None;
    }
    let va = BOOT_POOL.pages.get() as u64 + (n * PAGE_SIZE) as u64;
    Some(va - KERNEL_OFFSET)
}

/// Root of the empty lower half used when no user space is active (ASID 0).
static EMPTY_USER_ROOT: AtomicU64 = AtomicU64::new(0);
/// Root of the lower half currently in TTBR0.
static ACTIVE_USER_ROOT: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" {
    static __spinel_kernel_start: u8;
    static __spinel_text_end: u8;
    static __spinel_rodata_end: u8;
    static __spinel_kernel_end: u8;
}

/// Virtual bounds of the kernel image sections, from `link.ld`.
pub struct ImageBounds {
    pub start: u64,
    pub text_end: u64,
    pub rodata_end: u64,
    pub end: u64,
}

pub fn image_bounds() -> ImageBounds {
    ImageBounds {
        start: &raw const __spinel_kernel_start as u64,
        text_end: &raw const __spinel_text_end as u64,
        rodata_end: &raw const __spinel_rodata_end as u64,
        end: &raw const __spinel_kernel_end as u64,
    }
}

/// Physical address of a virtual address inside the kernel image.
pub fn kernel_image_phys(va: VirtAddr) -> Option<PhysAddr> {
    let image = image_bounds();
    (image.start..image.end)
        .contains(&va.as_u64())
        .then(|| PhysAddr(va.as_u64() - KERNEL_OFFSET))
}

/// Build the final kernel half: the image with per-section rights, the
/// direct map of `ram` (Normal) and `devices` (Device-nGnRnE), then switch
/// TTBR1 to it and TTBR0 to an empty table.
pub fn init_kernel_space(ram: &[(u64, u64)], devices: &[(u64, u64)]) -> Result<(), MapError> {
    let alloc = &mut boot_pool_alloc;
    let root = alloc().ok_or(MapError::OutOfMemory)?;
    let image = image_bounds();
    let sections = [
        (image.start, image.text_end, KERNEL_TEXT),
        (image.text_end, image.rodata_end, KERNEL_READ_ONLY),
        (image.rodata_end, image.end, KERNEL_READ_WRITE),
    ];
    for (start, end, attributes) in sections {
        map_range(
            root,
            start,
            start - KERNEL_OFFSET,
            end - start,
            attributes,
            false,
            alloc,
        )?;
    }
    for &(pa, len) in ram {
        map_range(
            root,
            DIRECT_MAP_BASE + pa,
            pa,
            len,
            KERNEL_READ_WRITE,
            true,
            alloc,
        )?;
    }
    for &(pa, len) in devices {
        let start = pa & !(PAGE - 1);
        let end = (pa + len).next_multiple_of(PAGE);
        match map_range(
            root,
            DIRECT_MAP_BASE + start,
            start,
            end - start,
            KERNEL_DEVICE,
            false,
            alloc,
        ) {
            // Two devices may share a page.
            Ok(()) | Err(MapError::AlreadyMapped) => {}
            Err(e) => return Err(e),
        }
    }
    let empty = alloc().ok_or(MapError::OutOfMemory)?;
    EMPTY_USER_ROOT.store(empty, Ordering::Relaxed);
    ACTIVE_USER_ROOT.store(empty, Ordering::Relaxed);
    publish_tables();
    crate::boot::switch_kernel_tables(root, empty);
    Ok(())
}

// ---------------------------------------------------------------------------
// ASIDs: 8-bit, handed out in generations. A space keeps its ASID while its
// generation is current; when the 255 ASIDs of a generation are used up, the
// whole TLB is flushed and a new generation starts.

const ASID_COUNT: u64 = 256;

struct Asids {
    generation: u64,
    next: u64,
}

static ASIDS: spin::Mutex<Asids> = spin::Mutex::new(Asids {
    generation: 1,
    next: 1,
});

/// `generation << 16 | asid`; generation 0 = never activated.
fn tag_asid(tag: u64) -> u64 {
    tag & 0xffff
}

fn tag_generation(tag: u64) -> u64 {
    tag >> 16
}

/// Invalidate the TLB entries of one user page, if the space may have any.
fn flush_page(tag: u64, va: u64) {
    if tag_generation(tag) != ASIDS.lock().generation {
        return;
    }
    let operand = (tag_asid(tag) << 48) | ((va >> 12) & ((1 << 44) - 1));
    barrier::dsb(barrier::ISHST);
    // SAFETY: TLB maintenance has no memory-safety effect beyond forcing
    // new walks.
    unsafe { core::arch::asm!("tlbi vae1is, {}", in(reg) operand, options(nostack)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
}

/// Invalidate every TLB entry of one ASID, if the space may have any.
fn flush_asid(tag: u64) {
    if tag_generation(tag) != ASIDS.lock().generation {
        return;
    }
    barrier::dsb(barrier::ISHST);
    // SAFETY: as in `flush_page`.
    unsafe { core::arch::asm!("tlbi aside1is, {}", in(reg) tag_asid(tag) << 48, options(nostack)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
}

fn set_ttbr0(root: u64, asid: u64) {
    TTBR0_EL1.write(TTBR0_EL1::BADDR.val(root >> 1) + TTBR0_EL1::ASID.val(asid));
    barrier::isb(barrier::SY);
    ACTIVE_USER_ROOT.store(root, Ordering::Relaxed);
}

// ---------------------------------------------------------------------------
// User address spaces.

/// A user address space: the root of a lower-half table tree and its ASID.
pub struct AddressSpace {
    root: u64,
    asid_tag: AtomicU64,
}

impl AddressSpace {
    fn leaf_attributes(flags: PageFlags) -> u64 {
        // User-space tables are never executed by the kernel (PXN always).
        let mut bits = NORMAL | NOT_GLOBAL | PXN;
        if flags.user {
            bits |= AP_EL0;
        }
        if !flags.write {
            bits |= AP_READ_ONLY;
        }
        if !(flags.execute && flags.user) {
            bits |= UXN;
        }
        bits
    }

    fn flags_of(descriptor: u64) -> PageFlags {
        let user = descriptor & AP_EL0 != 0;
        PageFlags {
            write: descriptor & AP_READ_ONLY == 0,
            execute: if user {
                descriptor & UXN == 0
            } else {
                descriptor & PXN == 0
            },
            user,
        }
    }

    fn check_user_page(va: VirtAddr) -> Result<(), MapError> {
        if !va.is_page_aligned() || va.0 >= USER_TOP {
            return Err(MapError::BadAddress);
        }
        Ok(())
    }

    /// The level-3 entry mapping `va`, if one exists.
    fn find_page(&self, va: u64) -> Option<(Table, usize)> {
        match walk_find(self.root, va) {
            Some((table, i, 3)) => Some((table, i)),
            _ => None,
        }
    }

    fn free_tree(table: u64, level: usize, frames: &mut dyn FrameAllocator) {
        if level < 3 {
            for i in 0..ENTRIES {
                let descriptor = Table(table).read(i);
                if is_table(descriptor, level) {
                    Self::free_tree(descriptor & ADDRESS_MASK, level + 1, frames);
                }
            }
        }
        frames.free_frame(PhysAddr(table));
    }
}

impl spinel_hal_api::AddressSpace for AddressSpace {
    fn new(frames: &mut dyn FrameAllocator) -> Result<Self, MapError> {
        let root = frames.alloc_frame().ok_or(MapError::OutOfMemory)?;
        Ok(Self {
            root: root.0,
            asid_tag: AtomicU64::new(0),
        })
    }

    fn map(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        flags: PageFlags,
        frames: &mut dyn FrameAllocator,
    ) -> Result<(), MapError> {
        Self::check_user_page(va)?;
        if !pa.is_page_aligned() || pa.0 & !ADDRESS_MASK != 0 {
            return Err(MapError::BadAddress);
        }
        let mut alloc = || frames.alloc_frame().map(|f| f.0);
        let table = walk_create(self.root, va.0, 3, &mut alloc)?;
        let i = index(va.0, 3);
        if table.read(i) & VALID != 0 {
            return Err(MapError::AlreadyMapped);
        }
        // Invalid to valid needs no TLB maintenance: translation faults are
        // never cached.
        table.write(
            i,
            pa.0 | Self::leaf_attributes(flags) | VALID | TABLE_OR_PAGE,
        );
        publish_tables();
        Ok(())
    }

    fn unmap(&mut self, va: VirtAddr) -> Result<PhysAddr, MapError> {
        Self::check_user_page(va)?;
        let (table, i) = self.find_page(va.0).ok_or(MapError::NotMapped)?;
        let descriptor = table.read(i);
        table.write(i, 0);
        flush_page(self.asid_tag.load(Ordering::Relaxed), va.0);
        Ok(PhysAddr(descriptor & ADDRESS_MASK))
    }

    fn protect(&mut self, va: VirtAddr, flags: PageFlags) -> Result<(), MapError> {
        Self::check_user_page(va)?;
        let (table, i) = self.find_page(va.0).ok_or(MapError::NotMapped)?;
        let descriptor = table.read(i);
        // Only permissions change (same output address and memory type), so
        // no break-before-make is needed; the old rights are flushed after.
        table.write(
            i,
            (descriptor & ADDRESS_MASK) | Self::leaf_attributes(flags) | VALID | TABLE_OR_PAGE,
        );
        flush_page(self.asid_tag.load(Ordering::Relaxed), va.0);
        Ok(())
    }

    fn translate(&self, va: VirtAddr) -> Option<(PhysAddr, PageFlags)> {
        if va.0 >= USER_TOP {
            return None;
        }
        let (table, i) = self.find_page(va.0)?;
        let descriptor = table.read(i);
        Some((
            PhysAddr((descriptor & ADDRESS_MASK) | va.page_offset()),
            Self::flags_of(descriptor),
        ))
    }

    fn activate(&self) {
        let mut asids = ASIDS.lock();
        let mut tag = self.asid_tag.load(Ordering::Relaxed);
        if tag_generation(tag) != asids.generation {
            if asids.next == ASID_COUNT {
                // Roll over: every old ASID is now stale in the TLB.
                asids.generation += 1;
                asids.next = 1;
                barrier::dsb(barrier::ISHST);
                // SAFETY: TLB maintenance only.
                unsafe { core::arch::asm!("tlbi vmalle1is", options(nostack)) };
                barrier::dsb(barrier::ISH);
            }
            tag = (asids.generation << 16) | asids.next;
            asids.next += 1;
            self.asid_tag.store(tag, Ordering::Relaxed);
        }
        set_ttbr0(self.root, tag_asid(tag));
    }

    fn destroy(self, frames: &mut dyn FrameAllocator) {
        if ACTIVE_USER_ROOT.load(Ordering::Relaxed) == self.root {
            set_ttbr0(EMPTY_USER_ROOT.load(Ordering::Relaxed), 0);
        }
        flush_asid(self.asid_tag.load(Ordering::Relaxed));
        Self::free_tree(self.root, 0, frames);
    }
}

/// Physical address of the page holding user virtual address `va` in the
/// active address space, if EL0 may read it (hardware walk, `AT S1E0R`).
pub fn user_readable_pa(va: u64) -> Option<u64> {
    use aarch64_cpu::registers::{PAR_EL1, Readable};
    // SAFETY: an address-translation instruction only writes PAR_EL1.
    unsafe { core::arch::asm!("at s1e0r, {}", "isb", in(reg) va, options(nostack)) };
    let par = PAR_EL1.get();
    if par & 1 != 0 {
        return None;
    }
    Some((par & ADDRESS_MASK) | (va & (PAGE - 1)))
}

/// Whether EL1 can read `[va, va + len)` right now (hardware walk,
/// `AT S1E1R`, on the first and last byte; `len` at most a page).
pub fn kernel_readable(va: u64, len: u64) -> bool {
    use aarch64_cpu::registers::{PAR_EL1, Readable};
    let last = va.saturating_add(len.max(1) - 1);
    [va, last].into_iter().all(|address| {
        // SAFETY: an address-translation instruction only writes PAR_EL1.
        unsafe { core::arch::asm!("at s1e1r, {}", "isb", in(reg) address, options(nostack)) };
        PAR_EL1.get() & 1 == 0
    })
}
