//! `handle_close`, `handle_duplicate`, `handle_replace`; the owned
//! [`Handle`] and the [`HandleBased`] trait of the typed wrappers.

use crate::sys::{call, status};
use crate::{HandleValue, Rights, Status, Syscall, reg};

/// `handle_close(handle)`. Closing INVALID is OK.
pub fn handle_close(handle: HandleValue) -> Result<(), Status> {
    status(call(Syscall::HandleClose, &[reg(handle)]))
}

/// `handle_duplicate(handle, rights, out)`: a new handle to the same object
/// with `rights` (a subset, or [`Rights::SAME_RIGHTS`]).
pub fn handle_duplicate(handle: HandleValue, rights: Rights) -> Result<Handle, Status> {
    let mut out = 0u32;
    let out_ptr = &raw mut out;
    status(call(
        Syscall::HandleDuplicate,
        &[reg(handle), u64::from(rights.bits()), out_ptr as u64],
    ))?;
    Ok(Handle::from_raw(HandleValue(out)))
}

/// `handle_replace(handle, rights, out)`: `handle` is gone (unless the call
/// fails with INVALID_ARGS) and the new one has `rights`. Raw level: the
/// caller decides what `handle`'s ownership was; see [`Handle::replace`].
pub fn handle_replace(handle: HandleValue, rights: Rights) -> Result<Handle, Status> {
    let mut out = 0u32;
    let out_ptr = &raw mut out;
    status(call(
        Syscall::HandleReplace,
        &[reg(handle), u64::from(rights.bits()), out_ptr as u64],
    ))?;
    Ok(Handle::from_raw(HandleValue(out)))
}

/// An owned handle: closed when dropped.
#[derive(Debug, PartialEq, Eq)]
pub struct Handle(HandleValue);

impl Handle {
    /// The handle that names nothing (dropping it does nothing).
    pub const fn invalid() -> Self {
        Handle(HandleValue::INVALID)
    }
    /// Take ownership of a raw handle value (from a message, say).
    pub const fn from_raw(value: HandleValue) -> Self {
        Handle(value)
    }
    pub const fn raw(&self) -> HandleValue {
        self.0
    }
    pub const fn is_valid(&self) -> bool {
        !self.0.is_invalid()
    }
    /// Give up ownership without closing.
    pub fn into_raw(self) -> HandleValue {
        let value = self.0;
        core::mem::forget(self);
        value
    }
    /// Close now, reporting the status (dropping ignores it).
    pub fn close(self) -> Result<(), Status> {
        handle_close(self.into_raw())
    }
    /// A second handle with `rights` (or [`Rights::SAME_RIGHTS`]).
    pub fn duplicate(&self, rights: Rights) -> Result<Handle, Status> {
        handle_duplicate(self.0, rights)
    }
    /// This handle, with fewer rights. The kernel keeps the old handle only
    /// on INVALID_ARGS; it is then closed here, so `self` is gone either way.
    pub fn replace(self, rights: Rights) -> Result<Handle, Status> {
        let value = self.into_raw();
        handle_replace(value, rights).inspect_err(|_| {
            // Values are never reused, so closing one the kernel already
            // took is a harmless BAD_HANDLE.
            let _ = handle_close(value);
        })
    }
    /// `object_get_info(INFO_HANDLE_BASIC)`: koid, rights, type, related koid.
    pub fn basic_info(&self) -> Result<crate::HandleBasicInfo, Status> {
        crate::object::handle_basic_info(self.0)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if !self.0.is_invalid() {
            let _ = handle_close(self.0);
        }
    }
}

/// A typed owned handle: a [`Handle`] known to name one kind of object.
pub trait HandleBased: Sized {
    /// The object type the kernel reports for this wrapper.
    const OBJECT_TYPE: crate::ObjectType;
    /// Wrap a handle (not checked: the kernel checks at each call).
    fn from_handle(handle: Handle) -> Self;
    fn as_handle(&self) -> &Handle;
    fn into_handle(self) -> Handle;

    fn raw(&self) -> HandleValue {
        self.as_handle().raw()
    }
    /// Take ownership of a raw handle value.
    fn from_raw(value: HandleValue) -> Self {
        Self::from_handle(Handle::from_raw(value))
    }
    /// Give up ownership without closing.
    fn into_raw(self) -> HandleValue {
        self.into_handle().into_raw()
    }
    fn duplicate(&self, rights: Rights) -> Result<Self, Status> {
        self.as_handle().duplicate(rights).map(Self::from_handle)
    }
    fn replace(self, rights: Rights) -> Result<Self, Status> {
        self.into_handle().replace(rights).map(Self::from_handle)
    }
    fn basic_info(&self) -> Result<crate::HandleBasicInfo, Status> {
        self.as_handle().basic_info()
    }
    /// The object's koid.
    fn koid(&self) -> Result<crate::Koid, Status> {
        self.basic_info().map(|info| info.koid)
    }
    /// The rights this handle carries.
    fn rights(&self) -> Result<Rights, Status> {
        self.basic_info().map(|info| Rights(info.rights))
    }
}

/// Define a typed wrapper around [`Handle`].
macro_rules! handle_type {
    ($(#[$doc:meta])* $name:ident, $object_type:ident) => {
        $(#[$doc])*
        #[derive(Debug, PartialEq, Eq)]
        pub struct $name(crate::Handle);

        impl crate::HandleBased for $name {
            const OBJECT_TYPE: crate::ObjectType = crate::ObjectType::$object_type;
            fn from_handle(handle: crate::Handle) -> Self {
                $name(handle)
            }
            fn as_handle(&self) -> &crate::Handle {
                &self.0
            }
            fn into_handle(self) -> crate::Handle {
                self.0
            }
        }

        impl From<crate::Handle> for $name {
            fn from(handle: crate::Handle) -> Self {
                $name(handle)
            }
        }

        impl From<$name> for crate::Handle {
            fn from(typed: $name) -> crate::Handle {
                typed.0
            }
        }
    };
}

pub(crate) use handle_type;
