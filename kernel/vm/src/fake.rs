//! Host stand-ins for physical memory and page tables, for the tests.

use crate::PhysicalMemory;
use spinel_hal_api::{
    AddressSpace, FrameAllocator, MapError, PAGE_SIZE, PageFlags, PhysAddr, VirtAddr,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Physical pages as boxed arrays, with a count of pages in use.
#[derive(Default)]
pub struct FakeMemory {
    pages: Mutex<HashMap<u64, Box<[u8; PAGE_SIZE]>>>,
    next: Mutex<u64>,
}

impl FakeMemory {
    pub fn leaked() -> &'static FakeMemory {
        Box::leak(Box::default())
    }
    pub fn pages_in_use(&self) -> usize {
        self.pages.lock().unwrap().len()
    }
}

impl PhysicalMemory for FakeMemory {
    fn alloc_zeroed(&self) -> Option<PhysAddr> {
        let mut next = self.next.lock().unwrap();
        *next += PAGE_SIZE as u64;
        self.pages
            .lock()
            .unwrap()
            .insert(*next, Box::new([0; PAGE_SIZE]));
        Some(PhysAddr(*next))
    }
    fn free(&self, page: PhysAddr) {
        assert!(
            self.pages.lock().unwrap().remove(&page.0).is_some(),
            "double free of {page:?}"
        );
    }
    fn read(&self, page: PhysAddr, offset: usize, out: &mut [u8]) {
        out.copy_from_slice(&self.pages.lock().unwrap()[&page.0][offset..offset + out.len()]);
    }
    fn write(&self, page: PhysAddr, offset: usize, data: &[u8]) {
        self.pages.lock().unwrap().get_mut(&page.0).unwrap()[offset..offset + data.len()]
            .copy_from_slice(data);
    }
}

/// Page tables as a map, taking one frame for "the tables" to check that
/// `destroy` gives it back.
pub struct FakeSpace {
    pub entries: BTreeMap<u64, (PhysAddr, PageFlags)>,
    root: PhysAddr,
}

impl AddressSpace for FakeSpace {
    fn new(frames: &mut dyn FrameAllocator) -> Result<Self, MapError> {
        let root = frames.alloc_frame().ok_or(MapError::OutOfMemory)?;
        Ok(FakeSpace {
            entries: BTreeMap::new(),
            root,
        })
    }
    fn map(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        flags: PageFlags,
        _: &mut dyn FrameAllocator,
    ) -> Result<(), MapError> {
        if !va.is_page_aligned() || !pa.is_page_aligned() {
            return Err(MapError::BadAddress);
        }
        if self.entries.contains_key(&va.0) {
            return Err(MapError::AlreadyMapped);
        }
        self.entries.insert(va.0, (pa, flags));
        Ok(())
    }
    fn unmap(&mut self, va: VirtAddr) -> Result<PhysAddr, MapError> {
        self.entries
            .remove(&va.0)
            .map(|(pa, _)| pa)
            .ok_or(MapError::NotMapped)
    }
    fn protect(&mut self, va: VirtAddr, flags: PageFlags) -> Result<(), MapError> {
        self.entries
            .get_mut(&va.0)
            .map(|e| e.1 = flags)
            .ok_or(MapError::NotMapped)
    }
    fn translate(&self, va: VirtAddr) -> Option<(PhysAddr, PageFlags)> {
        self.entries.get(&va.page_base().0).copied()
    }
    fn activate(&self) {}
    fn destroy(self, frames: &mut dyn FrameAllocator) {
        frames.free_frame(self.root);
    }
}

/// A minimal ELF64 executable with the given (vaddr, flags, bytes, memsz) segments.
pub fn build_elf(machine: u16, entry: u64, segments: &[(u64, u32, &[u8], u64)]) -> Vec<u8> {
    let mut file = vec![0u8; 64 + 56 * segments.len()];
    file[..4].copy_from_slice(b"\x7fELF");
    file[4] = 2;
    file[5] = 1;
    file[6] = 1;
    file[16..18].copy_from_slice(&2u16.to_le_bytes());
    file[18..20].copy_from_slice(&machine.to_le_bytes());
    file[24..32].copy_from_slice(&entry.to_le_bytes());
    file[32..40].copy_from_slice(&64u64.to_le_bytes());
    file[54..56].copy_from_slice(&56u16.to_le_bytes());
    file[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
    for (i, (vaddr, flags, bytes, memsz)) in segments.iter().enumerate() {
        let offset = file.len() as u64;
        file.extend_from_slice(bytes);
        let ph = 64 + 56 * i;
        file[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes());
        file[ph + 4..ph + 8].copy_from_slice(&flags.to_le_bytes());
        file[ph + 8..ph + 16].copy_from_slice(&offset.to_le_bytes());
        file[ph + 16..ph + 24].copy_from_slice(&vaddr.to_le_bytes());
        file[ph + 32..ph + 40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        file[ph + 40..ph + 48].copy_from_slice(&memsz.to_le_bytes());
    }
    file
}
