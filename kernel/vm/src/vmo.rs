//! Virtual memory objects: a size and a sparse array of committed pages.
//!
//! A VMO also carries its label, the koid and name the object layer gave
//! it ([`Vmo::set_koid`], [`Vmo::set_name`]), so that a process's mappings
//! can be listed (`INFO_PROCESS_MAPS`) even after every handle to the VMO
//! is closed. VMOs the kernel makes for itself (the loader's segments) have
//! koid 0 and no name.

use crate::PhysicalMemory;
use alloc::vec::Vec;
use spinel_abi::Status;
use spinel_hal_api::{PAGE_SIZE, PhysAddr};

/// Largest VMO we create (1 GiB): bounds the page array.
pub const MAX_VMO_SIZE: u64 = 1 << 30;

/// A VMO. Pages are committed (allocated, zeroed) on first touch.
pub struct Vmo {
    memory: &'static dyn PhysicalMemory,
    size: u64,
    pages: spin::Mutex<Vec<Option<PhysAddr>>>,
    /// False for a VMO over pages the kernel lends (its boot image): those
    /// are read-only and never freed.
    owned: bool,
    label: spin::Mutex<Label>,
}

/// Bytes of a VMO's name (the object layer's `MAX_NAME_LEN`).
pub const VMO_NAME_LEN: usize = spinel_abi::object::MAX_NAME_LEN;

#[derive(Clone, Copy, Default)]
struct Label {
    koid: u64,
    name: [u8; VMO_NAME_LEN],
}

impl core::fmt::Debug for Vmo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Vmo")
            .field("size", &self.size)
            .field("committed", &self.committed_pages())
            .finish()
    }
}

impl Vmo {
    /// A VMO of `size` bytes (rounded up to whole pages).
    pub fn new(memory: &'static dyn PhysicalMemory, size: u64) -> Result<Vmo, Status> {
        if size > MAX_VMO_SIZE {
            return Err(Status::OUT_OF_RANGE);
        }
        let size = size.next_multiple_of(PAGE_SIZE as u64);
        let pages = (size / PAGE_SIZE as u64) as usize;
        let mut array = Vec::new();
        array
            .try_reserve_exact(pages)
            .map_err(|_| Status::NO_MEMORY)?;
        array.resize(pages, None);
        Ok(Vmo {
            memory,
            size,
            pages: spin::Mutex::new(array),
            owned: true,
            label: spin::Mutex::new(Label::default()),
        })
    }

    /// A read-only VMO over `pages` that the kernel keeps owning (data it
    /// carries in its image): nothing is copied, written or freed.
    pub fn borrowed(memory: &'static dyn PhysicalMemory, pages: Vec<PhysAddr>) -> Vmo {
        let size = pages.len() as u64 * PAGE_SIZE as u64;
        let pages = pages.into_iter().map(Some).collect();
        Vmo {
            memory,
            size,
            pages: spin::Mutex::new(pages),
            owned: false,
            label: spin::Mutex::new(Label::default()),
        }
    }

    /// The koid of the object layer's VMO object (0 if it has none).
    pub fn koid(&self) -> u64 {
        self.label.lock().koid
    }

    pub fn set_koid(&self, koid: u64) {
        self.label.lock().koid = koid;
    }

    /// The name, NUL-padded.
    pub fn name(&self) -> [u8; VMO_NAME_LEN] {
        self.label.lock().name
    }

    /// Keep the object layer's name (already NUL-padded to
    /// [`VMO_NAME_LEN`]).
    pub fn set_name(&self, name: &[u8; VMO_NAME_LEN]) {
        self.label.lock().name = *name;
    }

    /// Bytes committed in the pages of `[offset, offset + len)` (clipped to
    /// the VMO).
    pub fn committed_bytes_in(&self, offset: u64, len: u64) -> u64 {
        let page = PAGE_SIZE as u64;
        let first = (offset / page) as usize;
        let last = (offset.saturating_add(len).div_ceil(page)) as usize;
        let pages = self.pages.lock();
        let last = last.min(pages.len());
        let count = pages
            .get(first..last)
            .map_or(0, |range| range.iter().filter(|p| p.is_some()).count());
        count as u64 * page
    }

