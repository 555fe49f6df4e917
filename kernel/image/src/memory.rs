//! Physical memory: the page-frame allocator fed from the boot memory map,
//! and the kernel heap carved out of it.
//!
//! Frames are handed out from the usable ranges by a bump pointer, and freed
//! frames go on a stack threaded through the free pages themselves (reached
//! through the direct map), so both allocation and freeing are O(1) and boot
//! touches no page it does not use.

use crate::arch::Arch;
use spinel_hal_api::{BootInfo, FrameAllocator, PAGE_SIZE, PhysAddr, Platform};

const PAGE: u64 = PAGE_SIZE as u64;
/// Upper bound of the kernel heap; the heap takes at most a quarter of RAM.
const HEAP_MAX: u64 = 64 << 20;
const MAX_RANGES: usize = spinel_hal_api::MAX_REGIONS;

#[global_allocator]
static HEAP: linked_list_allocator::LockedHeap = linked_list_allocator::LockedHeap::empty();

/// The global frame allocator. Lock it for as short as possible.
pub static FRAMES: spin::Mutex<Frames> = spin::Mutex::new(Frames::empty());

/// Usable physical ranges not yet handed out, plus a stack of freed frames.
pub struct Frames {
    ranges: [(u64, u64); MAX_RANGES],
    range_count: usize,
    /// Physical address of the most recently freed frame (0: none). Each free
    /// frame stores the address of the next one in its first eight bytes.
    free_head: u64,
    free_pages: u64,
    total_pages: u64,
}

impl Frames {
    const fn empty() -> Self {
        Self {
            ranges: [(0, 0); MAX_RANGES],
            range_count: 0,
            free_head: 0,
            free_pages: 0,
            total_pages: 0,
        }
    }

    /// Pages currently free.
    pub fn free_pages(&self) -> u64 {
        self.free_pages
    }

    /// Pages the allocator manages in all.
    pub fn total_pages(&self) -> u64 {
        self.total_pages
    }

    fn add_range(&mut self, start: u64, end: u64) {
        let start = start.next_multiple_of(PAGE);
        let end = end & !(PAGE - 1);
        if end <= start || self.range_count == MAX_RANGES {
            return;
        }
        self.ranges[self.range_count] = (start, end);
        self.range_count += 1;
        let pages = (end - start) / PAGE;
        self.free_pages += pages;
        self.total_pages += pages;
    }

    fn take_uninit(&mut self) -> Option<PhysAddr> {
        if self.free_head != 0 {
            let frame = self.free_head;
            // SAFETY: `frame` is a free page owned by this allocator; its
            // first word was written by `free_frame` and it is mapped in the
            // direct map.
            self.free_head =
                unsafe { core::ptr::read(Arch::phys_to_virt(PhysAddr(frame)).as_mut_ptr::<u64>()) };
            return Some(PhysAddr(frame));
        }
        let range = self.ranges[..self.range_count]
            .iter_mut()
            .find(|(start, end)| start < end)?;
        let frame = range.0;
        range.0 += PAGE;
        Some(PhysAddr(frame))
    }
}

impl FrameAllocator for Frames {
    fn alloc_frame(&mut self) -> Option<PhysAddr> {
        let frame = self.take_uninit()?;
        self.free_pages -= 1;
        // SAFETY: the frame was free, so nothing else refers to it, and the
        // direct map covers all RAM with write access.
        unsafe {
            core::ptr::write_bytes(Arch::phys_to_virt(frame).as_mut_ptr::<u8>(), 0, PAGE_SIZE)
        };
        Some(frame)
    }

    fn free_frame(&mut self, frame: PhysAddr) {
        debug_assert!(frame.is_page_aligned() && frame.0 != 0);
        // SAFETY: the caller gives the frame back, so it is ours to reuse;
        // the direct map covers it.
        unsafe {
            core::ptr::write(
                Arch::phys_to_virt(frame).as_mut_ptr::<u64>(),
                self.free_head,
            )
        };
        self.free_head = frame.0;
        self.free_pages += 1;
    }
}

/// Summary of what [`init`] set up, for the boot banner.
#[derive(Clone, Copy, Debug)]
pub struct MemoryStats {
    pub usable_bytes: u64,
    pub heap_start: PhysAddr,
    pub heap_bytes: u64,
}

/// Hand the usable memory to the frame allocator, after taking the kernel
/// heap out of the largest usable region.
pub fn init(info: &BootInfo) -> MemoryStats {
    let usable_bytes: u64 = info.usable().map(|r| r.len).sum();
    let largest = info
        .usable()
        .max_by_key(|r| r.len)
        .expect("the boot memory map has no usable RAM");
    let heap_bytes = (usable_bytes / 4).min(HEAP_MAX).min(largest.len) & !(PAGE - 1);
    let heap_start = largest.start.0.next_multiple_of(PAGE);
    let heap_bytes = heap_bytes.min(largest.start.0 + largest.len - heap_start);

    let mut frames = FRAMES.lock();
    for region in info.usable() {
        let (start, end) = (region.start.0, region.start.0 + region.len);
        if start == largest.start.0 {
            frames.add_range(heap_start + heap_bytes, end);
        } else {
            frames.add_range(start, end);
        }
    }
    drop(frames);

    let heap_virt = Arch::phys_to_virt(PhysAddr(heap_start));
    // SAFETY: the heap range is usable RAM that the frame allocator never
    // hands out (it was left out above), mapped writable by the direct map,
    // and `init` runs once, before anything allocates.
    unsafe {
        HEAP.lock()
            .init(heap_virt.as_mut_ptr::<u8>(), heap_bytes as usize)
    };

    MemoryStats {
        usable_bytes,
        heap_start: PhysAddr(heap_start),
        heap_bytes,
    }
}

/// Bytes of kernel heap in use and free.
pub fn heap_usage() -> (usize, usize) {
    let heap = HEAP.lock();
    (heap.used(), heap.free())
}

/// Physical pages for the VM: frames from [`FRAMES`], reached through the
/// HAL's direct map.
pub struct KernelMemory;

/// The one instance, for `&'static dyn PhysicalMemory`.
pub static KERNEL_MEMORY: KernelMemory = KernelMemory;

impl spinel_vm::PhysicalMemory for KernelMemory {
    fn alloc_zeroed(&self) -> Option<PhysAddr> {
        FRAMES.lock().alloc_frame()
    }

    fn free(&self, page: PhysAddr) {
        FRAMES.lock().free_frame(page)
    }

    fn read(&self, page: PhysAddr, offset: usize, out: &mut [u8]) {
        assert!(offset + out.len() <= PAGE_SIZE, "read crosses a page");
        let source = Arch::phys_to_virt(page)
            .add(offset as u64)
            .as_mut_ptr::<u8>();
        // SAFETY: `page` is a frame owned by a VMO (the VM only passes pages
        // it holds); the direct map covers it; the range stays inside the
        // page (asserted); `out` is a distinct kernel buffer.
        unsafe { core::ptr::copy_nonoverlapping(source, out.as_mut_ptr(), out.len()) };
    }

    fn write(&self, page: PhysAddr, offset: usize, data: &[u8]) {
        assert!(offset + data.len() <= PAGE_SIZE, "write crosses a page");
        let target = Arch::phys_to_virt(page)
            .add(offset as u64)
            .as_mut_ptr::<u8>();
        // SAFETY: as in `read`; user mappings of the page may see the bytes
        // change, which is what a write to user memory means.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), target, data.len()) };
    }
}
