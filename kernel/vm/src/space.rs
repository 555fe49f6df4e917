//! A process's address space: its mappings of VMOs, demand paging, and the
//! checked copies through which the kernel reads and writes user memory.

use crate::{Frames, PhysicalMemory, Vmo};
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use spinel_abi::Status;
use spinel_abi::info::{INFO_MAPS_TYPE_MAPPING, InfoMapsEntry};
use spinel_abi::vm::{VM_PERM_EXECUTE, VM_PERM_READ, VM_PERM_WRITE};
use spinel_hal_api::{AddressSpace, PAGE_SIZE, PageFlags, PhysAddr, USER_TOP, VirtAddr};

const PAGE: u64 = PAGE_SIZE as u64;
/// Lowest user address handed out: the first 64 KiB stay unmapped so that
/// null pointers (and small offsets from them) fault.
pub const USER_BASE: u64 = 0x1_0000;

/// What an access wants of a mapping.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    Read,
    Write,
    Execute,
    /// A debugger's write: allowed on any mapping, whatever its permissions
    /// (to plant breakpoints in code).
    ForceWrite,
}

/// One mapping of a VMO range.
#[derive(Clone, Debug)]
pub struct Mapping {
    pub start: u64,
    pub len: u64,
    pub vmo: Arc<Vmo>,
    pub vmo_offset: u64,
    pub flags: PageFlags,
    /// The most `protect` may grant: what the VMO handle the mapping was
    /// made with allowed (never write for a read-only VMO).
    pub max: PageFlags,
}

impl Mapping {
    fn end(&self) -> u64 {
        self.start + self.len
    }
    fn allows(&self, access: Access) -> bool {
        match access {
            Access::Read | Access::ForceWrite => true,
            Access::Write => self.flags.write,
            Access::Execute => self.flags.execute,
        }
    }
}

/// A user address space: HAL page tables plus the mappings they are filled
/// from on demand.
pub struct VmSpace<A: AddressSpace> {
    /// Always `Some` until the space is dropped.
    arch: Option<A>,
    memory: &'static dyn PhysicalMemory,
    /// Mappings by start address; they never overlap.
    mappings: BTreeMap<u64, Mapping>,
    /// The last page the copies found present: (page address, physical
    /// page, flags), or a page address of `NO_PAGE`. Every change to the
    /// page tables goes through `arch_mut`, which forgets it.
    last: core::cell::Cell<(u64, PhysAddr, PageFlags)>,
}

/// Not a page address: the translation cache is empty.
const NO_PAGE: u64 = u64::MAX;
const NO_TRANSLATION: (u64, PhysAddr, PageFlags) = (NO_PAGE, PhysAddr(0), PageFlags::USER_RO);

fn page_range(addr: u64, len: u64) -> Result<(u64, u64), Status> {
    if !addr.is_multiple_of(PAGE) || len == 0 {
        return Err(Status::INVALID_ARGS);
    }
    let end = len
        .checked_next_multiple_of(PAGE)
        .and_then(|len| addr.checked_add(len))
        .ok_or(Status::INVALID_ARGS)?;
    if addr < USER_BASE || end > USER_TOP {
        return Err(Status::INVALID_ARGS);
    }
    Ok((addr, end))
}

/// Whether `flags` asks for nothing `max` lacks.
fn within(flags: PageFlags, max: PageFlags) -> bool {
    (!flags.write || max.write) && (!flags.execute || max.execute)
}

impl<A: AddressSpace> VmSpace<A> {
    pub fn new(memory: &'static dyn PhysicalMemory) -> Result<Self, Status> {
        let arch = A::new(&mut Frames(memory)).map_err(|_| Status::NO_MEMORY)?;
        Ok(VmSpace {
            arch: Some(arch),
            memory,
            mappings: BTreeMap::new(),
            last: core::cell::Cell::new(NO_TRANSLATION),
        })
    }

    /// The HAL address space, to activate it.
    pub fn arch(&self) -> &A {
        self.arch.as_ref().expect("the space is live until dropped")
    }

    /// The HAL address space, to change it: forgets the cached translation.
    fn arch_mut(&mut self) -> &mut A {
        self.last.set(NO_TRANSLATION);
        self.arch.as_mut().expect("the space is live until dropped")
    }

