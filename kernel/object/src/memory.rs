//! Memory objects as the object layer sees them: VMOs (whose pages live in
//! `spinel-vm`), each process's root VMAR (whose mappings the glue keeps, by
//! process), and kernel resources such as the debug link.
//!
//! The object layer looks handles up here (rights, types, states); the rules
//! of the VM calls are in `syscall/vm.rs`, and copying between user memory
//! and VMOs, and mapping, is the kernel state's job.

use alloc::sync::Arc;
use spinel_abi::{HandleValue, Koid, ObjectType, Rights, Signals, Status};
use spinel_vm::Vmo;

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
        let label = vmo.clone();
        let koid = self.insert(Body::Vmo(vmo), Signals::NONE);
        label.set_koid(koid);
        koid
    }

    /// A root VMAR object for `process`; returns its koid.
    pub fn create_vmar(&mut self, process: Koid) -> Koid {
        self.insert(Body::Vmar { process }, Signals::NONE)
    }

    /// A resource object; returns its koid.
    pub fn create_resource(&mut self, kind: ResourceKind) -> Koid {
        self.insert(Body::Resource(kind), Signals::NONE)
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
