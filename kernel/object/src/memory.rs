//! Memory objects as the object layer sees them: VMOs (whose pages live in
//! `spinel-vm`), each process's root VMAR (whose mappings the glue keeps, by
//! process), and kernel resources such as the debug link.
//!
//! The object layer checks handles, rights, types and states here; copying
//! between user memory and VMOs, and mapping, is the syscall layer's job.

use alloc::sync::Arc;
use spinel_abi::{HandleValue, Koid, ObjectType, Rights, Signals, Status};
use spinel_vm::{PhysicalMemory, Vmo};

use crate::Kernel;
use crate::object::Body;

/// Kernel resources a handle can stand for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ResourceKind {
    /// The second serial line, reserved for the debugger link.
    DebugLink,
}

impl Kernel {
    /// Put an existing VMO in the arena (the boot image, say); returns its koid.
    pub fn create_vmo_object(&mut self, vmo: Arc<Vmo>) -> Koid {
        self.insert(Body::Vmo(vmo), Signals::NONE)
    }

    /// A root VMAR object for `process`; returns its koid.
    pub fn create_vmar(&mut self, process: Koid) -> Koid {
        self.insert(Body::Vmar { process }, Signals::NONE)
    }

    /// A resource object; returns its koid.
    pub fn create_resource(&mut self, kind: ResourceKind) -> Koid {
        self.insert(Body::Resource(kind), Signals::NONE)
    }

    /// `vmo_create`: a VMO of `size` bytes whose pages come from `memory`.
    /// Spinel's VMOs carry EXECUTE from creation (Zircon asks for a separate
    /// `vmo_replace_as_executable`), so a loader can map code from them.
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

    /// The VMO behind a handle with `rights`: BAD_HANDLE, ACCESS_DENIED,
    /// WRONG_TYPE in Zircon's order. Also returns the handle's rights.
    pub fn vmo_of(
        &self,
        caller: Koid,
        value: HandleValue,
        rights: Rights,
    ) -> Result<(Arc<Vmo>, Rights), Status> {
        let (koid, have) = self.object_of(caller, value, rights, ObjectType::VMO)?;
        match &self.objects[&koid].body {
            Body::Vmo(vmo) => Ok((vmo.clone(), have)),
            _ => Err(Status::WRONG_TYPE),
        }
    }

    /// The process whose root VMAR a handle names, and the handle's rights.
    /// BAD_STATE once the process is dead.
    pub fn vmar_of(
        &self,
        caller: Koid,
        value: HandleValue,
        rights: Rights,
    ) -> Result<(Koid, Rights), Status> {
        let (koid, have) = self.object_of(caller, value, rights, ObjectType::VMAR)?;
        match &self.objects[&koid].body {
            Body::Vmar { process }
                if self.is_live(*process) && !self.process(*process).is_dead() =>
            {
                Ok((*process, have))
            }
            Body::Vmar { .. } => Err(Status::BAD_STATE),
            _ => Err(Status::WRONG_TYPE),
        }
    }

    /// Check that a handle names the resource `kind` with `rights`; its koid.
    pub fn resource_of(
        &self,
        caller: Koid,
        value: HandleValue,
        kind: ResourceKind,
        rights: Rights,
    ) -> Result<Koid, Status> {
        let (koid, _) = self.object_of(caller, value, rights, ObjectType::RESOURCE)?;
        match &self.objects[&koid].body {
            Body::Resource(k) if *k == kind => Ok(koid),
            _ => Err(Status::WRONG_TYPE),
        }
    }

    /// Assert or clear OBJECT_READABLE on a resource: for the debug link,
    /// bytes wait on its line (set when its UART interrupts, cleared when a
    /// read drains it), so its holder can wait instead of polling.
    pub fn set_resource_readable(&mut self, koid: Koid, readable: bool) {
        if !matches!(
            self.objects.get(&koid).map(|e| &e.body),
            Some(Body::Resource(_))
        ) {
            return;
        }
        let (set, clear) = if readable {
            (Signals::OBJECT_READABLE, Signals::NONE)
        } else {
            (Signals::NONE, Signals::OBJECT_READABLE)
        };
        self.update_signals(koid, clear, set);
    }

    /// The process of a live thread (for the glue).
    pub fn thread_process(&self, thread: Koid) -> Option<Koid> {
        match self.objects.get(&thread).map(|e| &e.body) {
            Some(Body::Thread(t)) => Some(t.process),
            _ => None,
        }
    }
}
