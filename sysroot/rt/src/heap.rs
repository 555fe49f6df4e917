//! The heap: a fixed 256 KiB region every process starts with, plus more
//! regions mapped on demand once a program asks for growth.
//!
//! Every program starts with [`HEAP_SIZE`] bytes in its `.bss` (no system
//! call at start). A program that needs more (the debugger agent parses
//! DWARF) calls [`grow_on_demand`] with its root VMAR: from then on, an
//! allocation that fits nowhere maps a fresh VMO (at least
//! [`MIN_CHUNK`], pages committed only when touched) as one more region.
//! Regions are never unmapped; each is a first-fit `linked_list_allocator`
//! heap, and a free goes back to the region that holds the block.
//!
//! Small blocks (up to [`LARGEST_CLASS`] bytes) come from power-of-two size
//! classes in front of the first-fit heaps: a free list per class, refilled
//! a few blocks at a time, so the many small allocations of a parser cost a
//! pop and a push instead of a walk of the hole list.

use core::alloc::{GlobalAlloc, Layout};
use core::mem::MaybeUninit;
use core::ptr::NonNull;

use linked_list_allocator::Heap;

use crate::zx::abi::vm::{VM_PERM_READ, VM_PERM_WRITE};
use crate::zx::{HandleBased, HandleValue, Status, Vmar, Vmo};

/// Size of the heap every process starts with.
pub const HEAP_SIZE: usize = 256 * 1024;
/// Smallest region mapped when the heap grows.
pub const MIN_CHUNK: usize = 4 * 1024 * 1024;
/// Most regions besides the first.
const MAX_REGIONS: usize = 24;
const PAGE: usize = 4096;
/// Size classes: 16, 32, ... bytes up to this.
pub const LARGEST_CLASS: usize = 2048;
const SMALLEST_CLASS: usize = 16;
const CLASSES: usize = 8;
const _: () = assert!(SMALLEST_CLASS << (CLASSES - 1) == LARGEST_CLASS);

/// The class of a layout (`None`: too big for the classes).
fn class_of(layout: Layout) -> Option<usize> {
    let size = layout
        .size()
        .max(layout.align())
        .max(SMALLEST_CLASS)
        .next_power_of_two();
    (size <= LARGEST_CLASS).then(|| (size / SMALLEST_CLASS).trailing_zeros() as usize)
}

struct State {
    first: Heap,
    more: [Heap; MAX_REGIONS],
    count: usize,
    /// The VMAR growth maps into (`None`: no growth).
    vmar: Option<HandleValue>,
    /// Per class, the address of the first free block (0: none); each free
    /// block holds the address of the next.
    free: [usize; CLASSES],
}

/// The global allocator.
pub struct GrowingHeap {
    state: spin::Mutex<State>,
}

impl GrowingHeap {
    const fn new() -> Self {
        const EMPTY: Heap = Heap::empty();
        GrowingHeap {
            state: spin::Mutex::new(State {
                first: Heap::empty(),
                more: [EMPTY; MAX_REGIONS],
                count: 0,
                vmar: None,
                free: [0; CLASSES],
            }),
        }
    }
}

fn contains(heap: &Heap, ptr: *mut u8) -> bool {
    heap.size() > 0 && heap.bottom() <= ptr && ptr < heap.top()
}

impl State {
    /// A block of size class `class`.
    fn allocate_small(&mut self, class: usize) -> Option<NonNull<u8>> {
        if self.free[class] == 0 {
            self.refill(class)?;
        }
        let block = self.free[class];
        // SAFETY: a free block of this class (pushed by `refill` or
        // `deallocate_small`): at least 16 bytes, aligned to its size, owned
        // by the free list, holding the next free block's address.
        self.free[class] = unsafe { (block as *const usize).read() };
        NonNull::new(block as *mut u8)
    }

    /// Carve a chunk from the first-fit heaps into blocks of `class`.
    fn refill(&mut self, class: usize) -> Option<()> {
        let size = SMALLEST_CLASS << class;
        let chunk = (size * 8).clamp(1024, 8192);
        let layout = Layout::from_size_align(chunk, size).ok()?;
        let start = self.allocate(layout)?.as_ptr() as usize;
        for block in (start..start + chunk).step_by(size).rev() {
            // SAFETY: `block` lies in the chunk just allocated for the
            // class, aligned to `size` (at least a word); nothing else
            // refers to it.
            unsafe { (block as *mut usize).write(self.free[class]) };
            self.free[class] = block;
        }
        Some(())
    }

    /// # Safety
    /// `ptr` is a block of `class` that is no longer used.
    unsafe fn deallocate_small(&mut self, ptr: NonNull<u8>, class: usize) {
        // SAFETY: the block is the caller's to give back, aligned to its
        // class size (at least a word).
        unsafe { (ptr.as_ptr() as *mut usize).write(self.free[class]) };
        self.free[class] = ptr.as_ptr() as usize;
    }

    fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        if let Ok(block) = self.first.allocate_first_fit(layout) {
            return Some(block);
        }
        // The newest region first: it is the one with room.
        for heap in self.more[..self.count].iter_mut().rev() {
            if let Ok(block) = heap.allocate_first_fit(layout) {
                return Some(block);
            }
        }
        self.grow(layout)?;
        self.more[self.count - 1].allocate_first_fit(layout).ok()
    }

    /// Map one more region big enough for `layout`.
    fn grow(&mut self, layout: Layout) -> Option<()> {
        let vmar = self.vmar?;
        if self.count == MAX_REGIONS {
            return None;
        }
        let wanted = layout
            .size()
            .checked_add(layout.align())?
            .checked_add(PAGE)?;
        let size = wanted.max(MIN_CHUNK).checked_next_multiple_of(PAGE)?;
        let vmo = Vmo::create(size as u64).ok()?;
        let address = crate::zx::vm::vmar_map(
            vmar,
            VM_PERM_READ | VM_PERM_WRITE,
            0,
            vmo.raw(),
            0,
            size as u64,
        )
        .ok()?;
        // SAFETY: the kernel just mapped `size` bytes read-write at
        // `address` for this process; nothing else refers to them, and
        // regions are never unmapped, so they stay valid for the program's
        // life. (The VMO handle may go: the mapping keeps the VMO.)
        unsafe {
            self.more[self.count].init(address as *mut u8, size);
        }
        self.count += 1;
        Some(())
    }

    /// # Safety
    /// `ptr` came from [`State::allocate`] with `layout` and was not freed.
    unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        let heap = if contains(&self.first, ptr.as_ptr()) {
            &mut self.first
        } else {
            match self.more[..self.count]
                .iter_mut()
                .find(|heap| contains(heap, ptr.as_ptr()))
            {
                Some(heap) => heap,
                None => return,
            }
        };
        // SAFETY: per this function's contract, in the region that holds it.
        unsafe { heap.deallocate(ptr, layout) }
    }
}

// SAFETY: every block comes, under the lock, from one region's first-fit
// allocator (and goes back to the region that holds it) or from a size
// class (and goes back to that class's free list: the layout names the
// class); regions never overlap (each is a separate mapping or the static
// first region) and never move; class blocks are carved from first-fit
// chunks that are never given back.
unsafe impl GlobalAlloc for GrowingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut state = self.state.lock();
        let block = match class_of(layout) {
            Some(class) => state.allocate_small(class),
            None => state.allocate(layout),
        };
        block.map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(ptr) = NonNull::new(ptr) else {
            return;
        };
        let mut state = self.state.lock();
        match class_of(layout) {
            // SAFETY: GlobalAlloc's contract: `ptr` came from `alloc` with
            // this layout, so from this class.
            Some(class) => unsafe { state.deallocate_small(ptr, class) },
            // SAFETY: as above, from the first-fit heaps.
            None => unsafe { state.deallocate(ptr, layout) },
        }
    }
}

#[global_allocator]
pub(crate) static HEAP: GrowingHeap = GrowingHeap::new();

/// Give the heap its first region (the start, once).
pub(crate) fn init(space: &'static mut [MaybeUninit<u8>]) {
    HEAP.state.lock().first.init_from_slice(space);
}

/// From now on, grow the heap by mapping VMOs into `vmar` (the process's
/// root VMAR, `TAG_VMAR_ROOT`) whenever an allocation does not fit.
pub fn grow_on_demand(vmar: Vmar) {
    // The handle stays open for the program's life.
    HEAP.state.lock().vmar = Some(vmar.into_raw());
}

/// Bytes in use and bytes available in every region.
pub fn usage() -> (usize, usize) {
    let state = HEAP.state.lock();
    let regions = core::iter::once(&state.first).chain(&state.more[..state.count]);
    regions.fold((0, 0), |(used, size), heap| {
        (used + heap.used(), size + heap.size())
    })
}

/// Map `len` bytes of `vmo` from `offset` read-only into `vmar`, for good:
/// the bytes as a slice for the rest of the program. For files of a
/// read-only VMO (the boot image) that must not be copied.
pub fn map_read_only(
    vmar: &Vmar,
    vmo: &Vmo,
    offset: u64,
    len: usize,
) -> Result<&'static [u8], Status> {
    if len == 0 {
        return Ok(&[]);
    }
    let start = offset & !(PAGE as u64 - 1);
    let skip = (offset - start) as usize;
    let span = (skip + len)
        .checked_next_multiple_of(PAGE)
        .ok_or(Status::INVALID_ARGS)?;
    let address = vmar.map(VM_PERM_READ, 0, vmo, start, span as u64)?;
    // SAFETY: the kernel mapped `span` readable bytes at `address`; they
    // are never unmapped by this runtime (the slice is 'static) and the
    // mapping is read-only, so nothing in this process can change them.
    // The VMO's other writers, if any, are the caller's to rule out: the
    // boot image VMO is read-only for everyone.
    Ok(unsafe { core::slice::from_raw_parts((address as usize + skip) as *const u8, len) })
}
