//! Job policies (`job_set_policy`).

/// Policy conditions (`ZX_POL_*`).
pub const POL_BAD_HANDLE: u32 = 0;
pub const POL_WRONG_OBJECT: u32 = 1;
pub const POL_VMAR_WX: u32 = 2;
/// Applies to every `POL_NEW_*` condition at once.
pub const POL_NEW_ANY: u32 = 3;
pub const POL_NEW_VMO: u32 = 4;
pub const POL_NEW_CHANNEL: u32 = 5;
pub const POL_NEW_EVENT: u32 = 6;
pub const POL_NEW_EVENTPAIR: u32 = 7;
pub const POL_NEW_PORT: u32 = 8;
pub const POL_NEW_SOCKET: u32 = 9;
pub const POL_NEW_FIFO: u32 = 10;
pub const POL_NEW_TIMER: u32 = 11;
pub const POL_NEW_PROCESS: u32 = 12;
pub const POL_NEW_PROFILE: u32 = 13;
pub const POL_NEW_PAGER: u32 = 14;
pub const POL_AMBIENT_MARK_VMO_EXEC: u32 = 15;
/// One past the last condition.
pub const POL_MAX: u32 = 16;

/// Policy actions (`ZX_POL_ACTION_*`).
pub const POL_ACTION_ALLOW: u32 = 0;
pub const POL_ACTION_DENY: u32 = 1;
/// Allow, after raising a POLICY_ERROR exception in the calling thread.
pub const POL_ACTION_ALLOW_EXCEPTION: u32 = 2;
/// Deny, after raising a POLICY_ERROR exception in the calling thread.
pub const POL_ACTION_DENY_EXCEPTION: u32 = 3;
pub const POL_ACTION_KILL: u32 = 4;

/// `job_set_policy` options.
pub const JOB_POL_RELATIVE: u32 = 0;
pub const JOB_POL_ABSOLUTE: u32 = 1;
/// `job_set_policy` topics.
pub const JOB_POL_BASIC: u32 = 0;

/// One entry of a `JOB_POL_BASIC` policy (`zx_policy_basic_t`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct PolicyBasic {
    pub condition: u32,
    pub policy: u32,
}

impl PolicyBasic {
    pub const SIZE: usize = 8;

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = crate::bytes::Reader::new(bytes);
        PolicyBasic {
            condition: r.u32(),
            policy: r.u32(),
        }
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        let mut w = crate::bytes::Writer::new(&mut out);
        w.u32(self.condition);
        w.u32(self.policy);
        out
    }
}

const _: () = assert!(core::mem::size_of::<PolicyBasic>() == PolicyBasic::SIZE);
