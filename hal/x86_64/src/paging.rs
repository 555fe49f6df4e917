//! Page tables: the kernel's (built at boot) and user address spaces.
//!
//! Virtual memory layout:
//! - `0 .. USER_TOP`: user space, one PML4 per [`UserAddressSpace`];
//! - `DIRECT_MAP_BASE ..` (PML4 slot 256): all physical memory, at least the
//!   first 4 GiB (so the local APIC is reachable), non-executable;
//! - `KERNEL_VIRTUAL_OFFSET + physical address` (PML4 slot 511): the kernel
//!   image, mapped page by page with the permissions of its sections.
//!
//! The kernel half (slots 256..512) is made once at boot and never changes
//! at the PML4 level, so user address spaces copy those slots when created.

use spinel_hal_api::{
    FrameAllocator, MapError, PAGE_SIZE, PageFlags, PhysAddr, USER_TOP, VirtAddr,
};
use x86_64::instructions::tlb;
use x86_64::registers::control::{Cr3, Cr3Flags, Cr4, Cr4Flags};
use x86_64::structures::paging::page_table::PageTableEntry;
use x86_64::structures::paging::{PageTable, PageTableFlags, PhysFrame};

use crate::boot::BOOT_STACK;
use crate::cell::CpuLocal;
use crate::cpu;

/// Where the kernel image is linked: its physical address plus this.
pub(crate) const KERNEL_VIRTUAL_OFFSET: u64 = 0xffff_ffff_8000_0000;
/// Where all physical memory is mapped.
pub(crate) const DIRECT_MAP_BASE: u64 = 0xffff_8000_0000_0000;

const GIB: u64 = 1 << 30;
const MIB2: u64 = 2 << 20;
/// One PML4 slot of direct map: 512 GiB of physical address space.
const DIRECT_MAP_LIMIT_1GIB_PAGES: u64 = 512 * GIB;
/// Without 1 GiB pages the direct map uses 2 MiB pages from a static pool
/// of page directories, one per GiB.
const DIRECT_MAP_DIRECTORIES: usize = 8;
/// Page tables for the kernel image's 4 KiB pages: 2 MiB of image each.
const KERNEL_PAGE_TABLES: usize = 16;

/// The kernel's PML4, also the one active whenever no user space is.
pub(crate) static KERNEL_PML4: CpuLocal<PageTable> = CpuLocal::new(PageTable::new());
/// PDPT for the kernel image (slot 511); entry 510 covers the image.
pub(crate) static KERNEL_PDPT_HIGH: CpuLocal<PageTable> = CpuLocal::new(PageTable::new());
/// The 32-bit entry's temporary tables: one PDPT and one directory of
/// 2 MiB pages for the first GiB.
pub(crate) static BOOT_PDPT_LOW: CpuLocal<PageTable> = CpuLocal::new(PageTable::new());
pub(crate) static BOOT_PD: CpuLocal<PageTable> = CpuLocal::new(PageTable::new());

static DIRECT_MAP_PDPT: CpuLocal<PageTable> = CpuLocal::new(PageTable::new());
static DIRECT_MAP_PDS: CpuLocal<[PageTable; DIRECT_MAP_DIRECTORIES]> =
    CpuLocal::new([const { PageTable::new() }; DIRECT_MAP_DIRECTORIES]);
static KERNEL_PD: CpuLocal<PageTable> = CpuLocal::new(PageTable::new());
static KERNEL_PTS: CpuLocal<[PageTable; KERNEL_PAGE_TABLES]> =
    CpuLocal::new([const { PageTable::new() }; KERNEL_PAGE_TABLES]);

// Section boundaries from link.ld, all page aligned.
unsafe extern "C" {
    static __spinel_kernel_start: u8;
    static __spinel_text_end: u8;
    static __spinel_rodata_end: u8;
    static __spinel_kernel_end: u8;
}

pub(crate) fn phys_to_virt(pa: PhysAddr) -> VirtAddr {
    VirtAddr(DIRECT_MAP_BASE + pa.as_u64())
}

/// Physical address of something inside the kernel image.
fn image_phys<T>(pointer: *const T) -> u64 {
    pointer as u64 - KERNEL_VIRTUAL_OFFSET
}

pub(crate) fn kernel_physical_start() -> PhysAddr {
    PhysAddr(image_phys(&raw const __spinel_kernel_start))
}

