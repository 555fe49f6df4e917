//! `object_get_info` topics and records, and `object_get/set_property` ids.

use crate::bytes::{Reader, Writer};
use crate::object::Koid;

/// Info topics (`ZX_INFO_*`), Zircon's values.
pub const INFO_NONE: u32 = 0;
pub const INFO_HANDLE_VALID: u32 = 1;
pub const INFO_HANDLE_BASIC: u32 = 2;
pub const INFO_PROCESS: u32 = 3;
pub const INFO_PROCESS_THREADS: u32 = 4;
pub const INFO_JOB_CHILDREN: u32 = 8;
pub const INFO_JOB_PROCESSES: u32 = 9;
pub const INFO_THREAD: u32 = 10;
pub const INFO_THREAD_EXCEPTION_REPORT: u32 = 11;
/// A process's mappings, one [`InfoMapsEntry`] per mapping in address
/// order (`ZX_INFO_PROCESS_MAPS`). Needs a process handle with
/// `RIGHT_INSPECT` (WRONG_TYPE for anything else); like the other array
/// topics, `actual` records are written, `avail` says how many exist, and a
/// buffer too small for all of them is not an error.
pub const INFO_PROCESS_MAPS: u32 = 13;

/// Generic properties (`ZX_PROP_*`); the exception ones are in
/// [`crate::exception`].
pub const PROP_NAME: u32 = 3;

/// `zx_info_handle_basic_t` (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct HandleBasicInfo {
    pub koid: Koid,
    pub rights: u32,
    pub object_type: u32,
    /// The peer's koid for a channel end, the process of a thread, the
    /// parent job of a process or job; 0 otherwise.
    pub related_koid: Koid,
    pub reserved: u32,
    pub padding: u32,
}

impl HandleBasicInfo {
    pub const SIZE: usize = 32;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        let mut w = Writer::new(&mut out);
        w.u64(self.koid);
        w.u32(self.rights);
        w.u32(self.object_type);
        w.u64(self.related_koid);
        w.u32(self.reserved);
        w.u32(self.padding);
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        HandleBasicInfo {
            koid: r.u64(),
            rights: r.u32(),
            object_type: r.u32(),
            related_koid: r.u64(),
            reserved: r.u32(),
            padding: r.u32(),
        }
    }
}

/// `INFO_PROCESS` flags.
pub const INFO_PROCESS_FLAG_STARTED: u32 = 1 << 0;
pub const INFO_PROCESS_FLAG_EXITED: u32 = 1 << 1;
pub const INFO_PROCESS_FLAG_DEBUGGER_ATTACHED: u32 = 1 << 2;

/// `zx_info_process_t` (24 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct ProcessInfo {
    /// Valid once the process has exited (`TASK_RETCODE_*` when killed).
    pub return_code: i64,
    pub start_time: i64,
    pub flags: u32,
    pub padding: u32,
}

impl ProcessInfo {
    pub const SIZE: usize = 24;

    pub const fn started(&self) -> bool {
        self.flags & INFO_PROCESS_FLAG_STARTED != 0
    }
    pub const fn exited(&self) -> bool {
        self.flags & INFO_PROCESS_FLAG_EXITED != 0
    }
    /// A process debugger (channel or port) is attached.
    pub const fn debugger_attached(&self) -> bool {
        self.flags & INFO_PROCESS_FLAG_DEBUGGER_ATTACHED != 0
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        let mut w = Writer::new(&mut out);
        w.i64(self.return_code);
        w.i64(self.start_time);
        w.u32(self.flags);
        w.u32(self.padding);
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        ProcessInfo {
            return_code: r.i64(),
            start_time: r.i64(),
            flags: r.u32(),
            padding: r.u32(),
        }
    }
}

/// Thread states (`ZX_THREAD_STATE_*`) as `INFO_THREAD` reports them.
pub const THREAD_STATE_NEW: u32 = 0x0000;
pub const THREAD_STATE_RUNNING: u32 = 0x0001;
pub const THREAD_STATE_SUSPENDED: u32 = 0x0002;
/// Blocked; the high byte says on what (the `BLOCKED_*` values below).
pub const THREAD_STATE_BLOCKED: u32 = 0x0003;
pub const THREAD_STATE_DYING: u32 = 0x0004;
pub const THREAD_STATE_DEAD: u32 = 0x0005;
pub const THREAD_STATE_BLOCKED_EXCEPTION: u32 = 0x0103;
pub const THREAD_STATE_BLOCKED_SLEEPING: u32 = 0x0203;
pub const THREAD_STATE_BLOCKED_FUTEX: u32 = 0x0303;
pub const THREAD_STATE_BLOCKED_PORT: u32 = 0x0403;
pub const THREAD_STATE_BLOCKED_CHANNEL: u32 = 0x0503;
pub const THREAD_STATE_BLOCKED_WAIT_ONE: u32 = 0x0603;
pub const THREAD_STATE_BLOCKED_WAIT_MANY: u32 = 0x0703;
pub const THREAD_STATE_BLOCKED_INTERRUPT: u32 = 0x0803;
pub const THREAD_STATE_BLOCKED_PAGER: u32 = 0x0903;

/// Basic state of a thread state value (`ZX_THREAD_STATE_BASIC`).
pub const fn thread_state_basic(state: u32) -> u32 {
    state & 0xff
}

/// `zx_info_thread_t` (72 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct ThreadInfo {
    /// One of the `THREAD_STATE_*` values.
    pub state: u32,
    /// While `state` is BLOCKED_EXCEPTION: which kind of handler holds the
    /// exception (`EXCEPTION_CHANNEL_TYPE_*`; ports use the same numbers).
    pub wait_exception_channel_type: u32,
    pub cpu_affinity_mask: [u64; 8],
}

