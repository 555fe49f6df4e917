//! syscall-tests: argument validation of every system call on the real
//! kernel. Bad handle values, wrong types, missing rights, bad options and
//! bad pointers (null, unmapped, kernel-half, non-canonical, across the top
//! of user space, overflowing, read-only) give the documented status
//! (INVALID_ARGS for bad pointers), and the kernel lives on.
//!
//! `sweep.rs` tries every pointer argument of every call, found from the
//! syscall table's signatures; `calls.rs` checks each family's handles,
//! rights and options; `raw.rs` is the one module with `unsafe`.
#![no_std]
#![no_main]

extern crate alloc;

mod calls;
mod fixture;
mod raw;
mod sweep;

use spinel_rt::startup::Startup;
use spinel_rt::test::Test;

spinel_rt::entry!(main);

fn main(args: spinel_rt::StartArgs) -> i64 {
    let mut startup = Startup::from_start(args.bootstrap);
    spinel_rt::test::suite("syscall-tests", &mut startup, TESTS, fixture::init)
}

const TESTS: &[Test] = &[
    Test::new(
        "syscall_every_pointer_argument_refuses_every_bad_address",
        sweep::every_pointer_argument_refuses_every_bad_address,
    ),
    Test::new(
        "syscall_every_handle_argument_refuses_a_bad_handle",
        sweep::every_handle_argument_refuses_a_bad_handle,
    ),
    Test::new(
        "syscall_null_optional_outputs_are_accepted",
        sweep::null_optional_outputs_are_accepted,
    ),
    Test::new(
        "syscall_unknown_numbers_are_bad_syscall",
        calls::unknown_syscall_numbers_are_bad_syscall,
    ),
    Test::new(
        "syscall_handle_calls_check_handles_rights_and_subsets",
        calls::handle_calls_check_handles_rights_and_subsets,
    ),
    Test::new(
        "syscall_object_calls_check_handles_rights_and_options",
        calls::object_calls_check_handles_rights_and_options,
    ),
    Test::new(
        "syscall_property_and_info_calls_check_types_sizes_and_topics",
        calls::property_and_info_calls_check_types_sizes_and_topics,
    ),
    Test::new(
        "syscall_port_calls_check_options_types_rights_and_deadlines",
        calls::port_calls_check_options_types_rights_and_deadlines,
    ),
    Test::new(
        "syscall_channel_calls_check_sizes_options_handles_and_keep_messages",
        calls::channel_calls_check_sizes_options_handles_and_keep_messages,
    ),
    Test::new(
        "syscall_job_calls_check_parents_rights_options_and_policies",
        calls::job_calls_check_parents_rights_options_and_policies,
    ),
    Test::new(
        "syscall_process_and_thread_creation_check_jobs_names_and_options",
        calls::process_and_thread_creation_check_jobs_names_and_options,
    ),
    Test::new(
        "syscall_start_calls_check_handles_pairs_and_states",
        calls::start_calls_check_handles_pairs_and_states,
    ),
    Test::new(
        "syscall_bad_entry_points_and_stacks_kill_only_their_process",
        calls::bad_entry_points_and_stacks_kill_only_their_process,
    ),
    Test::new(
        "syscall_task_calls_check_handles_rights_and_types",
        calls::task_calls_check_handles_rights_and_types,
    ),
    Test::new(
        "syscall_thread_state_calls_check_kinds_sizes_and_states",
        calls::thread_state_calls_check_kinds_sizes_and_states,
    ),
    Test::new(
        "syscall_process_memory_calls_check_handles_sizes_and_mappings",
        calls::process_memory_calls_check_handles_sizes_and_mappings,
    ),
    Test::new(
        "syscall_exception_calls_check_handles_and_types",
        calls::exception_calls_check_handles_and_types,
    ),
    Test::new(
        "syscall_vmo_calls_check_options_sizes_rights_and_ranges",
        calls::vmo_calls_check_options_sizes_rights_and_ranges,
    ),
    Test::new(
        "syscall_vmar_calls_check_options_alignment_and_overlaps",
        calls::vmar_calls_check_options_alignment_and_overlaps,
    ),
    Test::new(
        "syscall_clock_and_sleep_accept_any_deadline",
        calls::clock_and_sleep_accept_any_deadline,
    ),
    Test::new(
        "syscall_debug_calls_check_handles_and_lengths",
        calls::debug_calls_check_handles_and_lengths,
    ),
    Test::new(
        "syscall_zero_length_buffers_are_never_touched",
        calls::zero_length_buffers_are_never_touched,
    ),
    Test::new(
        "syscall_misaligned_pointers_are_accepted_byte_for_byte",
        calls::misaligned_pointers_are_accepted_byte_for_byte,
    ),
    Test::new(
        "syscall_ranges_running_into_unmapped_memory_are_invalid_args",
        calls::ranges_running_into_unmapped_memory_are_invalid_args,
    ),
];