pub(crate) fn kernel_physical_end() -> PhysAddr {
    PhysAddr(image_phys(&raw const __spinel_kernel_end))
}

fn x86_phys(pa: u64) -> x86_64::PhysAddr {
    x86_64::PhysAddr::new(pa)
}

/// Replace the boot tables by the final kernel half: a direct map of all
/// RAM and a page-granular kernel image. Returns the end of the direct map
/// (RAM above it is not usable).
pub(crate) fn init(ram_end: u64) -> u64 {
    let leaf = PageTableFlags::PRESENT
        | PageTableFlags::WRITABLE
        | PageTableFlags::NO_EXECUTE
        | PageTableFlags::GLOBAL;
    let table = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
    let huge = cpu::has_1gib_pages();
    let limit = if huge {
        DIRECT_MAP_LIMIT_1GIB_PAGES
    } else {
        DIRECT_MAP_DIRECTORIES as u64 * GIB
    };
    let direct_end = ram_end.max(4 * GIB).next_multiple_of(GIB).min(limit);

    // SAFETY: single-threaded boot with interrupts off; these statics are
    // referred to by no one else (the boot tables still in use are
    // KERNEL_PML4 and KERNEL_PDPT_HIGH, changed entry by entry below, each
    // change keeping the running code, stack and data mapped).
    let (pml4, pdpt_high, direct_pdpt, direct_pds, kernel_pd, kernel_pts) = unsafe {
        (
            &mut *KERNEL_PML4.get(),
            &mut *KERNEL_PDPT_HIGH.get(),
            &mut *DIRECT_MAP_PDPT.get(),
            &mut *DIRECT_MAP_PDS.get(),
            &mut *KERNEL_PD.get(),
            &mut *KERNEL_PTS.get(),
        )
    };

    for gib in 0..direct_end / GIB {
        let mut flags = leaf | PageTableFlags::HUGE_PAGE;
        // The fourth GiB is the PC's MMIO hole (local APIC, I/O APIC, ...):
        // uncached.
        if gib == 3 {
            flags |= PageTableFlags::NO_CACHE | PageTableFlags::WRITE_THROUGH;
        }
        let entry = &mut direct_pdpt[gib as usize];
        if huge {
            entry.set_addr(x86_phys(gib * GIB), flags);
        } else {
            let directory = &mut direct_pds[gib as usize];
            for (index, pd_entry) in directory.iter_mut().enumerate() {
                pd_entry.set_addr(x86_phys(gib * GIB + index as u64 * MIB2), flags);
            }
            entry.set_addr(x86_phys(image_phys(directory)), table);
        }
    }

    // The kernel image, 4 KiB at a time: text read-only and executable,
    // rodata read-only, data and bss writable; the page below the boot
    // stack is left out as a guard.
    let start = (&raw const __spinel_kernel_start) as u64;
    let text_end = (&raw const __spinel_text_end) as u64;
    let rodata_end = (&raw const __spinel_rodata_end) as u64;
    let end = (&raw const __spinel_kernel_end) as u64;
    let guard_page = BOOT_STACK.get() as u64;
    let first_directory_slot = (start >> 21) & 511;
    for va in (start..end).step_by(PAGE_SIZE) {
        if va == guard_page {
            continue;
        }
        let flags = if va < text_end {
            PageTableFlags::PRESENT | PageTableFlags::GLOBAL
        } else if va < rodata_end {
            PageTableFlags::PRESENT | PageTableFlags::NO_EXECUTE | PageTableFlags::GLOBAL
        } else {
            leaf
        };
        let directory_slot = (va >> 21) & 511;
        let Some(page_table) = kernel_pts.get_mut((directory_slot - first_directory_slot) as usize)
        else {
            crate::boot::boot_failure("kernel image larger than its page tables");
        };
        if kernel_pd[directory_slot as usize].is_unused() {
            kernel_pd[directory_slot as usize].set_addr(x86_phys(image_phys(page_table)), table);
        }
        page_table[((va >> 12) & 511) as usize]
            .set_addr(x86_phys(va - KERNEL_VIRTUAL_OFFSET), flags);
    }

    pml4[256].set_addr(x86_phys(image_phys(direct_pdpt)), table);
    pdpt_high[510].set_addr(x86_phys(image_phys(kernel_pd)), table);
    // The identity mapping was only for the switch to long mode; the lower
    // half belongs to user space from now on.
    pml4[0].set_unused();

    let root = PhysFrame::containing_address(x86_phys(image_phys(pml4)));
    // SAFETY: the new tables map the kernel image (code, data, this stack)
    // at the addresses it runs at; reloading CR3 drops the boot mappings.
    // Global pages are enabled only afterwards, so no global entry from the
    // boot tables survives.
    unsafe {
        Cr3::write(root, Cr3Flags::empty());
        Cr4::update(|flags| flags.insert(Cr4Flags::PAGE_GLOBAL));
    }
    direct_end
}

