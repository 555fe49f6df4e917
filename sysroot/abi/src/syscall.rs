//! The one syscall table: every call's number and name, for the kernel's
//! dispatcher and the userspace stubs alike. Add a call by adding a line.

macro_rules! syscall_table {
    ($($number:literal $variant:ident $name:literal $args:literal $signature:literal;)*) => {
        /// A system call, by number.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        #[repr(u32)]
        pub enum Syscall {
            $($variant = $number,)*
        }

        impl Syscall {
            /// Every call, in number order.
            pub const ALL: &'static [Syscall] = &[$(Syscall::$variant),*];

            /// The call with this number, if any (`BAD_SYSCALL` otherwise).
            pub const fn from_number(number: u64) -> Option<Syscall> {
                match number {
                    $($number => Some(Syscall::$variant),)*
                    _ => None,
                }
            }

            pub const fn number(self) -> u32 {
                self as u32
            }

            /// Zircon's name without the `zx_` prefix.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Syscall::$variant => $name,)*
                }
            }

            /// The call's arguments in register order and its result, as
            /// `(name: type, ...) -> result`. This is the register-level
            /// ABI: argument `i` travels in argument register `i` (see
            /// `sysroot/zx/src/raw.rs`); `handle` is a `u32` handle value,
            /// pointers are user addresses; the result register holds a
            /// status (0 or negative) unless the signature says otherwise.
            /// Zircon's C signatures, in the same order.
            pub const fn signature(self) -> &'static str {
                match self {
                    $(Syscall::$variant => $signature,)*
                }
            }

            /// How many argument registers the call uses.
            pub const fn arg_count(self) -> usize {
                match self {
                    $(Syscall::$variant => $args,)*
                }
            }
        }
    };
}

