//! What the object layer asks of the rest of the kernel.
//!
//! The object layer never runs, blocks or wakes a CPU thread itself. Every
//! change of a user thread's fate is queued as an [`Effect`]; the kernel glue
//! drains the queue ([`crate::Kernel::next_effect`]) after each call and
//! carries the effects out in order.
//!
//! Rules kept here:
//! - **One vocabulary.** The kernel glue and the host tests drain the same
//!   queue of the same [`Effect`]s, so what the tests check is what the
//!   kernel does; delivery is deterministic and steppable without threads.
//! - **Effects are small and `Copy`.** A run entry names the registers it
//!   loads (the object layer's copy of the thread's) instead of carrying
//!   them: the exception and IPC paths are hot, and draining an effect must
//!   neither allocate nor copy a register file.

use spinel_abi::thread::{MAX_GENERAL_REGS, RegisterLayout};
use spinel_abi::{Koid, PortPacket, Signals, Status};

/// A copy of a stopped thread's general registers: `count` 64-bit slots in
/// the order of the architecture's [`RegisterLayout`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Registers {
    pub count: usize,
    pub slots: [u64; MAX_GENERAL_REGS],
}

impl Registers {
    /// All-zero registers for a layout.
    pub const fn zeroed(layout: &RegisterLayout) -> Self {
        Registers {
            count: layout.count,
            slots: [0; MAX_GENERAL_REGS],
        }
    }

    /// Registers of a new thread: pc, sp and the two arguments set.
    pub fn for_start(layout: &RegisterLayout, pc: u64, sp: u64, arg0: u64, arg1: u64) -> Self {
        let mut regs = Self::zeroed(layout);
        regs.slots[layout.pc] = pc;
        regs.slots[layout.sp] = sp;
        regs.slots[layout.arg0] = arg0;
        regs.slots[layout.arg1] = arg1;
        regs
    }

    /// The used slots.
    pub fn as_slice(&self) -> &[u64] {
        &self.slots[..self.count]
    }

    pub fn get(&self, index: usize) -> Option<u64> {
        self.as_slice().get(index).copied()
    }

    pub fn set(&mut self, index: usize, value: u64) -> bool {
        if index < self.count {
            self.slots[index] = value;
            true
        } else {
            false
        }
    }

    /// The slots as `thread_read_state` returns them (`count * 8` bytes).
    pub fn write_bytes(&self, out: &mut [u8]) -> usize {
        // Word by word into an aligned buffer, then one copy: `out` may sit
        // anywhere, and targets that refuse unaligned words (aarch64 here)
        // would otherwise go a byte at a time.
        let n = self.count * 8;
        let mut bytes = WordBytes([0; MAX_GENERAL_REGS * 8]);
        for (chunk, slot) in bytes.0.chunks_exact_mut(8).zip(self.as_slice()) {
            chunk.copy_from_slice(&slot.to_le_bytes());
        }
        out[..n].copy_from_slice(&bytes.0[..n]);
        n
    }

    /// Replace the slots from `thread_write_state` bytes (exactly `count * 8`).
    pub fn read_bytes(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.count * 8) / 8 * 8;
        let mut words = WordBytes([0; MAX_GENERAL_REGS * 8]);
        words.0[..n].copy_from_slice(&bytes[..n]);
        for (slot, chunk) in self.slots.iter_mut().zip(words.0[..n].chunks_exact(8)) {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            *slot = u64::from_le_bytes(word);
        }
    }
}

/// Register bytes in a word-aligned buffer.
#[repr(C, align(8))]
struct WordBytes([u8; MAX_GENERAL_REGS * 8]);

/// The result data of a system call that blocked and has now finished.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Completion {
    /// Nothing but the status (nanosleep, a canceled wait ...).
    None,
    /// `object_wait_one`: the signals observed.
    Signals(Signals),
    /// `port_wait`: the packet dequeued.
    Packet(PortPacket),
}

/// How a parked thread re-enters user mode.
///
/// The entries that load registers do not carry them: they name the
/// thread's registers as the object layer keeps them
/// ([`crate::Kernel::thread_registers_ref`]), which stay as they were when
/// the effect was queued at least until the glue has applied it (they change
/// only when the thread stops again, or through a handler's call, and
/// neither can happen in between). So an effect is a few words, draining one
/// copies nothing, and the glue loads the registers straight from the object
/// layer into the thread's context.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RunEntry {
    /// First entry: load the thread's registers (pc, sp, arguments; a
    /// debugger may have changed them during THREAD_STARTING).
    Start,
    /// Return from an exception: load the thread's registers, which a
    /// handler may have changed. `syscall_status` is set when the exception
    /// was raised inside a system call (POLICY_ERROR): the call returns that
    /// status. `single_step`: trap after one instruction (a debugger set
    /// `THREAD_STATE_SINGLE_STEP`); the glue applies it on every such entry.
    Registers {
        syscall_status: Option<Status>,
        single_step: bool,
    },
    /// A blocked system call finished: return `status` (and `completion`'s
    /// data) to user mode with the registers the glue kept.
    Syscall {
        status: Status,
        completion: Completion,
    },
    /// Nothing changed (resumed from suspension): continue as it was.
    Continue,
}

/// One instruction to the kernel glue, as the object layer queues it and the
/// glue (or a test) drains it: one at a time with
/// [`crate::Kernel::next_effect`], the kernel's allocation-free way, or all
/// at once with [`crate::Kernel::take_effects`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Effect {
    /// The thread must not run user code until a later [`Effect::Run`]
    /// (it blocked in an exception or a wait, or was suspended). The glue
    /// keeps its registers where handlers read them
    /// ([`crate::Kernel::save_registers_with`]) unless it already has.
    Park { thread: Koid },
    /// The thread may run user code again, entering as `entry` says.
    Run { thread: Koid, entry: RunEntry },
    /// The thread is finished and never runs again: tear down its kernel side.
    Exit { thread: Koid },
    /// The process's last thread is gone: its address space may be freed.
    ProcessExited { process: Koid, return_code: i64 },
}