    /// Physical page and flags of the page at `page_va`, through a
    /// one-entry cache (the copies of one call mostly hit one stack page).
    #[inline]
    fn translate_page(&self, page_va: u64) -> Option<(PhysAddr, PageFlags)> {
        let (cached, page, flags) = self.last.get();
        if cached == page_va {
            return Some((page, flags));
        }
        let (page, flags) = self.arch().translate(VirtAddr(page_va))?;
        let page = PhysAddr(page.0 & !(PAGE - 1));
        self.last.set((page_va, page, flags));
        Some((page, flags))
    }

    pub fn mappings(&self) -> impl Iterator<Item = &Mapping> {
        self.mappings.values()
    }

    /// Number of mappings.
    pub fn mapping_count(&self) -> usize {
        self.mappings.len()
    }

    /// The mappings as `INFO_PROCESS_MAPS` records, in address order: the
    /// VMO's koid and name, the permissions as mapped now, the bytes of the
    /// mapped range the VMO has committed.
    pub fn maps(&self) -> impl Iterator<Item = InfoMapsEntry> + '_ {
        self.mappings.values().map(|m| {
            let mut mmu_flags = VM_PERM_READ;
            if m.flags.write {
                mmu_flags |= VM_PERM_WRITE;
            }
            if m.flags.execute {
                mmu_flags |= VM_PERM_EXECUTE;
            }
            InfoMapsEntry {
                name: m.vmo.name(),
                base: m.start,
                size: m.len,
                depth: 1,
                kind: INFO_MAPS_TYPE_MAPPING,
                mmu_flags,
                vmo_koid: m.vmo.koid(),
                vmo_offset: m.vmo_offset,
                committed_bytes: m.vmo.committed_bytes_in(m.vmo_offset, m.len),
            }
        })
    }

    /// The mapping containing `va`.
    pub fn find(&self, va: u64) -> Option<&Mapping> {
        self.mappings
            .range(..=va)
            .next_back()
            .map(|(_, m)| m)
            .filter(|m| va < m.end())
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.mappings
            .range(..end)
            .next_back()
            .is_some_and(|(_, m)| m.end() > start)
    }

    /// The lowest free gap of `len` bytes.
    fn find_gap(&self, len: u64) -> Option<u64> {
        let mut candidate = USER_BASE;
        for mapping in self.mappings.values() {
            if mapping.start >= candidate + len {
                break;
            }
            candidate = candidate.max(mapping.end());
        }
        (candidate.checked_add(len)? <= USER_TOP).then_some(candidate)
    }

    /// Map `len` bytes of `vmo` from `vmo_offset`, at `addr` or wherever
    /// there is room. Pages are filled in on first touch. `protect` may
    /// not grant more than `flags` later.
    pub fn map(
        &mut self,
        addr: Option<u64>,
        vmo: Arc<Vmo>,
        vmo_offset: u64,
        len: u64,
        flags: PageFlags,
    ) -> Result<u64, Status> {
        self.map_with_max(addr, vmo, vmo_offset, len, flags, flags)
    }

    /// [`VmSpace::map`], with `max` the most `protect` may grant later (the
    /// rights of the VMO handle it was made with): `flags` must be within
    /// it, and a read-only VMO is never writable.
    pub fn map_with_max(
        &mut self,
        addr: Option<u64>,
        vmo: Arc<Vmo>,
        vmo_offset: u64,
        len: u64,
        flags: PageFlags,
        max: PageFlags,
    ) -> Result<u64, Status> {
        if len == 0
            || !vmo_offset.is_multiple_of(PAGE)
            || !flags.user
            || (flags.write && flags.execute)
        {
            return Err(Status::INVALID_ARGS);
        }
        let max = PageFlags {
            write: max.write && vmo.is_writable(),
            ..max
        };
        if !within(flags, max) {
            return Err(Status::ACCESS_DENIED);
        }
        let len = len
            .checked_next_multiple_of(PAGE)
            .ok_or(Status::OUT_OF_RANGE)?;
        if vmo_offset
            .checked_add(len)
            .is_none_or(|end| end > vmo.size())
        {
            return Err(Status::OUT_OF_RANGE);
        }
        let start = match addr {
            Some(addr) => {
                let (start, end) = page_range(addr, len)?;
                if self.overlaps(start, end) {
                    return Err(Status::ALREADY_EXISTS);
                }
                start
            }
            None => self.find_gap(len).ok_or(Status::NO_RESOURCES)?,
        };
        self.mappings.insert(
            start,
            Mapping {
                start,
                len,
                vmo,
                vmo_offset,
                flags,
                max,
            },
        );
        Ok(start)
    }

    /// Split the mapping containing `at` so that one starts exactly at `at`.
    fn split_at(&mut self, at: u64) {
        let Some(mapping) = self.find(at).cloned() else {
            return;
        };
        if mapping.start == at {
            return;
        }
        let head_len = at - mapping.start;
        let tail = Mapping {
            start: at,
            len: mapping.len - head_len,
            vmo: mapping.vmo.clone(),
            vmo_offset: mapping.vmo_offset + head_len,
            flags: mapping.flags,
            max: mapping.max,
        };
        self.mappings
            .get_mut(&mapping.start)
            .expect("found above")
            .len = head_len;
        self.mappings.insert(at, tail);
    }

    /// Remove every mapping in `[addr, addr + len)`, splitting those that
    /// straddle its ends.
    pub fn unmap(&mut self, addr: u64, len: u64) -> Result<(), Status> {
        let (start, end) = page_range(addr, len)?;
        self.split_at(start);
        self.split_at(end);
        let doomed: alloc::vec::Vec<u64> =
            self.mappings.range(start..end).map(|(&s, _)| s).collect();
        if doomed.is_empty() {
            return Err(Status::NOT_FOUND);
        }
        for s in doomed {
            let mapping = self.mappings.remove(&s).expect("listed above");
            self.unmap_pages(mapping.start, mapping.end());
        }
        Ok(())
    }

    fn unmap_pages(&mut self, start: u64, end: u64) {
        let mut va = start;
        while va < end {
            // Pages never touched were never mapped: nothing to undo.
            let _ = self.arch_mut().unmap(VirtAddr(va));
            va += PAGE;
        }
    }

    /// Change the permissions of `[addr, addr + len)`, which must be covered
    /// by mappings without holes, each allowing `flags` (ACCESS_DENIED if
    /// one was made with less).
    pub fn protect(&mut self, addr: u64, len: u64, flags: PageFlags) -> Result<(), Status> {
        let (start, end) = page_range(addr, len)?;
        if !flags.user || (flags.write && flags.execute) {
            return Err(Status::INVALID_ARGS);
        }
        let mut cursor = start;
        while cursor < end {
            let mapping = self.find(cursor).ok_or(Status::NOT_FOUND)?;
            if !within(flags, mapping.max) {
                return Err(Status::ACCESS_DENIED);
            }
            cursor = mapping.end();
        }
        self.split_at(start);
        self.split_at(end);
        let starts: alloc::vec::Vec<u64> =
            self.mappings.range(start..end).map(|(&s, _)| s).collect();
        for s in starts {
            let mapping = self.mappings.get_mut(&s).expect("listed above");
            mapping.flags = flags;
            self.last.set(NO_TRANSLATION);
            let arch = self.arch.as_mut().expect("the space is live until dropped");
            let (from, to) = (mapping.start, mapping.end());
            let mut va = from;
            while va < to {
                if arch.translate(VirtAddr(va)).is_some() {
                    arch.protect(VirtAddr(va), flags)
                        .map_err(|_| Status::INTERNAL)?;
                }
                va += PAGE;
            }
        }
        Ok(())
    }

    /// Resolve a page fault at `va`: map the backing page if the mapping
    /// allows `access`. An error means the fault is fatal for the thread;
    /// the status is what the exception report's `synth_code` carries.
    pub fn fault(&mut self, va: u64, access: Access) -> Result<(), Status> {
        let mapping = self.find(va).ok_or(Status::NOT_FOUND)?;
        if !mapping.allows(access) || access == Access::ForceWrite {
            return Err(Status::ACCESS_DENIED);
        }
        let page_va = va & !(PAGE - 1);
        let page = mapping
            .vmo
            .commit(mapping.vmo_offset + (page_va - mapping.start))?;
        let flags = mapping.flags;
        let memory = self.memory;
        let arch = self.arch_mut();
        match arch.translate(VirtAddr(page_va)) {
            // Already present with these permissions: the access was allowed
            // all along (another thread raced us to it, say).
            Some((present, present_flags)) if present == page && present_flags == flags => Ok(()),
            Some(_) => arch
                .protect(VirtAddr(page_va), flags)
                .map_err(|_| Status::INTERNAL),
            None => arch
                .map(VirtAddr(page_va), page, flags, &mut Frames(memory))
                .map_err(|_| Status::NO_MEMORY),
        }
    }

    /// Walk `[va, va + len)` page by page through the mappings, checking
    /// `access` on each; `step(vmo, vmo_offset, range_in_buffer)`.
    fn walk(
        &self,
        va: u64,
        len: usize,
        access: Access,
        mut step: impl FnMut(&Vmo, u64, core::ops::Range<usize>) -> Result<(), Status>,
    ) -> Result<(), Status> {
        let end = va.checked_add(len as u64).ok_or(Status::INVALID_ARGS)?;
        if end > USER_TOP {
            return Err(Status::INVALID_ARGS);
        }
        let mut done = 0usize;
        while done < len {
            let at = va + done as u64;
            let mapping = self.find(at).ok_or(Status::INVALID_ARGS)?;
            if !mapping.allows(access) {
                return Err(Status::INVALID_ARGS);
            }
            let chunk = ((mapping.end() - at) as usize).min(len - done);
            step(
                &mapping.vmo,
                mapping.vmo_offset + (at - mapping.start),
                done..done + chunk,
            )?;
            done += chunk;
        }
        Ok(())
    }

    /// The fast path of the copies: walk `[va, va + len)` through the page
    /// tables, `step(page, offset_in_page, range_in_buffer)` for each page.
    /// False (after any number of steps) when some page is not present
    /// with the access allowed (never touched yet, or read-only for a
    /// write): the caller then goes the mappings' way, which commits pages
    /// and decides. A present page is always the page its mapping's VMO
    /// holds at that offset, with the mapping's permissions (faults map
    /// exactly that, protect and unmap keep the tables in step), so both
    /// ways see the same bytes.
    fn direct(
        &self,
        va: u64,
        len: usize,
        write: bool,
        mut step: impl FnMut(PhysAddr, usize, core::ops::Range<usize>),
    ) -> bool {
        let Some(end) = va.checked_add(len as u64) else {
            return false;
        };
        if end > USER_TOP {
            return false;
        }
        let mut done = 0usize;
        while done < len {
            let at = va + done as u64;
            let offset = (at & (PAGE - 1)) as usize;
            let Some((page, flags)) = self.translate_page(at - offset as u64) else {
                return false;
            };
            if !flags.user || (write && !flags.write) {
                return false;
            }
            let chunk = (PAGE_SIZE - offset).min(len - done);
            step(page, offset, done..done + chunk);
            done += chunk;
        }
        true
    }

    /// Check that `[va, va + len)` is wholly mapped with `access` allowed,
    /// without copying (for output pointers, before a call acts).
    pub fn check(&self, va: u64, len: usize, access: Access) -> Result<(), Status> {
        if access == Access::Write && self.direct(va, len, true, |_, _, _| {}) {
            return Ok(());
        }
        self.walk(va, len, access, |_, _, _| Ok(()))
    }

    /// Copy user memory at `va` into `out`. An address range not wholly
    /// mapped readable is `INVALID_ARGS`.
    pub fn read(&self, va: u64, out: &mut [u8]) -> Result<(), Status> {
        let memory = self.memory;
        if self.direct(va, out.len(), false, |page, offset, range| {
            memory.read(page, offset, &mut out[range])
        }) {
            return Ok(());
        }
        let len = out.len();
        self.walk(va, len, Access::Read, |vmo, offset, range| {
            vmo.read(offset, &mut out[range])
        })
    }

    /// Copy `data` to user memory at `va`; the range must be mapped with
    /// `access` allowed (Write for syscall results, ForceWrite for debuggers).
    pub fn write(&self, va: u64, data: &[u8], access: Access) -> Result<(), Status> {
        // A page the tables let user mode write may be written directly,
        // whatever `access` (both allow writable mappings); a partial
        // direct copy is simply done again the mappings' way.
        let memory = self.memory;
        if self.direct(va, data.len(), true, |page, offset, range| {
            memory.write(page, offset, &data[range])
        }) {
            return Ok(());
        }
        self.walk(va, data.len(), access, |vmo, offset, range| {
            vmo.write(offset, &data[range])
        })
    }

    /// Physical page and flags currently mapped at `va`, if any.
    pub fn translate(&self, va: u64) -> Option<(PhysAddr, PageFlags)> {
        self.arch().translate(VirtAddr(va))
    }
}