syscall_table! {
    // number variant name args "signature"
    0 HandleClose "handle_close" 1 "(handle: handle) -> status";
    1 HandleDuplicate "handle_duplicate" 3 "(handle: handle, rights: u32, out: *mut handle) -> status";
    2 HandleReplace "handle_replace" 3 "(handle: handle, rights: u32, out: *mut handle) -> status";
    3 ObjectWaitOne "object_wait_one" 4 "(handle: handle, signals: u32, deadline: i64, observed: *mut u32) -> status";
    4 ObjectWaitAsync "object_wait_async" 5 "(handle: handle, port: handle, key: u64, signals: u32, options: u32) -> status";
    5 ObjectGetProperty "object_get_property" 4 "(handle: handle, property: u32, value: *mut u8, value_size: usize) -> status";
    6 ObjectSetProperty "object_set_property" 4 "(handle: handle, property: u32, value: *const u8, value_size: usize) -> status";
    7 ObjectGetInfo "object_get_info" 6 "(handle: handle, topic: u32, buffer: *mut u8, buffer_size: usize, actual: *mut usize, avail: *mut usize) -> status";
    8 PortCreate "port_create" 2 "(options: u32, out: *mut handle) -> status";
    9 PortQueue "port_queue" 2 "(handle: handle, packet: *const PortPacket) -> status";
    10 PortWait "port_wait" 3 "(handle: handle, deadline: i64, packet: *mut PortPacket) -> status";
    11 ChannelCreate "channel_create" 3 "(options: u32, out0: *mut handle, out1: *mut handle) -> status";
    12 ChannelWrite "channel_write" 6 "(handle: handle, options: u32, bytes: *const u8, num_bytes: u32, handles: *const handle, num_handles: u32) -> status";
    13 ChannelRead "channel_read" 8 "(handle: handle, options: u32, bytes: *mut u8, handles: *mut handle, num_bytes: u32, num_handles: u32, actual_bytes: *mut u32, actual_handles: *mut u32) -> status";
    14 JobCreate "job_create" 3 "(parent: handle, options: u32, out: *mut handle) -> status";
    15 JobSetPolicy "job_set_policy" 5 "(job: handle, options: u32, topic: u32, policy: *const PolicyBasic, count: u32) -> status";
    16 ProcessCreate "process_create" 6 "(job: handle, name: *const u8, name_size: usize, options: u32, process_out: *mut handle, vmar_out: *mut handle) -> status";
    17 ProcessStart "process_start" 6 "(process: handle, thread: handle, entry: u64, stack: u64, arg1: handle, arg2: u64) -> status";
    18 ProcessExit "process_exit" 1 "(return_code: i64) -> !";
    19 ThreadCreate "thread_create" 5 "(process: handle, name: *const u8, name_size: usize, options: u32, out: *mut handle) -> status";
    20 ThreadStart "thread_start" 5 "(thread: handle, entry: u64, stack: u64, arg1: u64, arg2: u64) -> status";
    21 ThreadExit "thread_exit" 0 "() -> !";
    22 TaskKill "task_kill" 1 "(task: handle) -> status";
    23 TaskSuspend "task_suspend" 2 "(task: handle, token_out: *mut handle) -> status";
    24 ThreadReadState "thread_read_state" 4 "(thread: handle, kind: u32, buffer: *mut u8, buffer_size: usize) -> status";
    25 ThreadWriteState "thread_write_state" 4 "(thread: handle, kind: u32, buffer: *const u8, buffer_size: usize) -> status";
    26 ProcessReadMemory "process_read_memory" 5 "(process: handle, vaddr: u64, buffer: *mut u8, buffer_size: usize, actual: *mut usize) -> status";
    27 ProcessWriteMemory "process_write_memory" 5 "(process: handle, vaddr: u64, buffer: *const u8, buffer_size: usize, actual: *mut usize) -> status";
    28 TaskBindExceptionPort "task_bind_exception_port" 4 "(task: handle, port: handle, key: u64, options: u32) -> status";
    29 TaskResumeFromException "task_resume_from_exception" 3 "(thread: handle, port: handle, options: u32) -> status";
    30 TaskResume "task_resume" 2 "(thread: handle, options: u32) -> status";
    31 TaskCreateExceptionChannel "task_create_exception_channel" 3 "(task: handle, options: u32, out: *mut handle) -> status";
    32 ExceptionGetThread "exception_get_thread" 2 "(exception: handle, out: *mut handle) -> status";
    33 ExceptionGetProcess "exception_get_process" 2 "(exception: handle, out: *mut handle) -> status";
    34 VmoCreate "vmo_create" 3 "(size: u64, options: u32, out: *mut handle) -> status";
    35 VmoRead "vmo_read" 4 "(vmo: handle, buffer: *mut u8, offset: u64, buffer_size: usize) -> status";
    36 VmoWrite "vmo_write" 4 "(vmo: handle, buffer: *const u8, offset: u64, buffer_size: usize) -> status";
    37 VmarMap "vmar_map" 7 "(vmar: handle, options: u32, vmar_offset: u64, vmo: handle, vmo_offset: u64, len: u64, mapped_addr: *mut u64) -> status";
    38 VmarUnmap "vmar_unmap" 3 "(vmar: handle, addr: u64, len: u64) -> status";
    39 VmarProtect "vmar_protect" 4 "(vmar: handle, options: u32, addr: u64, len: u64) -> status";
    40 ClockGetMonotonic "clock_get_monotonic" 0 "() -> i64 (nanoseconds since boot; never a status)";
    41 Nanosleep "nanosleep" 1 "(deadline: i64) -> status";
    42 DebugWrite "debug_write" 2 "(buffer: *const u8, buffer_size: usize) -> status";
    43 DebugLinkRead "debug_link_read" 3 "(link: handle, buffer: *mut u8, buffer_size: usize) -> bytes read (>= 0, 0 when nothing waits) or status";
    44 DebugLinkWrite "debug_link_write" 3 "(link: handle, buffer: *const u8, buffer_size: usize) -> status";
    45 EventCreate "event_create" 2 "(options: u32, out: *mut handle) -> status";
    46 ObjectSignal "object_signal" 3 "(handle: handle, clear_mask: u32, set_mask: u32) -> status";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_dense_and_round_trips() {
        for (i, call) in Syscall::ALL.iter().enumerate() {
            assert_eq!(call.number() as usize, i);
            assert_eq!(Syscall::from_number(i as u64), Some(*call));
            assert!(call.arg_count() <= 8);
        }
        assert_eq!(Syscall::from_number(Syscall::ALL.len() as u64), None);
        assert_eq!(Syscall::TaskResume.name(), "task_resume");
    }

    #[test]
    fn signatures_name_as_many_arguments_as_the_count() {
        for call in Syscall::ALL {
            let params = call
                .signature()
                .split(") ->")
                .next()
                .unwrap()
                .trim_start_matches('(');
            let named = if params.is_empty() {
                0
            } else {
                params.split(", ").count()
            };
            assert_eq!(named, call.arg_count(), "{}", call.name());
        }
    }
}
