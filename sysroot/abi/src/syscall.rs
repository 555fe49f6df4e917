//! The one syscall table: every call's number, name and register-level
//! signature, for the kernel's decoder and the userspace stubs alike.
//!
//! The table is data, written once in [`for_each_syscall!`]: this crate
//! derives [`Syscall`] (numbers, names, signatures) from it, and the kernel
//! derives its per-call argument types and its dispatcher from the same
//! lines, so a call cannot be numbered one way and decoded another. Adding a
//! call means adding a line here; the kernel then fails to build until the
//! call has a decoder.
//!
//! A line reads `number Variant name(argument: type, ...) -> "result"`.
//! Argument `i` travels in argument register `i` (see `sysroot/zx/src/raw.rs`).
//! The types are register-level: `handle` is a `u32` handle value, `u32`,
//! `u64`, `i64` and `usize` are integers (a `u32` is the register's low 32
//! bits), and `*const T` / `*mut T` are user addresses of a `T` the kernel
//! reads / writes (or of the first of several, with a length argument
//! beside). The result register holds a status (0 or negative) unless the
//! result says otherwise. These are Zircon's C signatures, in the same
//! order. The table names no kernel type: this crate depends on nothing.

/// Call `$callback!` with the syscall table, one line per call, in number
/// order:
///
/// ```text
/// $number:literal $Variant:ident $name:ident ($($argument:ident: $(*$pointer:tt)? $type:ident),*) -> $result:literal;
/// ```
///
/// where `$pointer` is `const` (the kernel reads) or `mut` (the kernel
/// writes). The kernel builds its argument structs and its dispatcher with
/// it; this crate builds [`Syscall`].
#[macro_export]
macro_rules! for_each_syscall {
    ($callback:ident) => {
        $callback! {
            // number Variant name(argument: type, ...) -> "result"
            0 HandleClose handle_close(handle: handle) -> "status";
            1 HandleDuplicate handle_duplicate(handle: handle, rights: u32, out: *mut handle) -> "status";
            2 HandleReplace handle_replace(handle: handle, rights: u32, out: *mut handle) -> "status";
            3 ObjectWaitOne object_wait_one(handle: handle, signals: u32, deadline: i64, observed: *mut u32) -> "status";
            4 ObjectWaitAsync object_wait_async(handle: handle, port: handle, key: u64, signals: u32, options: u32) -> "status";
            5 ObjectGetProperty object_get_property(handle: handle, property: u32, value: *mut u8, value_size: usize) -> "status";
            6 ObjectSetProperty object_set_property(handle: handle, property: u32, value: *const u8, value_size: usize) -> "status";
            7 ObjectGetInfo object_get_info(handle: handle, topic: u32, buffer: *mut u8, buffer_size: usize, actual: *mut usize, avail: *mut usize) -> "status";
            8 PortCreate port_create(options: u32, out: *mut handle) -> "status";
            9 PortQueue port_queue(handle: handle, packet: *const PortPacket) -> "status";
            10 PortWait port_wait(handle: handle, deadline: i64, packet: *mut PortPacket) -> "status";
            11 ChannelCreate channel_create(options: u32, out0: *mut handle, out1: *mut handle) -> "status";
            12 ChannelWrite channel_write(handle: handle, options: u32, bytes: *const u8, num_bytes: u32, handles: *const handle, num_handles: u32) -> "status";
            13 ChannelRead channel_read(handle: handle, options: u32, bytes: *mut u8, handles: *mut handle, num_bytes: u32, num_handles: u32, actual_bytes: *mut u32, actual_handles: *mut u32) -> "status";
            14 JobCreate job_create(parent: handle, options: u32, out: *mut handle) -> "status";
            15 JobSetPolicy job_set_policy(job: handle, options: u32, topic: u32, policy: *const PolicyBasic, count: u32) -> "status";
            16 ProcessCreate process_create(job: handle, name: *const u8, name_size: usize, options: u32, process_out: *mut handle, vmar_out: *mut handle) -> "status";
            17 ProcessStart process_start(process: handle, thread: handle, entry: u64, stack: u64, arg1: handle, arg2: u64) -> "status";
            18 ProcessExit process_exit(return_code: i64) -> "!";
            19 ThreadCreate thread_create(process: handle, name: *const u8, name_size: usize, options: u32, out: *mut handle) -> "status";
            20 ThreadStart thread_start(thread: handle, entry: u64, stack: u64, arg1: u64, arg2: u64) -> "status";
            21 ThreadExit thread_exit() -> "!";
            22 TaskKill task_kill(task: handle) -> "status";
            23 TaskSuspend task_suspend(task: handle, token_out: *mut handle) -> "status";
            24 ThreadReadState thread_read_state(thread: handle, kind: u32, buffer: *mut u8, buffer_size: usize) -> "status";
            25 ThreadWriteState thread_write_state(thread: handle, kind: u32, buffer: *const u8, buffer_size: usize) -> "status";
            26 ProcessReadMemory process_read_memory(process: handle, vaddr: u64, buffer: *mut u8, buffer_size: usize, actual: *mut usize) -> "status";
            27 ProcessWriteMemory process_write_memory(process: handle, vaddr: u64, buffer: *const u8, buffer_size: usize, actual: *mut usize) -> "status";
            28 TaskBindExceptionPort task_bind_exception_port(task: handle, port: handle, key: u64, options: u32) -> "status";
            29 TaskResumeFromException task_resume_from_exception(thread: handle, port: handle, options: u32) -> "status";
            30 TaskResume task_resume(thread: handle, options: u32) -> "status";
            31 TaskCreateExceptionChannel task_create_exception_channel(task: handle, options: u32, out: *mut handle) -> "status";
            32 ExceptionGetThread exception_get_thread(exception: handle, out: *mut handle) -> "status";
            33 ExceptionGetProcess exception_get_process(exception: handle, out: *mut handle) -> "status";
            34 VmoCreate vmo_create(size: u64, options: u32, out: *mut handle) -> "status";
            35 VmoRead vmo_read(vmo: handle, buffer: *mut u8, offset: u64, buffer_size: usize) -> "status";
            36 VmoWrite vmo_write(vmo: handle, buffer: *const u8, offset: u64, buffer_size: usize) -> "status";
            37 VmarMap vmar_map(vmar: handle, options: u32, vmar_offset: u64, vmo: handle, vmo_offset: u64, len: u64, mapped_addr: *mut u64) -> "status";
            38 VmarUnmap vmar_unmap(vmar: handle, addr: u64, len: u64) -> "status";
            39 VmarProtect vmar_protect(vmar: handle, options: u32, addr: u64, len: u64) -> "status";
            40 ClockGetMonotonic clock_get_monotonic() -> "i64 (nanoseconds since boot; never a status)";
            41 Nanosleep nanosleep(deadline: i64) -> "status";
            42 DebugWrite debug_write(buffer: *const u8, buffer_size: usize) -> "status";
            43 DebugLinkRead debug_link_read(link: handle, buffer: *mut u8, buffer_size: usize) -> "bytes read (>= 0, 0 when nothing waits) or status";
            44 DebugLinkWrite debug_link_write(link: handle, buffer: *const u8, buffer_size: usize) -> "status";
            45 EventCreate event_create(options: u32, out: *mut handle) -> "status";
            46 ObjectSignal object_signal(handle: handle, clear_mask: u32, set_mask: u32) -> "status";

        }
    };
}