impl ThreadInfo {
    pub const SIZE: usize = 72;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        let mut w = Writer::new(&mut out);
        w.u32(self.state);
        w.u32(self.wait_exception_channel_type);
        for word in self.cpu_affinity_mask {
            w.u64(word);
        }
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        let state = r.u32();
        let wait_exception_channel_type = r.u32();
        let mut cpu_affinity_mask = [0; 8];
        for word in &mut cpu_affinity_mask {
            *word = r.u64();
        }
        ThreadInfo {
            state,
            wait_exception_channel_type,
            cpu_affinity_mask,
        }
    }
}

/// `InfoMapsEntry::kind` values (`ZX_INFO_MAPS_TYPE_*`). Spinel has one
/// VMAR level, so `INFO_PROCESS_MAPS` reports only MAPPING entries.
pub const INFO_MAPS_TYPE_NONE: u32 = 0;
pub const INFO_MAPS_TYPE_ASPACE: u32 = 1;
pub const INFO_MAPS_TYPE_VMAR: u32 = 2;
pub const INFO_MAPS_TYPE_MAPPING: u32 = 3;

/// Bytes of [`InfoMapsEntry::name`].
pub const INFO_MAPS_NAME_LEN: usize = 32;

/// One `INFO_PROCESS_MAPS` record (88 bytes): a mapping of a process's
/// address space. Spinel's flat form of `zx_info_maps_t`: the mapping's
/// fields are inline, and every record is a MAPPING at depth 1.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct InfoMapsEntry {
    /// The VMO's name, NUL-padded (all zero if it has none).
    pub name: [u8; INFO_MAPS_NAME_LEN],
    /// First address of the mapping.
    pub base: u64,
    /// Bytes mapped (a whole number of pages).
    pub size: u64,
    /// 1 for every mapping: Spinel has one VMAR level.
    pub depth: u64,
    /// [`INFO_MAPS_TYPE_MAPPING`].
    pub kind: u32,
    /// `VM_PERM_READ | VM_PERM_WRITE | VM_PERM_EXECUTE` as mapped now
    /// (after any `vmar_protect`).
    pub mmu_flags: u32,
    pub vmo_koid: Koid,
    /// Offset in the VMO of the mapping's first byte.
    pub vmo_offset: u64,
    /// Bytes of the mapped range the VMO has committed.
    pub committed_bytes: u64,
}

impl InfoMapsEntry {
    pub const SIZE: usize = 88;

    /// The name up to its first NUL.
    pub fn name_bytes(&self) -> &[u8] {
        let end = self
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.name.len());
        &self.name[..end]
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0; Self::SIZE];
        let mut w = Writer::new(&mut out);
        w.bytes(&self.name);
        w.u64(self.base);
        w.u64(self.size);
        w.u64(self.depth);
        w.u32(self.kind);
        w.u32(self.mmu_flags);
        w.u64(self.vmo_koid);
        w.u64(self.vmo_offset);
        w.u64(self.committed_bytes);
        out
    }

    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> Self {
        let mut r = Reader::new(bytes);
        InfoMapsEntry {
            name: r.array(),
            base: r.u64(),
            size: r.u64(),
            depth: r.u64(),
            kind: r.u32(),
            mmu_flags: r.u32(),
            vmo_koid: r.u64(),
            vmo_offset: r.u64(),
            committed_bytes: r.u64(),
        }
    }
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<InfoMapsEntry>() == InfoMapsEntry::SIZE);
    assert!(offset_of!(InfoMapsEntry, base) == 32);
    assert!(offset_of!(InfoMapsEntry, size) == 40);
    assert!(offset_of!(InfoMapsEntry, depth) == 48);
    assert!(offset_of!(InfoMapsEntry, kind) == 56);
    assert!(offset_of!(InfoMapsEntry, mmu_flags) == 60);
    assert!(offset_of!(InfoMapsEntry, vmo_koid) == 64);
    assert!(offset_of!(InfoMapsEntry, vmo_offset) == 72);
    assert!(offset_of!(InfoMapsEntry, committed_bytes) == 80);
    assert!(INFO_MAPS_NAME_LEN == 32);
    assert!(size_of::<HandleBasicInfo>() == HandleBasicInfo::SIZE);
    assert!(offset_of!(HandleBasicInfo, related_koid) == 16);
    assert!(size_of::<ProcessInfo>() == ProcessInfo::SIZE);
    assert!(size_of::<ThreadInfo>() == ThreadInfo::SIZE);
    assert!(offset_of!(ThreadInfo, cpu_affinity_mask) == 8);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_entry_round_trips_at_its_offsets() {
        let mut name = [0u8; INFO_MAPS_NAME_LEN];
        name[..4].copy_from_slice(b"heap");
        let entry = InfoMapsEntry {
            name,
            base: 0x1000,
            size: 0x2000,
            depth: 1,
            kind: INFO_MAPS_TYPE_MAPPING,
            mmu_flags: 3,
            vmo_koid: 77,
            vmo_offset: 0x3000,
            committed_bytes: 0x1000,
        };
        let bytes = entry.to_bytes();
        assert_eq!(&bytes[32..40], &0x1000u64.to_le_bytes());
        assert_eq!(&bytes[56..60], &3u32.to_le_bytes());
        assert_eq!(&bytes[64..72], &77u64.to_le_bytes());
        assert_eq!(InfoMapsEntry::from_bytes(&bytes), entry);
        assert_eq!(entry.name_bytes(), b"heap");
    }
}
