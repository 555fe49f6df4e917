//! A small world for driving the object layer like user space would: a
//! supervisor process in the root job holds handles and makes the calls.
#![allow(dead_code)] // reason: each test binary uses a different part of the harness

use spinel_abi::exception::*;
use spinel_abi::info::*;
use spinel_abi::thread::RegisterLayout;
use spinel_abi::{ExceptionInfo, HandleValue, Koid, Rights, Status};
use spinel_hal_api::{ArchFacts, TrapKind, TrapRecord};
use spinel_object::{Config, Effect, Kernel, Registers};

pub const X86: RegisterLayout = spinel_abi::thread::x86_64::LAYOUT;
pub const ARM: RegisterLayout = spinel_abi::thread::aarch64::LAYOUT;
pub const FAULT_PC: u64 = 0x1000;
pub const FAULT_ADDR: u64 = 0xdead_0000;

pub struct World {
    pub k: Kernel,
    pub sup: Koid,
    pub sup_proc: Koid,
    pub root_h: HandleValue,
    pub layout: RegisterLayout,
}

/// A process with its first thread, handles held by the supervisor.
#[derive(Clone, Copy, Debug)]
pub struct Proc {
    pub pid: Koid,
    pub ph: HandleValue,
    pub tid: Koid,
    pub th: HandleValue,
}

#[derive(Clone, Copy, Debug)]
pub struct Task {
    pub koid: Koid,
    pub h: HandleValue,
}

impl World {
    pub fn new() -> World {
        World::with_layout(X86)
    }

    pub fn with_layout(layout: RegisterLayout) -> World {
        let mut k = Kernel::new(Config::new(layout));
        let root = k.root_job();
        let sup_proc = k.create_process(root, b"supervisor").unwrap();
        let sup = k.create_thread(sup_proc, b"supervisor").unwrap();
        let root_h = k.grant_handle(sup_proc, root, Rights::DEFAULT_JOB).unwrap();
        k.start_process(sup_proc, sup, 0x10, 0x20, 0, 0).unwrap();
        assert!(k.thread_is_runnable(sup));
        k.take_effects();
        World {
            k,
            sup,
            sup_proc,
            root_h,
            layout,
        }
    }

    pub fn koid(&mut self, h: HandleValue) -> Koid {
        let mut buf = [0; HandleBasicInfo::SIZE];
        self.k
            .sys_object_get_info(self.sup, h, INFO_HANDLE_BASIC, &mut buf)
            .unwrap();
        HandleBasicInfo::from_bytes(&buf).koid
    }

    pub fn rights(&mut self, h: HandleValue) -> Rights {
        let mut buf = [0; HandleBasicInfo::SIZE];
        self.k
            .sys_object_get_info(self.sup, h, INFO_HANDLE_BASIC, &mut buf)
            .unwrap();
        Rights(HandleBasicInfo::from_bytes(&buf).rights)
    }

    pub fn job(&mut self, parent: HandleValue) -> Task {
        let h = self.k.sys_job_create(self.sup, parent, 0).unwrap();
        Task {
            koid: self.koid(h),
            h,
        }
    }

    /// A process and its first thread, not started.
    pub fn process(&mut self, job: HandleValue) -> Proc {
        let (ph, vmar) = self.k.sys_process_create(self.sup, job, b"p", 0).unwrap();
        self.k.sys_handle_close(self.sup, vmar).unwrap();
        let th = self.k.sys_thread_create(self.sup, ph, b"t", 0).unwrap();
        Proc {
            pid: self.koid(ph),
            ph,
            tid: self.koid(th),
            th,
        }
    }

    pub fn start(&mut self, p: &Proc) {
        self.k
            .sys_process_start(
                self.sup,
                p.ph,
                p.th,
                0x1000,
                0x8000,
                HandleValue::INVALID,
                0,
            )
            .unwrap();
    }

    /// A started process whose first thread runs.
    pub fn spawn(&mut self, job: HandleValue) -> Proc {
        let p = self.process(job);
        self.start(&p);
        assert!(self.k.thread_is_runnable(p.tid), "spawned thread runs");
        self.k.take_effects();
        p
    }

    /// Another thread in a started process, started.
    pub fn thread(&mut self, p: &Proc) -> Task {
        let h = self.k.sys_thread_create(self.sup, p.ph, b"t2", 0).unwrap();
        self.k
            .sys_thread_start(self.sup, h, 0x2000, 0x9000, 0, 0)
            .unwrap();
        Task {
            koid: self.koid(h),
            h,
        }
    }

    pub fn exception_channel(&mut self, task: HandleValue, options: u32) -> HandleValue {
        self.k
            .sys_task_create_exception_channel(self.sup, task, options)
            .unwrap()
    }

    pub fn port(&mut self) -> HandleValue {
        self.k.sys_port_create(self.sup, 0).unwrap()
    }

    pub fn trap(&self, kind: TrapKind) -> TrapRecord {
        trap_for(self.layout, kind)
    }

    pub fn regs_at(&self, pc: u64) -> Registers {
        Registers::for_start(&self.layout, pc, 0x8000, 0, 0)
    }