/// `"(name: type, ...) -> result"` for a table line, the text
/// [`Syscall::signature`] returns.
macro_rules! signature_text {
    (() -> $result:literal) => {
        concat!("() -> ", $result)
    };
    (($first:ident : $(*$first_pointer:tt)? $first_type:ident
      $(, $argument:ident : $(*$pointer:tt)? $type:ident)*) -> $result:literal) => {
        concat!(
            "(",
            stringify!($first), ": ", $("*", stringify!($first_pointer), " ",)? stringify!($first_type),
            $(", ", stringify!($argument), ": ", $("*", stringify!($pointer), " ",)? stringify!($type),)*
            ") -> ",
            $result
        )
    };
}

macro_rules! define_syscalls {
    ($($number:literal $variant:ident $name:ident
       ($($argument:ident : $(*$pointer:tt)? $type:ident),*) -> $result:literal;)*) => {
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
            #[inline]
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
                    $(Syscall::$variant => stringify!($name),)*
                }
            }

            /// The call's arguments in register order and its result, as
            /// `(name: type, ...) -> result`: the table line (see the
            /// module's documentation for the types).
            pub const fn signature(self) -> &'static str {
                match self {
                    $(Syscall::$variant => signature_text!(
                        ($($argument : $(*$pointer)? $type),*) -> $result
                    ),)*
                }
            }

            /// How many argument registers the call uses.
            pub const fn arg_count(self) -> usize {
                match self {
                    $(Syscall::$variant => 0 $(+ { let _ = stringify!($argument); 1 })*,)*
                }
            }
        }
    };
}

for_each_syscall!(define_syscalls);

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
