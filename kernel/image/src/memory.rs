//! Physical memory: the page-frame allocator fed from the boot memory map,
//! and the kernel heap carved out of it.
//!
//! Frames are handed out from the usable ranges by a bump pointer, and freed
//! frames go on a stack threaded through the free pages themselves (reached
//! through the direct map), so both allocation and freeing are O(1) and boot
//! touches no page it does not use.
//!
//! The heap serves small blocks (up to [`LARGEST_CLASS`] bytes) from
//! power-of-two size classes, each a free list threaded through its free
//! blocks: O(1) allocation and freeing for the kernel's many small, short
//! lived values (messages, effects, handles, tree nodes). A class that runs
//! dry takes a chunk from the backing first-fit heap
//! (`linked_list_allocator`), which also serves large blocks (kernel stacks,
//! page arrays). Chunks stay with their class once carved.

use crate::arch::Arch;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use spinel_hal_api::{BootInfo, FrameAllocator, PAGE_SIZE, PhysAddr, Platform};

const PAGE: u64 = PAGE_SIZE as u64;
/// Upper bound of the kernel heap; the heap takes at most a quarter of RAM.
const HEAP_MAX: u64 = 64 << 20;
const MAX_RANGES: usize = spinel_hal_api::MAX_REGIONS;

/// The smallest block: 16 bytes (room for the free-list link, and the
/// alignment of every kernel type but page-aligned ones).
const SMALLEST_SHIFT: u32 = 4;
/// Size classes 16, 32, ... 2048 bytes.
const CLASSES: usize = 8;
/// The largest block served from a size class.
const LARGEST_CLASS: usize = 1 << (SMALLEST_SHIFT as usize + CLASSES - 1);
/// What a dry class takes from the backing heap at once.
const CHUNK: usize = 8 * 1024;

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(spin::Mutex::new(HeapState {
    backing: linked_list_allocator::Heap::empty(),
    free: [0; CLASSES],
    used: 0,
}));

/// The kernel heap: size classes in front of a first-fit heap.
struct KernelHeap(spin::Mutex<HeapState>);

struct HeapState {
    backing: linked_list_allocator::Heap,
    /// Per class, the address of the first free block (0: none); each free
    /// block holds the address of the next in its first word.
    free: [usize; CLASSES],
    /// Bytes handed out (whole blocks for the classes).
    used: usize,
}

/// The size class of `layout`, or `None` for the backing heap.
fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(1 << SMALLEST_SHIFT);
    if size > LARGEST_CLASS {
        return None;
    }
    let shift = usize::BITS - (size - 1).leading_zeros();
    Some((shift - SMALLEST_SHIFT) as usize)
}

const fn class_size(class: usize) -> usize {
    1 << (class + SMALLEST_SHIFT as usize)
}

impl HeapState {
    /// Carve a chunk from the backing heap into blocks of `class`.
    fn refill(&mut self, class: usize) -> bool {
        let size = class_size(class);
        let Ok(layout) = Layout::from_size_align(CHUNK, PAGE_SIZE) else {
            return false;
        };
        let Ok(chunk) = self.backing.allocate_first_fit(layout) else {
            return false;
        };
        let base = chunk.as_ptr() as usize;
        // Thread the blocks in address order.
        let mut next = self.free[class];
        for index in (0..CHUNK / size).rev() {
            let block = base + index * size;
            // SAFETY: the block lies inside the chunk just allocated (so no
            // one else refers to it) and is aligned to its size (the chunk
            // is page-aligned), so a word fits and is aligned.
            unsafe { core::ptr::write(block as *mut usize, next) };
            next = block;
        }
        self.free[class] = next;
        true
    }
}