    /// The thread takes `kind` at FAULT_PC.
    pub fn fault(&mut self, tid: Koid, kind: TrapKind) {
        let trap = self.trap(kind);
        let regs = self.regs_at(FAULT_PC);
        self.k
            .thread_exception(tid, &trap, &regs, Status::NOT_FOUND)
            .unwrap();
    }

    /// Read one exception message: (info, exception handle).
    pub fn read_exception(&mut self, channel: HandleValue) -> Option<(ExceptionInfo, HandleValue)> {
        let mut bytes = [0u8; 64];
        let mut handles = [HandleValue::INVALID; 4];
        let sizes = self
            .k
            .sys_channel_read(self.sup, channel, 0, &mut bytes, &mut handles)
            .ok()?;
        assert_eq!((sizes.bytes, sizes.handles), (ExceptionInfo::SIZE, 1));
        let info = ExceptionInfo::from_bytes(bytes[..24].try_into().unwrap());
        Some((info, handles[0]))
    }

    pub fn set_state(&mut self, exception: HandleValue, state: u32) -> Result<(), Status> {
        self.k.sys_object_set_property(
            self.sup,
            exception,
            PROP_EXCEPTION_STATE,
            &state.to_le_bytes(),
        )
    }

    /// Answer: set the state and close the handle.
    pub fn answer(&mut self, exception: HandleValue, state: u32) {
        self.set_state(exception, state).unwrap();
        self.close(exception);
    }

    pub fn close(&mut self, h: HandleValue) {
        self.k.sys_handle_close(self.sup, h).unwrap();
    }

    pub fn thread_info(&mut self, th: HandleValue) -> ThreadInfo {
        let mut buf = [0; ThreadInfo::SIZE];
        self.k
            .sys_object_get_info(self.sup, th, INFO_THREAD, &mut buf)
            .unwrap();
        ThreadInfo::from_bytes(&buf)
    }

    pub fn process_info(&mut self, ph: HandleValue) -> ProcessInfo {
        let mut buf = [0; ProcessInfo::SIZE];
        self.k
            .sys_object_get_info(self.sup, ph, INFO_PROCESS, &mut buf)
            .unwrap();
        ProcessInfo::from_bytes(&buf)
    }

    pub fn report(&mut self, th: HandleValue) -> Result<spinel_abi::ExceptionReport, Status> {
        let mut buf = [0; spinel_abi::ExceptionReport::SIZE];
        self.k
            .sys_object_get_info(self.sup, th, INFO_THREAD_EXCEPTION_REPORT, &mut buf)?;
        Ok(spinel_abi::ExceptionReport::from_bytes(&buf))
    }

    pub fn effects(&mut self) -> Vec<Effect> {
        self.k.take_effects()
    }

    /// The registers a [`spinel_object::RunEntry::Start`] or
    /// [`spinel_object::RunEntry::Registers`] of `tid` loads: the object
    /// layer's copy, as the glue reads it when it applies the entry.
    pub fn registers(&self, tid: Koid) -> Registers {
        self.k
            .thread_registers(tid)
            .expect("the thread is in the arena")
    }

    pub fn peer_closed(&self, h_koid: Koid) -> bool {
        self.k
            .signals(h_koid)
            .unwrap()
            .contains(spinel_abi::Signals::CHANNEL_PEER_CLOSED)
    }

    pub fn invariants(&self) {
        self.k.check_invariants().unwrap();
    }
}

/// A trap record as each arch's HAL reports `kind`.
pub fn trap_for(layout: RegisterLayout, kind: TrapKind) -> TrapRecord {
    let x86 = layout.count == X86.count;
    let fault_address = match kind {
        TrapKind::PageFault { .. } | TrapKind::UnalignedAccess => Some(FAULT_ADDR),
        _ => None,
    };
    let arch = if x86 {
        let (vector, error_code) = match kind {
            TrapKind::PageFault { .. } => (14, 4),
            TrapKind::UndefinedInstruction => (6, 0),
            TrapKind::SoftwareBreakpoint => (3, 0),
            TrapKind::HardwareBreakpoint => (1, 0),
            TrapKind::UnalignedAccess => (17, 0),
            TrapKind::General => (13, 0x10),
        };
        ArchFacts::X86_64 {
            vector,
            error_code,
            cr2: fault_address.filter(|_| vector == 14).unwrap_or(0),
        }
    } else {
        let ec: u64 = match kind {
            TrapKind::PageFault { .. } => 0x24,
            TrapKind::UndefinedInstruction => 0x00,
            TrapKind::SoftwareBreakpoint => 0x3c,
            TrapKind::HardwareBreakpoint => 0x32,
            TrapKind::UnalignedAccess => 0x26,
            TrapKind::General => 0x0e,
        };
        ArchFacts::Aarch64 {
            esr: (ec << 26) | (1 << 25) | 0x46,
            far: fault_address.unwrap_or(0),
        }
    };
    TrapRecord {
        kind,
        pc: FAULT_PC,
        sp: 0x8000,
        fault_address,
        from_user: true,
        arch,
    }
}

pub const PAGE_FAULT: TrapKind = TrapKind::PageFault {
    write: true,
    execute: false,
    present: false,
};
