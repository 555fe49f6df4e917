//! Handle rights: Zircon's bits, and the default rights of each object type.

use core::ops::{BitAnd, BitOr, BitOrAssign, Not};

/// A set of rights carried by a handle.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
#[repr(transparent)]
pub struct Rights(pub u32);

impl Rights {
    pub const NONE: Rights = Rights(0);
    pub const DUPLICATE: Rights = Rights(1 << 0);
    pub const TRANSFER: Rights = Rights(1 << 1);
    pub const READ: Rights = Rights(1 << 2);
    pub const WRITE: Rights = Rights(1 << 3);
    pub const EXECUTE: Rights = Rights(1 << 4);
    pub const MAP: Rights = Rights(1 << 5);
    pub const GET_PROPERTY: Rights = Rights(1 << 6);
    pub const SET_PROPERTY: Rights = Rights(1 << 7);
    pub const ENUMERATE: Rights = Rights(1 << 8);
    pub const DESTROY: Rights = Rights(1 << 9);
    pub const SET_POLICY: Rights = Rights(1 << 10);
    pub const GET_POLICY: Rights = Rights(1 << 11);
    pub const SIGNAL: Rights = Rights(1 << 12);
    pub const SIGNAL_PEER: Rights = Rights(1 << 13);
    pub const WAIT: Rights = Rights(1 << 14);
    pub const INSPECT: Rights = Rights(1 << 15);
    pub const MANAGE_JOB: Rights = Rights(1 << 16);
    pub const MANAGE_PROCESS: Rights = Rights(1 << 17);
    pub const MANAGE_THREAD: Rights = Rights(1 << 18);
    pub const APPLY_PROFILE: Rights = Rights(1 << 19);
    pub const MANAGE_SOCKET: Rights = Rights(1 << 20);
    pub const OP_CHILDREN: Rights = Rights(1 << 21);
    pub const RESIZE: Rights = Rights(1 << 22);
    pub const ATTACH_VMO: Rights = Rights(1 << 23);
    pub const MANAGE_VMO: Rights = Rights(1 << 24);
    /// Not a right: asks duplicate/replace to keep the source's rights.
    pub const SAME_RIGHTS: Rights = Rights(1 << 31);

    pub const BASIC: Rights =
        Rights(Self::TRANSFER.0 | Self::DUPLICATE.0 | Self::WAIT.0 | Self::INSPECT.0);
    pub const IO: Rights = Rights(Self::READ.0 | Self::WRITE.0);
    pub const PROPERTY: Rights = Rights(Self::GET_PROPERTY.0 | Self::SET_PROPERTY.0);
    pub const POLICY: Rights = Rights(Self::GET_POLICY.0 | Self::SET_POLICY.0);

    pub const DEFAULT_CHANNEL: Rights = Rights(
        (Self::BASIC.0 & !Self::DUPLICATE.0) | Self::IO.0 | Self::SIGNAL.0 | Self::SIGNAL_PEER.0,
    );
    pub const DEFAULT_PORT: Rights = Rights(Self::BASIC.0 | Self::IO.0);
    pub const DEFAULT_EVENT: Rights = Rights(Self::BASIC.0 | Self::SIGNAL.0);
    pub const DEFAULT_PROCESS: Rights = Rights(
        Self::BASIC.0
            | Self::IO.0
            | Self::PROPERTY.0
            | Self::ENUMERATE.0
            | Self::DESTROY.0
            | Self::SIGNAL.0
            | Self::MANAGE_PROCESS.0
            | Self::MANAGE_THREAD.0,
    );
    pub const DEFAULT_THREAD: Rights = Rights(
        Self::BASIC.0
            | Self::IO.0
            | Self::PROPERTY.0
            | Self::DESTROY.0
            | Self::SIGNAL.0
            | Self::MANAGE_THREAD.0,
    );
    pub const DEFAULT_JOB: Rights = Rights(
        Self::BASIC.0
            | Self::IO.0
            | Self::PROPERTY.0
            | Self::POLICY.0
            | Self::ENUMERATE.0
            | Self::DESTROY.0
            | Self::SIGNAL.0
            | Self::MANAGE_JOB.0
            | Self::MANAGE_PROCESS.0
            | Self::MANAGE_THREAD.0,
    );
    pub const DEFAULT_VMO: Rights =
        Rights(Self::BASIC.0 | Self::IO.0 | Self::PROPERTY.0 | Self::MAP.0 | Self::SIGNAL.0);
    /// Rights of an exception handle: it can be moved, inspected and have its
    /// state set, but not duplicated.
    /// A process's root VMAR (Zircon's default VMAR rights).
    pub const DEFAULT_VMAR: Rights = Rights(
        Self::DUPLICATE.0
            | Self::TRANSFER.0
            | Self::READ.0
            | Self::WRITE.0
            | Self::EXECUTE.0
            | Self::MAP.0
            | Self::GET_PROPERTY.0
            | Self::SET_PROPERTY.0
            | Self::INSPECT.0
            | Self::OP_CHILDREN.0,
    );
    /// A kernel resource (Spinel's debug link): use it, hand it on.
    pub const DEFAULT_RESOURCE: Rights = Rights(
        Self::DUPLICATE.0 | Self::TRANSFER.0 | Self::READ.0 | Self::WRITE.0 | Self::INSPECT.0,
    );
    pub const DEFAULT_EXCEPTION: Rights =
        Rights(Self::TRANSFER.0 | Self::PROPERTY.0 | Self::INSPECT.0);
    pub const DEFAULT_SUSPEND_TOKEN: Rights = Rights(Self::TRANSFER.0 | Self::INSPECT.0);
    /// The end of an exception channel handed to the handler: read-only.
    pub const EXCEPTION_CHANNEL_END: Rights =
        Rights(Self::TRANSFER.0 | Self::WAIT.0 | Self::READ.0);
    /// Rights a task handle needs for `task_create_exception_channel`.
    pub const EXCEPTION_CHANNEL_REQUIRED: Rights =
        Rights(Self::INSPECT.0 | Self::DUPLICATE.0 | Self::TRANSFER.0 | Self::MANAGE_THREAD.0);

    pub const fn bits(self) -> u32 {
        self.0
    }
    pub const fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }
    pub const fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }
    pub const fn intersection(self, other: Rights) -> Rights {
        Rights(self.0 & other.0)
    }
    pub const fn difference(self, other: Rights) -> Rights {
        Rights(self.0 & !other.0)
    }
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for Rights {
    type Output = Rights;
    fn bitor(self, rhs: Rights) -> Rights {
        Rights(self.0 | rhs.0)
    }
}
impl BitOrAssign for Rights {
    fn bitor_assign(&mut self, rhs: Rights) {
        self.0 |= rhs.0;
    }
}
impl BitAnd for Rights {
    type Output = Rights;
    fn bitand(self, rhs: Rights) -> Rights {
        Rights(self.0 & rhs.0)
    }
}
impl Not for Rights {
    type Output = Rights;
    fn not(self) -> Rights {
        Rights(!self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_match_zircon() {
        assert_eq!(Rights::DUPLICATE.0, 1);
        assert_eq!(Rights::INSPECT.0, 0x8000);
        assert_eq!(Rights::MANAGE_THREAD.0, 0x4_0000);
        assert_eq!(Rights::SAME_RIGHTS.0, 0x8000_0000);
        assert!(!Rights::DEFAULT_CHANNEL.contains(Rights::DUPLICATE));
        assert!(!Rights::DEFAULT_EXCEPTION.contains(Rights::DUPLICATE));
        assert_eq!(Rights::EXCEPTION_CHANNEL_END.0, 0x4006);
    }
}