// SAFETY: blocks come from the backing heap's memory only; a class block is
// handed out once until freed (it leaves its free list), is at least as big
// and as aligned as the layout asks (class_of rounds both up to a power of
// two, and blocks sit at multiples of their size in page-aligned chunks),
// and freed blocks return to the class their layout names, which is the one
// they came from (dealloc receives the layout they were allocated with).
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.0.lock();
        match class_of(layout) {
            Some(class) => {
                if heap.free[class] == 0 && !heap.refill(class) {
                    return core::ptr::null_mut();
                }
                let block = heap.free[class];
                // SAFETY: `block` heads the class's free list: a free block
                // whose first word holds the next one (written by `refill`
                // or `dealloc`).
                heap.free[class] = unsafe { core::ptr::read(block as *const usize) };
                heap.used += class_size(class);
                block as *mut u8
            }
            None => match heap.backing.allocate_first_fit(layout) {
                Ok(block) => {
                    heap.used += layout.size();
                    block.as_ptr()
                }
                Err(()) => core::ptr::null_mut(),
            },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let mut heap = self.0.lock();
        match class_of(layout) {
            Some(class) => {
                // SAFETY: the caller gives back a block of this class (see
                // the impl's comment): it is ours again, aligned, and at
                // least a word long.
                unsafe { core::ptr::write(ptr as *mut usize, heap.free[class]) };
                heap.free[class] = ptr as usize;
                heap.used -= class_size(class);
            }
            None => {
                heap.used -= layout.size();
                // SAFETY: the block came from the backing heap with this
                // layout (large layouts never go to a class).
                unsafe { heap.backing.deallocate(NonNull::new_unchecked(ptr), layout) };
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A block that still fits its class stays where it is.
        if let Some(class) = class_of(layout)
            && let Ok(new_layout) = Layout::from_size_align(new_size, layout.align())
            && class_of(new_layout) == Some(class)
        {
            return ptr;
        }
        // SAFETY: as GlobalAlloc::realloc's default: a new block, the
        // common prefix copied, the old block freed; the caller's contract
        // (ptr from this allocator with `layout`) carries over.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = self.alloc(new_layout);
            if !new.is_null() {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

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
        HEAP.0
            .lock()
            .backing
            .init(heap_virt.as_mut_ptr::<u8>(), heap_bytes as usize)
    };

    MemoryStats {
        usable_bytes,
        heap_start: PhysAddr(heap_start),
        heap_bytes,
    }
}

/// Bytes of kernel heap in use (handed out) and free (in the backing heap;
/// blocks cached in the size classes count as neither).
pub fn heap_usage() -> (usize, usize) {
    let heap = HEAP.0.lock();
    (heap.used, heap.backing.free())
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
        // page (asserted); `out` is a distinct kernel buffer. The 4- and
        // 8-byte cases (handles, sizes, signals) skip the memcpy call.
        unsafe {
            match out.len() {
                4 => out.copy_from_slice(
                    &core::ptr::read_unaligned(source as *const u32).to_ne_bytes(),
                ),
                8 => out.copy_from_slice(
                    &core::ptr::read_unaligned(source as *const u64).to_ne_bytes(),
                ),
                len => core::ptr::copy_nonoverlapping(source, out.as_mut_ptr(), len),
            }
        }
    }

    fn write(&self, page: PhysAddr, offset: usize, data: &[u8]) {
        assert!(offset + data.len() <= PAGE_SIZE, "write crosses a page");
        let target = Arch::phys_to_virt(page)
            .add(offset as u64)
            .as_mut_ptr::<u8>();
        // SAFETY: as in `read`; user mappings of the page may see the bytes
        // change, which is what a write to user memory means.
        unsafe {
            match *data {
                [a, b, c, d] => {
                    core::ptr::write_unaligned(target as *mut u32, u32::from_ne_bytes([a, b, c, d]))
                }
                [a, b, c, d, e, f, g, h] => core::ptr::write_unaligned(
                    target as *mut u64,
                    u64::from_ne_bytes([a, b, c, d, e, f, g, h]),
                ),
                _ => core::ptr::copy_nonoverlapping(data.as_ptr(), target, data.len()),
            }
        }
    }
}