fn kernel_root() -> PhysAddr {
    PhysAddr(image_phys(KERNEL_PML4.get()))
}

fn active_root() -> PhysAddr {
    PhysAddr(Cr3::read_raw().0.start_address().as_u64())
}

/// The page table at physical address `pa`, through the direct map.
///
/// # Safety
/// `pa` must be a page table of an address space the caller owns, and no
/// other reference to it may be live.
unsafe fn table_at<'a>(pa: PhysAddr) -> &'a mut PageTable {
    // SAFETY: the direct map covers all RAM; exclusivity is the caller's.
    unsafe { &mut *phys_to_virt(pa).as_mut_ptr::<PageTable>() }
}

fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * (level - 1))) & 511) as usize
}

/// Translate `va` through the tables at `root`, following large pages.
fn translate_in(root: PhysAddr, va: u64) -> Option<(PhysAddr, PageTableFlags)> {
    let mut table_pa = root;
    for level in (1..=4).rev() {
        // SAFETY: only reads, of tables reachable from a live root.
        let entry = unsafe { &table_at(table_pa)[index(va, level)] };
        let flags = entry.flags();
        if !flags.contains(PageTableFlags::PRESENT) {
            return None;
        }
        let page_size = 1u64 << (12 + 9 * (level - 1));
        if level == 1 || (level <= 3 && flags.contains(PageTableFlags::HUGE_PAGE)) {
            let base = entry.addr().as_u64() & !(page_size - 1);
            return Some((PhysAddr(base + (va & (page_size - 1))), flags));
        }
        table_pa = PhysAddr(entry.addr().as_u64());
    }
    None
}

/// Whether `va` can be read in the current address space (used by the
/// frame-pointer walk, which must not fault).
pub(crate) fn is_mapped(va: u64) -> bool {
    translate_in(active_root(), va).is_some()
}

/// A user address space: a PML4 whose upper half is the kernel's.
#[derive(Debug)]
pub struct UserAddressSpace {
    root: PhysAddr,
}

impl UserAddressSpace {
    fn is_active(&self) -> bool {
        active_root() == self.root
    }

    /// The leaf entry for `va`, creating the intermediate tables when
    /// `frames` is given.
    fn leaf(
        &mut self,
        va: u64,
        mut frames: Option<&mut dyn FrameAllocator>,
    ) -> Result<&mut PageTableEntry, MapError> {
        let mut table_pa = self.root;
        for level in [4, 3, 2] {
            // SAFETY: the tables below `root` belong to this address space,
            // borrowed mutably through `self`.
            let entry = unsafe { &mut table_at(table_pa)[index(va, level)] };
            if entry.is_unused() {
                let frames = frames.as_deref_mut().ok_or(MapError::NotMapped)?;
                let frame = frames.alloc_frame().ok_or(MapError::OutOfMemory)?;
                // Intermediate levels allow everything; the leaf decides.
                entry.set_addr(
                    x86_phys(frame.as_u64()),
                    PageTableFlags::PRESENT
                        | PageTableFlags::WRITABLE
                        | PageTableFlags::USER_ACCESSIBLE,
                );
            }
            table_pa = PhysAddr(entry.addr().as_u64());
        }
        // SAFETY: as above.
        Ok(unsafe { &mut table_at(table_pa)[index(va, 1)] })
    }

    fn flush(&self, va: u64) {
        // Inactive spaces have no TLB entries: CR3 loads flush non-global
        // entries and user pages are never global.
        if self.is_active() {
            tlb::flush(x86_64::VirtAddr::new(va));
        }
    }
}

fn leaf_flags(flags: PageFlags) -> PageTableFlags {
    let mut bits = PageTableFlags::PRESENT;
    bits.set(PageTableFlags::WRITABLE, flags.write);
    bits.set(PageTableFlags::USER_ACCESSIBLE, flags.user);
    bits.set(PageTableFlags::NO_EXECUTE, !flags.execute);
    bits
}

