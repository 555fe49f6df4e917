//! Object identity: kernel object ids, handle values, object types, signals,
//! and the small constants of the generic object calls.

/// Kernel object id: unique for the life of the system, never reused.
pub type Koid = u64;
/// The koid no object has.
pub const KOID_INVALID: Koid = 0;
/// The koid of the kernel itself (what Zircon reports for kernel-owned objects).
pub const KOID_KERNEL: Koid = 1;
/// The first koid handed to an object.
pub const KOID_FIRST: Koid = 1024;

/// A handle value, as user space sees it: meaningless outside its process.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
#[repr(transparent)]
pub struct HandleValue(pub u32);

impl HandleValue {
    /// `ZX_HANDLE_INVALID`.
    pub const INVALID: HandleValue = HandleValue(0);
    /// Bits that are set in every valid handle value (Zircon's
    /// `ZX_HANDLE_FIXED_BITS_MASK`), so that small integers are never handles.
    pub const FIXED_BITS: u32 = 0b11;

    pub const fn raw(self) -> u32 {
        self.0
    }
    pub const fn is_invalid(self) -> bool {
        self.0 == 0
    }
}

/// Object types (`ZX_OBJ_TYPE_*`), Zircon's values.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(transparent)]
pub struct ObjectType(pub u32);

impl ObjectType {
    pub const NONE: ObjectType = ObjectType(0);
    pub const PROCESS: ObjectType = ObjectType(1);
    pub const THREAD: ObjectType = ObjectType(2);
    pub const VMO: ObjectType = ObjectType(3);
    pub const CHANNEL: ObjectType = ObjectType(4);
    pub const EVENT: ObjectType = ObjectType(5);
    pub const PORT: ObjectType = ObjectType(6);
    pub const INTERRUPT: ObjectType = ObjectType(9);
    pub const PCI_DEVICE: ObjectType = ObjectType(11);
    pub const LOG: ObjectType = ObjectType(12);
    pub const SOCKET: ObjectType = ObjectType(14);
    pub const RESOURCE: ObjectType = ObjectType(15);
    pub const EVENTPAIR: ObjectType = ObjectType(16);
    pub const JOB: ObjectType = ObjectType(17);
    pub const VMAR: ObjectType = ObjectType(18);
    pub const FIFO: ObjectType = ObjectType(19);
    pub const GUEST: ObjectType = ObjectType(20);
    pub const VCPU: ObjectType = ObjectType(21);
    pub const TIMER: ObjectType = ObjectType(22);
    pub const IOMMU: ObjectType = ObjectType(23);
    pub const BTI: ObjectType = ObjectType(24);
    pub const PROFILE: ObjectType = ObjectType(25);
    pub const PMT: ObjectType = ObjectType(26);
    pub const SUSPEND_TOKEN: ObjectType = ObjectType(27);
    pub const PAGER: ObjectType = ObjectType(28);
    pub const EXCEPTION: ObjectType = ObjectType(29);
    pub const CLOCK: ObjectType = ObjectType(30);
    pub const STREAM: ObjectType = ObjectType(31);
}

/// Signals (`ZX_*_SIGNAL*`): 32 bits of state on each object.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
#[repr(transparent)]
pub struct Signals(pub u32);

impl Signals {
    pub const NONE: Signals = Signals(0);
    pub const OBJECT_READABLE: Signals = Signals(1 << 0);
    pub const OBJECT_WRITABLE: Signals = Signals(1 << 1);
    pub const OBJECT_PEER_CLOSED: Signals = Signals(1 << 2);
    pub const OBJECT_SIGNALED: Signals = Signals(1 << 3);
    pub const OBJECT_SIGNAL_4: Signals = Signals(1 << 4);
    pub const OBJECT_SIGNAL_5: Signals = Signals(1 << 5);
    pub const OBJECT_SIGNAL_6: Signals = Signals(1 << 6);
    /// Kernel-internal: the handle a wait uses was closed.
    pub const HANDLE_CLOSED: Signals = Signals(1 << 23);
    /// The eight user signals, `USER_SIGNAL_0 << n`.
    pub const USER_SIGNAL_0: Signals = Signals(1 << 24);
    pub const USER_ALL: Signals = Signals(0xff << 24);