    /// Whether the VMO may be written (false for [`Vmo::borrowed`] ones).
    pub fn is_writable(&self) -> bool {
        self.owned
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Pages allocated so far.
    pub fn committed_pages(&self) -> usize {
        self.pages.lock().iter().filter(|p| p.is_some()).count()
    }

    /// The physical page backing byte `offset`, committing it if needed.
    pub fn commit(&self, offset: u64) -> Result<PhysAddr, Status> {
        if offset >= self.size {
            return Err(Status::OUT_OF_RANGE);
        }
        let index = (offset / PAGE_SIZE as u64) as usize;
        let mut pages = self.pages.lock();
        if let Some(page) = pages[index] {
            return Ok(page);
        }
        let page = self.memory.alloc_zeroed().ok_or(Status::NO_MEMORY)?;
        pages[index] = Some(page);
        Ok(page)
    }

    fn check_range(&self, offset: u64, len: usize) -> Result<(), Status> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(Status::OUT_OF_RANGE),
        }
    }

    /// Copy out `out.len()` bytes from `offset`. Uncommitted pages read as
    /// zeros and stay uncommitted.
    pub fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), Status> {
        self.check_range(offset, out.len())?;
        let pages = self.pages.lock();
        let mut done = 0;
        while done < out.len() {
            let at = offset + done as u64;
            let in_page = (at % PAGE_SIZE as u64) as usize;
            let chunk = (PAGE_SIZE - in_page).min(out.len() - done);
            match pages[(at / PAGE_SIZE as u64) as usize] {
                Some(page) => self
                    .memory
                    .read(page, in_page, &mut out[done..done + chunk]),
                None => out[done..done + chunk].fill(0),
            }
            done += chunk;
        }
        Ok(())
    }

    /// Copy `data` in at `offset`, committing pages as needed. A borrowed
    /// VMO is ACCESS_DENIED.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), Status> {
        if !self.owned {
            return Err(Status::ACCESS_DENIED);
        }
        self.check_range(offset, data.len())?;
        let mut done = 0;
        while done < data.len() {
            let at = offset + done as u64;
            let in_page = (at % PAGE_SIZE as u64) as usize;
            let chunk = (PAGE_SIZE - in_page).min(data.len() - done);
            let page = self.commit(at)?;
            self.memory.write(page, in_page, &data[done..done + chunk]);
            done += chunk;
        }
        Ok(())
    }
}

impl Drop for Vmo {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        for page in self.pages.get_mut().iter().flatten() {
            self.memory.free(*page);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeMemory;

    #[test]
    fn pages_commit_on_first_write_and_read_back() {
        let memory = FakeMemory::leaked();
        let vmo = Vmo::new(memory, 3 * 4096 + 1).unwrap();
        assert_eq!(vmo.size(), 4 * 4096);
        assert_eq!(vmo.committed_pages(), 0);
        let mut buf = [0xffu8; 16];
        vmo.read(4090, &mut buf).unwrap();
        assert_eq!(buf, [0; 16]);
        assert_eq!(vmo.committed_pages(), 0, "reading commits nothing");
        vmo.write(4090, b"across a page!").unwrap();
        assert_eq!(vmo.committed_pages(), 2);
        let mut back = [0u8; 14];
        vmo.read(4090, &mut back).unwrap();
        assert_eq!(&back, b"across a page!");
        assert_eq!(
            vmo.read(4 * 4096 - 1, &mut [0; 2]),
            Err(Status::OUT_OF_RANGE)
        );
        assert_eq!(vmo.write(u64::MAX, &[1]), Err(Status::OUT_OF_RANGE));
        drop(vmo);
        assert_eq!(memory.pages_in_use(), 0, "dropping the VMO frees its pages");
    }

    #[test]
    fn borrowed_vmos_are_read_only_and_not_freed() {
        let memory = FakeMemory::leaked();
        let page = memory.alloc_zeroed().unwrap();
        memory.write(page, 10, b"lent");
        let vmo = Vmo::borrowed(memory, vec![page]);
        assert_eq!(vmo.size(), 4096);
        assert!(!vmo.is_writable());
        let mut out = [0u8; 4];
        vmo.read(10, &mut out).unwrap();
        assert_eq!(&out, b"lent");
        assert_eq!(vmo.commit(0), Ok(page));
        assert_eq!(vmo.write(0, b"x"), Err(Status::ACCESS_DENIED));
        drop(vmo);
        assert_eq!(memory.pages_in_use(), 1, "the lender keeps its page");
    }

    #[test]
    fn oversized_vmo_is_refused() {
        assert_eq!(
            Vmo::new(FakeMemory::leaked(), MAX_VMO_SIZE + 1).unwrap_err(),
            Status::OUT_OF_RANGE
        );
    }
}
