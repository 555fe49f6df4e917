//! The one syscall table: every call's number and name, for the kernel's
//! dispatcher and the userspace stubs alike. Add a call by adding a line.

macro_rules! syscall_table {
    ($($number:literal $variant:ident $name:literal $args:literal;)*) => {
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
    // number  variant                     name                               args
    0  HandleClose                "handle_close"                     1;
    1  HandleDuplicate            "handle_duplicate"                 3;
    2  HandleReplace              "handle_replace"                   3;
    3  ObjectWaitOne              "object_wait_one"                  4;
    4  ObjectWaitAsync            "object_wait_async"                5;
    5  ObjectGetProperty          "object_get_property"              4;
    6  ObjectSetProperty          "object_set_property"              4;
    7  ObjectGetInfo              "object_get_info"                  6;
    8  PortCreate                 "port_create"                      2;
    9  PortQueue                  "port_queue"                       2;
    10 PortWait                   "port_wait"                        3;
    11 ChannelCreate              "channel_create"                   3;
    12 ChannelWrite               "channel_write"                    6;
    13 ChannelRead                "channel_read"                     8;
    14 JobCreate                  "job_create"                       3;
    15 JobSetPolicy               "job_set_policy"                   5;
    16 ProcessCreate              "process_create"                   6;
    17 ProcessStart               "process_start"                    6;
    18 ProcessExit                "process_exit"                     1;
    19 ThreadCreate               "thread_create"                    5;
    20 ThreadStart                "thread_start"                     5;
    21 ThreadExit                 "thread_exit"                      0;
    22 TaskKill                   "task_kill"                        1;
    23 TaskSuspend                "task_suspend"                     2;
    24 ThreadReadState            "thread_read_state"                4;
    25 ThreadWriteState           "thread_write_state"               4;
    26 ProcessReadMemory          "process_read_memory"              5;
    27 ProcessWriteMemory         "process_write_memory"             5;
    28 TaskBindExceptionPort      "task_bind_exception_port"         4;
    29 TaskResumeFromException    "task_resume_from_exception"       3;
    30 TaskResume                 "task_resume"                      2;
    31 TaskCreateExceptionChannel "task_create_exception_channel"    3;
    32 ExceptionGetThread         "exception_get_thread"             2;
    33 ExceptionGetProcess        "exception_get_process"            2;
    34 VmoCreate                  "vmo_create"                       3;
    35 VmoRead                    "vmo_read"                         4;
    36 VmoWrite                   "vmo_write"                        4;
    37 VmarMap                    "vmar_map"                         7;
    38 VmarUnmap                  "vmar_unmap"                       3;
    39 VmarProtect                "vmar_protect"                     4;
    40 ClockGetMonotonic          "clock_get_monotonic"              0;
    41 Nanosleep                  "nanosleep"                        1;
    42 DebugWrite                 "debug_write"                      2;
    43 DebugLinkRead              "debug_link_read"                  3;
    44 DebugLinkWrite             "debug_link_write"                 2;
    45 EventCreate                "event_create"                     2;
    46 ObjectSignal               "object_signal"                    3;
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
}