    pub const CHANNEL_READABLE: Signals = Self::OBJECT_READABLE;
    pub const CHANNEL_WRITABLE: Signals = Self::OBJECT_WRITABLE;
    pub const CHANNEL_PEER_CLOSED: Signals = Self::OBJECT_PEER_CLOSED;
    pub const EVENT_SIGNALED: Signals = Self::OBJECT_SIGNALED;
    pub const TASK_TERMINATED: Signals = Self::OBJECT_SIGNALED;
    pub const JOB_TERMINATED: Signals = Self::OBJECT_SIGNALED;
    pub const JOB_NO_JOBS: Signals = Self::OBJECT_SIGNAL_4;
    pub const JOB_NO_PROCESSES: Signals = Self::OBJECT_SIGNAL_5;
    pub const PROCESS_TERMINATED: Signals = Self::OBJECT_SIGNALED;
    pub const THREAD_TERMINATED: Signals = Self::OBJECT_SIGNALED;
    pub const THREAD_RUNNING: Signals = Self::OBJECT_SIGNAL_4;
    pub const THREAD_SUSPENDED: Signals = Self::OBJECT_SIGNAL_5;

    pub const fn bits(self) -> u32 {
        self.0
    }
    pub const fn contains(self, other: Signals) -> bool {
        self.0 & other.0 == other.0
    }
    pub const fn intersects(self, other: Signals) -> bool {
        self.0 & other.0 != 0
    }
    pub const fn union(self, other: Signals) -> Signals {
        Signals(self.0 | other.0)
    }
    pub const fn difference(self, other: Signals) -> Signals {
        Signals(self.0 & !other.0)
    }
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl core::ops::BitOr for Signals {
    type Output = Signals;
    fn bitor(self, rhs: Signals) -> Signals {
        Signals(self.0 | rhs.0)
    }
}

/// Deadlines and times are nanoseconds of the monotonic clock.
pub type Time = u64;
/// A deadline that never passes (`ZX_TIME_INFINITE`).
pub const TIME_INFINITE: Time = u64::MAX;

/// `object_wait_async` options.
pub const WAIT_ASYNC_ONCE: u32 = 0;
pub const WAIT_ASYNC_TIMESTAMP: u32 = 1 << 0;
pub const WAIT_ASYNC_EDGE: u32 = 1 << 1;

/// `handle_replace`/`handle_duplicate` with [`crate::Rights::SAME_RIGHTS`].
pub const HANDLE_OP_MOVE: u32 = 0;
pub const HANDLE_OP_DUPLICATE: u32 = 1;

/// Longest object name, including the terminating zero (`ZX_MAX_NAME_LEN`).
pub const MAX_NAME_LEN: usize = 32;

/// Channel limits (`ZX_CHANNEL_MAX_MSG_BYTES` / `_HANDLES`).
pub const CHANNEL_MAX_MSG_BYTES: u32 = 65536;
pub const CHANNEL_MAX_MSG_HANDLES: u32 = 64;
/// `channel_read` option: drop a message that does not fit.
pub const CHANNEL_READ_MAY_DISCARD: u32 = 1;

/// `task_kill` return codes seen by `object_get_info(INFO_PROCESS)`.
pub const TASK_RETCODE_SYSCALL_KILL: i64 = -1024;
pub const TASK_RETCODE_OOM_KILL: i64 = -1025;
pub const TASK_RETCODE_POLICY_KILL: i64 = -1026;
pub const TASK_RETCODE_VDSO_KILL: i64 = -1027;
pub const TASK_RETCODE_EXCEPTION_KILL: i64 = -1028;
pub const TASK_RETCODE_CRITICAL_PROCESS_KILL: i64 = -1029;
