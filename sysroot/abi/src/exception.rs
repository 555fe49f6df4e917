//! Exceptions: types, options, properties and the report layouts.
//!
//! The report is arch-neutral data: its arch context is a fixed 24-byte area
//! that holds the x86_64 layout or the arm64 layout, chosen by whoever fills
//! it. Both layouts are plain types usable on any host.

use crate::bytes::{Reader, Writer};
use crate::object::Koid;

/// Exception types (`ZX_EXCP_*`). Each is also the port packet type of the
/// Zircon-era exception packet (`ZX_PKT_TYPE_EXCEPTION(n)` = `0x08 | n << 8`).
pub const EXCP_GENERAL: u32 = 0x008;
pub const EXCP_FATAL_PAGE_FAULT: u32 = 0x108;
pub const EXCP_UNDEFINED_INSTRUCTION: u32 = 0x208;
pub const EXCP_SW_BREAKPOINT: u32 = 0x308;
pub const EXCP_HW_BREAKPOINT: u32 = 0x408;
pub const EXCP_UNALIGNED_ACCESS: u32 = 0x508;
/// Set in every synthetic exception type.
pub const EXCP_SYNTH: u32 = 0x8000;
pub const EXCP_THREAD_STARTING: u32 = 0x8008;
pub const EXCP_THREAD_EXITING: u32 = 0x8108;
pub const EXCP_POLICY_ERROR: u32 = 0x8208;
pub const EXCP_PROCESS_STARTING: u32 = 0x8308;

/// True for THREAD_STARTING, THREAD_EXITING, POLICY_ERROR, PROCESS_STARTING.
pub const fn is_synthetic(exception_type: u32) -> bool {
    exception_type & EXCP_SYNTH != 0
}

/// Properties of an exception handle (`object_get/set_property`).
pub const PROP_EXCEPTION_STATE: u32 = 16;
pub const PROP_EXCEPTION_STRATEGY: u32 = 18;

/// Values of `PROP_EXCEPTION_STATE`.
pub const EXCEPTION_STATE_TRY_NEXT: u32 = 0;
pub const EXCEPTION_STATE_HANDLED: u32 = 1;
pub const EXCEPTION_STATE_THREAD_EXIT: u32 = 2;

/// Values of `PROP_EXCEPTION_STRATEGY`.
pub const EXCEPTION_STRATEGY_FIRST_CHANCE: u32 = 0;
pub const EXCEPTION_STRATEGY_SECOND_CHANCE: u32 = 1;

/// `task_create_exception_channel` option.
pub const EXCEPTION_CHANNEL_DEBUGGER: u32 = 1;
/// At most this many debugger channels on one job.
pub const EXCEPTION_CHANNEL_JOB_DEBUGGER_MAX_COUNT: usize = 32;

/// `task_bind_exception_port` options.
pub const EXCEPTION_PORT_DEBUGGER: u32 = 1;
/// Magenta: when unbinding, keep waiting threads waiting for a port of the
/// same kind.
pub const EXCEPTION_PORT_UNBIND_QUIETLY: u32 = 2;

/// `task_resume` (Magenta) / `task_resume_from_exception` (Zircon) options.
pub const RESUME_EXCEPTION: u32 = 1;
pub const RESUME_TRY_NEXT: u32 = 2;

/// Which kind of handler holds (or would receive) an exception:
/// `zx_info_thread_t::wait_exception_channel_type` (Zircon's values;
/// the port era used the same numbers as `ZX_EXCEPTION_PORT_TYPE_*`).
pub const EXCEPTION_CHANNEL_TYPE_NONE: u32 = 0;
pub const EXCEPTION_CHANNEL_TYPE_DEBUGGER: u32 = 1;
pub const EXCEPTION_CHANNEL_TYPE_THREAD: u32 = 2;
pub const EXCEPTION_CHANNEL_TYPE_PROCESS: u32 = 3;
pub const EXCEPTION_CHANNEL_TYPE_JOB: u32 = 4;
pub const EXCEPTION_CHANNEL_TYPE_JOB_DEBUGGER: u32 = 5;
/// Spinel's number for Magenta's system exception port (Magenta itself used
/// 5, which Zircon later gave to JOB_DEBUGGER; both exist here).
pub const EXCEPTION_PORT_TYPE_SYSTEM: u32 = 6;

/// The message an exception channel carries with the exception handle
/// (`zx_exception_info_t`, 24 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct ExceptionInfo {
    pub pid: Koid,
    pub tid: Koid,
    pub exception_type: u32,
    pub padding: u32,
}

impl ExceptionInfo {
    pub const SIZE: usize = 24;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        let mut w = Writer::new(&mut out);
        w.u64(self.pid);
        w.u64(self.tid);
        w.u32(self.exception_type);
        w.u32(self.padding);
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        ExceptionInfo {
            pid: r.u64(),
            tid: r.u64(),
            exception_type: r.u32(),
            padding: r.u32(),
        }
    }
}

/// x86_64 arch context of a report (`zx_x86_64_exc_data_t`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct X86_64ExceptionContext {
    pub vector: u64,
    pub err_code: u64,
    pub cr2: u64,
}

/// arm64 arch context of a report (`zx_arm64_exc_data_t`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct Arm64ExceptionContext {
    pub esr: u32,
    pub padding1: u32,
    pub far: u64,
    pub padding2: u64,
}