impl<A: AddressSpace> Drop for VmSpace<A> {
    fn drop(&mut self) {
        let mappings = core::mem::take(&mut self.mappings);
        for mapping in mappings.values() {
            self.unmap_pages(mapping.start, mapping.end());
        }
        // The HAL frees the page-table pages; the VMOs free their own pages
        // when their last reference goes.
        self.last.set(NO_TRANSLATION);
        if let Some(arch) = self.arch.take() {
            arch.destroy(&mut Frames(self.memory));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeMemory, FakeSpace};

    fn setup() -> (&'static FakeMemory, VmSpace<FakeSpace>) {
        let memory = FakeMemory::leaked();
        (memory, VmSpace::new(memory).unwrap())
    }

    fn vmo(memory: &'static FakeMemory, pages: u64) -> Arc<Vmo> {
        Arc::new(Vmo::new(memory, pages * PAGE).unwrap())
    }

    #[test]
    fn map_finds_gaps_and_refuses_overlaps() {
        let (memory, mut space) = setup();
        let a = space
            .map(None, vmo(memory, 2), 0, 2 * PAGE, PageFlags::USER_RW)
            .unwrap();
        assert_eq!(a, USER_BASE);
        let b = space
            .map(None, vmo(memory, 1), 0, PAGE, PageFlags::USER_RO)
            .unwrap();
        assert_eq!(b, USER_BASE + 2 * PAGE);
        let fixed = 0x40_0000;
        assert_eq!(
            space.map(Some(fixed), vmo(memory, 4), 0, 4 * PAGE, PageFlags::USER_RX),
            Ok(fixed)
        );
        let overlap = space.map(
            Some(fixed + PAGE),
            vmo(memory, 1),
            0,
            PAGE,
            PageFlags::USER_RW,
        );
        assert_eq!(overlap, Err(Status::ALREADY_EXISTS));
        let unaligned = space.map(Some(fixed + 1), vmo(memory, 1), 0, PAGE, PageFlags::USER_RW);
        assert_eq!(unaligned, Err(Status::INVALID_ARGS));
        let too_high = space.map(Some(USER_TOP), vmo(memory, 1), 0, PAGE, PageFlags::USER_RW);
        assert_eq!(too_high, Err(Status::INVALID_ARGS));
        let null = space.map(Some(0), vmo(memory, 1), 0, PAGE, PageFlags::USER_RW);
        assert_eq!(null, Err(Status::INVALID_ARGS));
        let past_vmo = space.map(None, vmo(memory, 1), PAGE, PAGE, PageFlags::USER_RW);
        assert_eq!(past_vmo, Err(Status::OUT_OF_RANGE));
        let wx = PageFlags {
            write: true,
            execute: true,
            user: true,
        };
        assert_eq!(
            space.map(None, vmo(memory, 1), 0, PAGE, wx),
            Err(Status::INVALID_ARGS)
        );
        assert_eq!(
            space.map(None, vmo(memory, 1), 0, PAGE, PageFlags::KERNEL_RW),
            Err(Status::INVALID_ARGS)
        );
    }

    #[test]
    fn faults_commit_pages_and_check_permissions() {
        let (memory, mut space) = setup();
        let data = vmo(memory, 2);
        let addr = space
            .map(None, data.clone(), 0, 2 * PAGE, PageFlags::USER_RW)
            .unwrap();
        assert!(
            space.translate(addr).is_none(),
            "nothing is mapped before a touch"
        );
        space.fault(addr + 5, Access::Write).unwrap();
        let (page, flags) = space.translate(addr).unwrap();
        assert_eq!(flags, PageFlags::USER_RW);
        assert_eq!(data.committed_pages(), 1);
        assert_eq!(
            data.commit(0),
            Ok(page),
            "the mapped page is the VMO's page"
        );
        assert_eq!(
            space.fault(addr, Access::Execute),
            Err(Status::ACCESS_DENIED)
        );
        assert_eq!(
            space.fault(addr + 2 * PAGE, Access::Read),
            Err(Status::NOT_FOUND)
        );
        let code = space
            .map(None, vmo(memory, 1), 0, PAGE, PageFlags::USER_RX)
            .unwrap();
        assert_eq!(space.fault(code, Access::Write), Err(Status::ACCESS_DENIED));
        assert_eq!(space.fault(code, Access::Execute), Ok(()));
    }

    #[test]
    fn user_copies_are_checked() {
        let (memory, mut space) = setup();
        let addr = space
            .map(None, vmo(memory, 2), 0, 2 * PAGE, PageFlags::USER_RW)
            .unwrap();
        let ro = space
            .map(None, vmo(memory, 1), 0, PAGE, PageFlags::USER_RO)
            .unwrap();
        space
            .write(addr + PAGE - 3, b"hello", Access::Write)
            .unwrap();
        let mut out = [0u8; 5];
        space.read(addr + PAGE - 3, &mut out).unwrap();
        assert_eq!(&out, b"hello");
        // Runs past the end of the mappings, into the read-only one, into nothing.
        assert_eq!(
            space.write(ro - 2, b"abcd", Access::Write),
            Err(Status::INVALID_ARGS)
        );
        assert_eq!(space.write(ro, b"x", Access::ForceWrite), Ok(()));
        assert_eq!(
            space.read(ro + PAGE - 1, &mut [0; 2]),
            Err(Status::INVALID_ARGS)
        );
        assert_eq!(space.read(0, &mut [0; 1]), Err(Status::INVALID_ARGS));
        assert_eq!(
            space.read(u64::MAX - 1, &mut [0; 4]),
            Err(Status::INVALID_ARGS)
        );
        assert_eq!(
            space.read(0xffff_8000_0000_0000, &mut [0; 4]),
            Err(Status::INVALID_ARGS)
        );
        // A fault after a kernel write sees the same bytes.
        space.fault(addr + PAGE, Access::Read).unwrap();
        let (page, _) = space.translate(addr + PAGE).unwrap();
        let mut direct = [0u8; 2];
        memory.read(page, 0, &mut direct);
        assert_eq!(&direct, b"lo");
    }

    #[test]
    fn unmap_and_protect_split_mappings() {
        let (memory, mut space) = setup();
        let addr = space
            .map(None, vmo(memory, 4), 0, 4 * PAGE, PageFlags::USER_RW)
            .unwrap();
        for i in 0..4 {
            space.fault(addr + i * PAGE, Access::Write).unwrap();
        }
        space
            .protect(addr + PAGE, PAGE, PageFlags::USER_RO)
            .unwrap();
        assert_eq!(space.translate(addr + PAGE).unwrap().1, PageFlags::USER_RO);
        assert_eq!(space.translate(addr).unwrap().1, PageFlags::USER_RW);
        assert_eq!(space.mappings().count(), 3);
        space.unmap(addr + 2 * PAGE, PAGE).unwrap();
        assert!(space.translate(addr + 2 * PAGE).is_none());
        assert!(space.find(addr + 2 * PAGE).is_none());
        assert_eq!(space.find(addr + 3 * PAGE).unwrap().vmo_offset, 3 * PAGE);
        assert_eq!(
            space.protect(addr, 4 * PAGE, PageFlags::USER_RO),
            Err(Status::NOT_FOUND),
            "hole"
        );
        assert_eq!(space.unmap(0x7000_0000, PAGE), Err(Status::NOT_FOUND));
        space.unmap(addr, 4 * PAGE).unwrap();
        assert_eq!(space.mappings().count(), 0);
    }

    #[test]
    fn protect_grants_no_more_than_the_mapping_was_made_with() {
        let (memory, mut space) = setup();
        // A read-only VMO (the kernel's own pages) never becomes writable.
        let page = memory.alloc_zeroed().unwrap();
        let borrowed = Arc::new(Vmo::borrowed(memory, alloc::vec![page]));
        let addr = space
            .map(None, borrowed.clone(), 0, PAGE, PageFlags::USER_RO)
            .unwrap();
        assert_eq!(
            space.protect(addr, PAGE, PageFlags::USER_RW),
            Err(Status::ACCESS_DENIED)
        );
        assert_eq!(space.fault(addr, Access::Write), Err(Status::ACCESS_DENIED));
        assert_eq!(
            space.map_with_max(
                None,
                borrowed,
                0,
                PAGE,
                PageFlags::USER_RO,
                PageFlags::USER_RW
            ),
            Ok(addr + PAGE),
        );
        assert_eq!(
            space.protect(addr + PAGE, PAGE, PageFlags::USER_RW),
            Err(Status::ACCESS_DENIED),
            "a writable handle does not make a read-only VMO writable"
        );
        // A mapping made read-only from a handle that allows writing may be
        // made writable (and back); one that does not allow it may not.
        let rw = space
            .map_with_max(
                None,
                vmo(memory, 2),
                0,
                2 * PAGE,
                PageFlags::USER_RO,
                PageFlags::USER_RW,
            )
            .unwrap();
        space.protect(rw, 2 * PAGE, PageFlags::USER_RW).unwrap();
        space.protect(rw + PAGE, PAGE, PageFlags::USER_RO).unwrap();
        assert_eq!(
            space.protect(rw, 2 * PAGE, PageFlags::USER_RX),
            Err(Status::ACCESS_DENIED)
        );
        assert_eq!(
            space.map_with_max(
                None,
                vmo(memory, 1),
                0,
                PAGE,
                PageFlags::USER_RW,
                PageFlags::USER_RO
            ),
            Err(Status::ACCESS_DENIED)
        );
    }

    #[test]
    fn lengths_near_the_top_of_u64_are_refused_not_overflowed() {
        let (memory, mut space) = setup();
        let addr = space
            .map(None, vmo(memory, 1), 0, PAGE, PageFlags::USER_RW)
            .unwrap();
        for len in [u64::MAX, u64::MAX - PAGE + 2] {
            assert_eq!(
                space.map(None, vmo(memory, 1), 0, len, PageFlags::USER_RO),
                Err(Status::OUT_OF_RANGE)
            );
            assert_eq!(
                space.map(Some(0x40_0000), vmo(memory, 1), 0, len, PageFlags::USER_RO),
                Err(Status::OUT_OF_RANGE)
            );
            assert_eq!(space.unmap(addr, len), Err(Status::INVALID_ARGS));
            assert_eq!(
                space.protect(addr, len, PageFlags::USER_RO),
                Err(Status::INVALID_ARGS)
            );
        }
        assert_eq!(space.mappings().count(), 1);
    }

    #[test]
    fn copies_see_protect_and_unmap_at_once() {
        // The copies' translation cache must not outlive a change.
        let (memory, mut space) = setup();
        let addr = space
            .map(None, vmo(memory, 2), 0, 2 * PAGE, PageFlags::USER_RW)
            .unwrap();
        space.fault(addr, Access::Write).unwrap();
        space.write(addr + 8, b"abc", Access::Write).unwrap();
        assert_eq!(space.check(addr, 16, Access::Write), Ok(()));
        space.protect(addr, PAGE, PageFlags::USER_RO).unwrap();
        assert_eq!(
            space.write(addr + 8, b"x", Access::Write),
            Err(Status::INVALID_ARGS)
        );
        assert_eq!(
            space.check(addr, 16, Access::Write),
            Err(Status::INVALID_ARGS)
        );
        let mut out = [0u8; 3];
        space.read(addr + 8, &mut out).unwrap();
        assert_eq!(&out, b"abc");
        // A debugger's write goes through the read-only page.
        space.write(addr + 8, b"z", Access::ForceWrite).unwrap();
        space.read(addr + 8, &mut out).unwrap();
        assert_eq!(&out, b"zbc");
        space.unmap(addr, PAGE).unwrap();
        assert_eq!(space.read(addr + 8, &mut out), Err(Status::INVALID_ARGS));
        // The second page, never touched: committed by the copy itself.
        space.write(addr + PAGE, b"q", Access::Write).unwrap();
        space.read(addr + PAGE, &mut out[..1]).unwrap();
        assert_eq!(out[0], b'q');
    }

    #[test]
    fn dropping_the_space_frees_everything() {
        let memory = FakeMemory::leaked();
        {
            let mut space = VmSpace::<FakeSpace>::new(memory).unwrap();
            let addr = space
                .map(None, vmo(memory, 3), 0, 3 * PAGE, PageFlags::USER_RW)
                .unwrap();
            space.fault(addr, Access::Write).unwrap();
            space.write(addr + 2 * PAGE, b"x", Access::Write).unwrap();
            assert_eq!(
                memory.pages_in_use(),
                3,
                "two data pages and the fake root table"
            );
        }
        assert_eq!(memory.pages_in_use(), 0);
    }
}
