//! vmo_create, vmo_read, vmo_write, vmar_map, vmar_unmap, vmar_protect: the
//! rules (options, handles, rights); the pages themselves are `spinel-vm`'s
//! and the mapping is carried out by the kernel state, in each process's
//! `VmSpace`, with what these functions decide.
//!
//! Rules kept here:
//! - **Options first**, then the VMAR handle, then the VMO handle (each:
//!   BAD_HANDLE, ACCESS_DENIED, WRONG_TYPE), as Zircon checks them.
//! - **A mapping asks for rights.** Reading, writing and executing need
//!   READ, WRITE and EXECUTE on the VMAR handle and on the VMO handle (which
//!   also needs MAP). Read is implied by any mapping; write together with
//!   execute is refused (W^X).
//! - **Protect grants no more than the map could.** A mapping remembers the
//!   most its VMO handle allowed ([`VmarMap::max`]); `vmar_protect` stays
//!   within it.

use alloc::sync::Arc;
use spinel_abi::vm::{VM_MAP_OPTIONS, VM_PERM_EXECUTE, VM_PERM_READ, VM_PERM_WRITE, VM_SPECIFIC};
use spinel_abi::{HandleValue, Koid, Rights, Status};
use spinel_hal_api::PageFlags;
use spinel_vm::{PhysicalMemory, Vmo};

use crate::Kernel;

/// A `vmar_map` the rules allow: what to map where.
#[derive(Debug)]
pub struct VmarMap {
    /// The process whose address space the VMAR is.
    pub process: Koid,
    pub vmo: Arc<Vmo>,
    /// `Some(address)` for VM_SPECIFIC, else wherever there is room.
    pub at: Option<u64>,
    /// The mapping's permissions.
    pub flags: PageFlags,
    /// The most `vmar_protect` may later grant: what the VMO handle allows.
    pub max: PageFlags,
}

/// A `vmar_protect` the rules allow: whose space, with what permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmarProtect {
    pub process: Koid,
    pub flags: PageFlags,
}

impl Kernel {
    /// `vmo_create`: a VMO of `size` bytes whose pages come from `memory`
    /// (checks the NEW_VMO policy). Spinel's VMOs carry EXECUTE from
    /// creation (Zircon asks for a separate `vmo_replace_as_executable`), so
    /// a loader can map code from them.
    pub fn sys_vmo_create(
        &mut self,
        caller: Koid,
        size: u64,
        options: u32,
        memory: &'static dyn PhysicalMemory,
    ) -> Result<HandleValue, Status> {
        if options != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let verdict = self.policy_check(caller, spinel_abi::policy::POL_NEW_VMO)?;
        let result = (|| {
            let process = self.caller_process(caller)?;
            let vmo = Arc::new(Vmo::new(memory, size)?);
            let koid = self.create_vmo_object(vmo);
            let handle = self.new_handle(koid, Rights::DEFAULT_VMO.union(Rights::EXECUTE));
            Ok(self.install(process, handle))
        })();
        self.policy_finish(caller, verdict, &result);
        result
    }

    /// `vmo_read`: the VMO to copy from (the handle needs READ).
    #[inline]
    pub fn sys_vmo_read(&self, caller: Koid, vmo: HandleValue) -> Result<Arc<Vmo>, Status> {
        self.vmo_of(caller, vmo, Rights::READ).map(|(vmo, _)| vmo)
    }

    /// `vmo_write`: the VMO to copy into (the handle needs WRITE).
    #[inline]
    pub fn sys_vmo_write(&self, caller: Koid, vmo: HandleValue) -> Result<Arc<Vmo>, Status> {
        self.vmo_of(caller, vmo, Rights::WRITE).map(|(vmo, _)| vmo)
    }