/// The 24-byte arch area of a report: one of the two layouts above, as bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C, align(8))]
pub struct ExceptionArchContext {
    pub raw: [u8; ExceptionArchContext::SIZE],
}

impl ExceptionArchContext {
    pub const SIZE: usize = 24;

    pub fn x86_64(ctx: X86_64ExceptionContext) -> Self {
        let mut raw = [0; Self::SIZE];
        let mut w = Writer::new(&mut raw);
        w.u64(ctx.vector);
        w.u64(ctx.err_code);
        w.u64(ctx.cr2);
        ExceptionArchContext { raw }
    }

    pub fn arm64(ctx: Arm64ExceptionContext) -> Self {
        let mut raw = [0; Self::SIZE];
        let mut w = Writer::new(&mut raw);
        w.u32(ctx.esr);
        w.u32(ctx.padding1);
        w.u64(ctx.far);
        w.u64(ctx.padding2);
        ExceptionArchContext { raw }
    }

    /// The area read as the x86_64 layout.
    pub fn as_x86_64(&self) -> X86_64ExceptionContext {
        let mut r = Reader::new(&self.raw);
        X86_64ExceptionContext {
            vector: r.u64(),
            err_code: r.u64(),
            cr2: r.u64(),
        }
    }

    /// The area read as the arm64 layout.
    pub fn as_arm64(&self) -> Arm64ExceptionContext {
        let mut r = Reader::new(&self.raw);
        Arm64ExceptionContext {
            esr: r.u32(),
            padding1: r.u32(),
            far: r.u64(),
            padding2: r.u64(),
        }
    }
}

/// Header of a report (`zx_exception_header_t`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct ExceptionHeader {
    /// Size of the whole report in bytes (40).
    pub size: u32,
    pub exception_type: u32,
}

/// Arch context plus the synthetic fields (`zx_exception_context_t`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct ExceptionContext {
    pub arch: ExceptionArchContext,
    /// FATAL_PAGE_FAULT: the VM's status; POLICY_ERROR: the policy condition.
    pub synth_code: u32,
    pub synth_data: u32,
}

/// The full report (`zx_exception_report_t`, 40 bytes), from
/// `object_get_info(thread, INFO_THREAD_EXCEPTION_REPORT)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct ExceptionReport {
    pub header: ExceptionHeader,
    pub context: ExceptionContext,
}

impl ExceptionReport {
    pub const SIZE: usize = 40;

    /// A report with the size and type filled and the rest zero.
    pub fn new(exception_type: u32) -> Self {
        ExceptionReport {
            header: ExceptionHeader {
                size: Self::SIZE as u32,
                exception_type,
            },
            context: ExceptionContext::default(),
        }
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        let mut w = Writer::new(&mut out);
        w.u32(self.header.size);
        w.u32(self.header.exception_type);
        w.bytes(&self.context.arch.raw);
        w.u32(self.context.synth_code);
        w.u32(self.context.synth_data);
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        ExceptionReport {
            header: ExceptionHeader {
                size: r.u32(),
                exception_type: r.u32(),
            },
            context: ExceptionContext {
                arch: ExceptionArchContext { raw: r.array() },
                synth_code: r.u32(),
                synth_data: r.u32(),
            },
        }
    }
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<ExceptionInfo>() == ExceptionInfo::SIZE);
    assert!(offset_of!(ExceptionInfo, tid) == 8);
    assert!(offset_of!(ExceptionInfo, exception_type) == 16);
    assert!(size_of::<X86_64ExceptionContext>() == 24);
    assert!(offset_of!(X86_64ExceptionContext, cr2) == 16);
    assert!(size_of::<Arm64ExceptionContext>() == 24);
    assert!(offset_of!(Arm64ExceptionContext, far) == 8);
    assert!(size_of::<ExceptionArchContext>() == 24);
    assert!(size_of::<ExceptionHeader>() == 8);
    assert!(size_of::<ExceptionContext>() == 32);
    assert!(offset_of!(ExceptionContext, synth_code) == 24);
    assert!(size_of::<ExceptionReport>() == ExceptionReport::SIZE);
    assert!(offset_of!(ExceptionReport, context) == 8);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_round_trips_both_layouts() {
        let mut report = ExceptionReport::new(EXCP_FATAL_PAGE_FAULT);
        report.context.arch = ExceptionArchContext::arm64(Arm64ExceptionContext {
            esr: 0x9200_0046,
            far: 0xdead_0000,
            ..Default::default()
        });
        report.context.synth_code = 7;
        let bytes = report.to_bytes();
        assert_eq!(&bytes[0..4], &40u32.to_le_bytes());
        assert_eq!(&bytes[8..12], &0x9200_0046u32.to_le_bytes());
        assert_eq!(&bytes[16..24], &0xdead_0000u64.to_le_bytes());
        assert_eq!(&bytes[32..36], &7u32.to_le_bytes());
        assert_eq!(ExceptionReport::from_bytes(&bytes), report);
        assert_eq!(report.context.arch.as_arm64().far, 0xdead_0000);

        let x86 = ExceptionArchContext::x86_64(X86_64ExceptionContext {
            vector: 14,
            err_code: 6,
            cr2: 0x1000,
        });
        assert_eq!(x86.as_x86_64().cr2, 0x1000);
        assert_eq!(&x86.raw[0..8], &14u64.to_le_bytes());
    }
}