fn page_flags(bits: PageTableFlags) -> PageFlags {
    PageFlags {
        write: bits.contains(PageTableFlags::WRITABLE),
        execute: !bits.contains(PageTableFlags::NO_EXECUTE),
        user: bits.contains(PageTableFlags::USER_ACCESSIBLE),
    }
}

fn check_user_page(va: VirtAddr) -> Result<u64, MapError> {
    if va.is_page_aligned() && va.as_u64() < USER_TOP {
        Ok(va.as_u64())
    } else {
        Err(MapError::BadAddress)
    }
}

impl spinel_hal_api::AddressSpace for UserAddressSpace {
    fn new(frames: &mut dyn FrameAllocator) -> Result<Self, MapError> {
        let root = frames.alloc_frame().ok_or(MapError::OutOfMemory)?;
        // SAFETY: a fresh frame, ours alone; the kernel PML4 is only read
        // (its upper half never changes after boot).
        let (table, kernel) = unsafe { (table_at(root), table_at(kernel_root())) };
        for slot in 256..512 {
            table[slot] = kernel[slot].clone();
        }
        Ok(Self { root })
    }

    fn map(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        flags: PageFlags,
        frames: &mut dyn FrameAllocator,
    ) -> Result<(), MapError> {
        let va = check_user_page(va)?;
        if !pa.is_page_aligned() {
            return Err(MapError::BadAddress);
        }
        let entry = self.leaf(va, Some(frames))?;
        if !entry.is_unused() {
            return Err(MapError::AlreadyMapped);
        }
        entry.set_addr(x86_phys(pa.as_u64()), leaf_flags(flags));
        // A previously unmapped page has no TLB entry to flush.
        Ok(())
    }

    fn unmap(&mut self, va: VirtAddr) -> Result<PhysAddr, MapError> {
        let va = check_user_page(va)?;
        let entry = self.leaf(va, None)?;
        if entry.is_unused() {
            return Err(MapError::NotMapped);
        }
        let pa = PhysAddr(entry.addr().as_u64());
        entry.set_unused();
        self.flush(va);
        Ok(pa)
    }

    fn protect(&mut self, va: VirtAddr, flags: PageFlags) -> Result<(), MapError> {
        let va = check_user_page(va)?;
        let entry = self.leaf(va, None)?;
        if entry.is_unused() {
            return Err(MapError::NotMapped);
        }
        let pa = entry.addr();
        entry.set_addr(pa, leaf_flags(flags));
        self.flush(va);
        Ok(())
    }

    fn translate(&self, va: VirtAddr) -> Option<(PhysAddr, PageFlags)> {
        translate_in(self.root, va.as_u64()).map(|(pa, bits)| (pa, page_flags(bits)))
    }

    fn activate(&self) {
        if !self.is_active() {
            let frame = PhysFrame::containing_address(x86_phys(self.root.as_u64()));
            // SAFETY: the PML4 shares the kernel half, so the kernel keeps
            // running unchanged; the lower half is this space's.
            unsafe { Cr3::write(frame, Cr3Flags::empty()) };
        }
    }

    fn destroy(self, frames: &mut dyn FrameAllocator) {
        if self.is_active() {
            let frame = PhysFrame::containing_address(x86_phys(kernel_root().as_u64()));
            // SAFETY: the kernel PML4 maps the kernel exactly as this one.
            unsafe { Cr3::write(frame, Cr3Flags::empty()) };
        }
        /// Free the table at `pa` (a table of `level`) and the tables below.
        fn free(pa: PhysAddr, level: u32, frames: &mut dyn FrameAllocator) {
            if level > 1 {
                // SAFETY: the tables of a space being destroyed, which is
                // no longer active and owned by value.
                let table = unsafe { table_at(pa) };
                for entry in table.iter().filter(|entry| !entry.is_unused()) {
                    free(PhysAddr(entry.addr().as_u64()), level - 1, frames);
                }
            }
            frames.free_frame(pa);
        }
        // SAFETY: as in `free`.
        let root = unsafe { table_at(self.root) };
        for entry in root.iter().take(256).filter(|entry| !entry.is_unused()) {
            free(PhysAddr(entry.addr().as_u64()), 3, frames);
        }
        frames.free_frame(self.root);
    }
}
