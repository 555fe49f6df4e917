//! handle_close, handle_duplicate, handle_replace.

use spinel_abi::{HandleValue, Koid, Rights, Status};

use crate::Kernel;

impl Kernel {
    /// Remove a handle from the caller's table, ending waits made through it.
    pub(crate) fn take_handle(
        &mut self,
        caller: Koid,
        value: HandleValue,
    ) -> Result<crate::Handle, Status> {
        let process = self.caller_process(caller)?;
        let handle = self
            .process_mut(process)
            .handles
            .remove(value)
            .ok_or(Status::BAD_HANDLE)?;
        self.cancel_observers_of_handle(handle.koid, (process, value));
        Ok(handle)
    }

    /// `handle_close`: closing INVALID is OK.
    pub fn sys_handle_close(&mut self, caller: Koid, value: HandleValue) -> Result<(), Status> {
        if value.is_invalid() {
            return Ok(());
        }
        let handle = self.take_handle(caller, value)?;
        self.release_handle(handle);
        Ok(())
    }

    /// `handle_duplicate`: needs DUPLICATE; `rights` must be a subset (or SAME_RIGHTS).
    pub fn sys_handle_duplicate(
        &mut self,
        caller: Koid,
        value: HandleValue,
        rights: Rights,
    ) -> Result<HandleValue, Status> {
        let (koid, have) = self.handle_of(caller, value)?;
        if !have.contains(Rights::DUPLICATE) {
            return Err(Status::ACCESS_DENIED);
        }
        let rights = subset(have, rights)?;
        let process = self.caller_process(caller)?;
        if self.process(process).handles.is_full() {
            return Err(Status::NO_RESOURCES);
        }
        let handle = self.new_handle(koid, rights);
        Ok(self.install(process, handle))
    }

    /// `handle_replace`: a new handle with a subset of the rights; the old one
    /// is gone (on INVALID_ARGS it stays).
    pub fn sys_handle_replace(
        &mut self,
        caller: Koid,
        value: HandleValue,
        rights: Rights,
    ) -> Result<HandleValue, Status> {
        let (_, have) = self.handle_of(caller, value)?;
        let rights = subset(have, rights)?;
        let process = self.caller_process(caller)?;
        let mut handle = self.take_handle(caller, value)?;
        handle.rights = rights;
        Ok(self.install(process, handle))
    }
}

fn subset(have: Rights, asked: Rights) -> Result<Rights, Status> {
    if asked == Rights::SAME_RIGHTS {
        Ok(have)
    } else if have.contains(asked) {
        Ok(asked)
    } else {
        Err(Status::INVALID_ARGS)
    }
}