    /// `vmar_map`: options (INVALID_ARGS for unknown bits or bad
    /// permissions), then the VMAR handle with the rights the permissions
    /// need, then the VMO handle with those and MAP.
    pub fn sys_vmar_map(
        &self,
        caller: Koid,
        vmar: HandleValue,
        options: u32,
        vmar_offset: u64,
        vmo: HandleValue,
    ) -> Result<VmarMap, Status> {
        if options & !VM_MAP_OPTIONS != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let flags = permissions(options)?;
        let needed = rights_for(options);
        let (process, _) = self.vmar_of(caller, vmar, needed)?;
        let (vmo, have) = self.vmo_of(caller, vmo, needed.union(Rights::MAP))?;
        let at = (options & VM_SPECIFIC != 0).then_some(vmar_offset);
        let max = PageFlags {
            write: have.contains(Rights::WRITE),
            execute: have.contains(Rights::EXECUTE),
            user: true,
        };
        Ok(VmarMap {
            process,
            vmo,
            at,
            flags,
            max,
        })
    }

    /// `vmar_unmap`: the process whose space the VMAR is (no rights needed).
    #[inline]
    pub fn sys_vmar_unmap(&self, caller: Koid, vmar: HandleValue) -> Result<Koid, Status> {
        self.vmar_of(caller, vmar, Rights::NONE)
            .map(|(process, _)| process)
    }

    /// `vmar_protect`: options (only permissions), then the VMAR handle with
    /// the rights they need.
    pub fn sys_vmar_protect(
        &self,
        caller: Koid,
        vmar: HandleValue,
        options: u32,
    ) -> Result<VmarProtect, Status> {
        if options & !(VM_PERM_READ | VM_PERM_WRITE | VM_PERM_EXECUTE) != 0 {
            return Err(Status::INVALID_ARGS);
        }
        let flags = permissions(options)?;
        let (process, _) = self.vmar_of(caller, vmar, rights_for(options))?;
        Ok(VmarProtect { process, flags })
    }
}

/// Page permissions for `VM_PERM_*` options: read is implied by any
/// mapping, but write or execute without read, and write with execute, are
/// INVALID_ARGS.
fn permissions(options: u32) -> Result<PageFlags, Status> {
    if options & VM_PERM_READ == 0 && options & (VM_PERM_WRITE | VM_PERM_EXECUTE) != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let write = options & VM_PERM_WRITE != 0;
    let execute = options & VM_PERM_EXECUTE != 0;
    if write && execute {
        return Err(Status::INVALID_ARGS);
    }
    Ok(PageFlags {
        write,
        execute,
        user: true,
    })
}

/// Rights the VMAR and VMO handles need for a mapping with `options`.
fn rights_for(options: u32) -> Rights {
    let mut rights = Rights::NONE;
    if options & VM_PERM_READ != 0 {
        rights = rights.union(Rights::READ);
    }
    if options & VM_PERM_WRITE != 0 {
        rights = rights.union(Rights::WRITE);
    }
    if options & VM_PERM_EXECUTE != 0 {
        rights = rights.union(Rights::EXECUTE);
    }
    rights
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_imply_read_and_refuse_write_with_execute() {
        assert_eq!(permissions(0), Ok(PageFlags::USER_RO));
        assert_eq!(permissions(VM_PERM_READ), Ok(PageFlags::USER_RO));
        assert_eq!(
            permissions(VM_PERM_READ | VM_PERM_WRITE),
            Ok(PageFlags::USER_RW)
        );
        assert_eq!(
            permissions(VM_PERM_READ | VM_PERM_EXECUTE),
            Ok(PageFlags::USER_RX)
        );
        assert_eq!(permissions(VM_PERM_WRITE), Err(Status::INVALID_ARGS));
        assert_eq!(permissions(VM_PERM_EXECUTE), Err(Status::INVALID_ARGS));
        assert_eq!(
            permissions(VM_PERM_READ | VM_PERM_WRITE | VM_PERM_EXECUTE),
            Err(Status::INVALID_ARGS)
        );
    }

    #[test]
    fn rights_follow_permissions() {
        assert_eq!(rights_for(0), Rights::NONE);
        assert_eq!(
            rights_for(VM_PERM_READ | VM_PERM_WRITE | VM_SPECIFIC),
            Rights::READ.union(Rights::WRITE)
        );
        assert_eq!(
            rights_for(VM_PERM_READ | VM_PERM_EXECUTE),
            Rights::READ.union(Rights::EXECUTE)
        );
    }
}
