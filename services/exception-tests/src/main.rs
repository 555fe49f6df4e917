//! exception-tests: the conformance list of `shared/spec/exceptions.md`
//! (items 1 to 36) on the real kernel, on both architectures. Test `cNN_*`
//! shows item NN, like the host tests in `kernel/object/tests/conformance.rs`
//! which these mirror with real processes, real faults and real system
//! calls.
//!
//! Run as `test [FILTER]` (or with no arguments) it runs the tests; run as
//! `child <steps>` it is the faulting child the tests start (`child.rs`).
#![no_std]
#![no_main]

extern crate alloc;

mod channels;
mod child;
mod delivery;
mod env;
mod lifecycle;
mod ports;
mod registers;
mod stepping;
mod synthetic;

use spinel_rt::startup::Startup;
use spinel_rt::test::Test;

spinel_rt::entry!(main);

fn main(args: spinel_rt::StartArgs) -> i64 {
    let mut startup = Startup::from_start(args.bootstrap);
    if startup.words().next() == Some("child") {
        return child::run(startup);
    }
    spinel_rt::test::suite("exception-tests", &mut startup, TESTS, env::init)
}

const TESTS: &[Test] = &[
    Test::new(
        "c01_bad_options_or_debugger_on_thread_is_invalid_args",
        channels::c01,
    ),
    Test::new(
        "c02_any_missing_required_right_or_enumerate_is_access_denied",
        channels::c02,
    ),
    Test::new(
        "c03_policy_denying_channels_is_access_denied_and_non_task_is_refused",
        channels::c03,
    ),
    Test::new(
        "c04_channel_end_has_exactly_transfer_wait_read",
        channels::c04,
    ),
    Test::new(
        "c05_second_channel_already_bound_until_closed_and_32_job_debuggers",
        channels::c05,
    ),
    Test::new(
        "c06_dead_task_is_bad_state_and_death_closes_all_five_kinds",
        channels::c06,
    ),
    Test::new(
        "c07_message_is_24_bytes_and_one_handle_with_pid_tid_type",
        channels::c07,
    ),
    Test::new(
        "c08_exception_handle_not_duplicable_and_thread_channel_get_process_denied",
        channels::c08,
    ),
    Test::new(
        "c09_waiting_thread_reports_blocked_exception_and_handler_kind",
        delivery::c09,
    ),
    Test::new(
        "c10_full_order_debugger_thread_process_job_parent_job",
        delivery::c10,
    ),
    Test::new(
        "c11_unhandled_exception_kills_process_with_minus_1028",
        delivery::c11,
    ),
    Test::new(
        "c12_handled_resumes_at_faulting_instruction_so_fault_repeats",
        delivery::c12,
    ),
    Test::new("c13_thread_exit_state_ends_only_that_thread", delivery::c13),
    Test::new(
        "c14_property_errors_wrong_type_invalid_args_buffer_too_small",
        delivery::c14,
    ),
    Test::new(
        "c15_second_chance_order_and_bad_state_from_other_handlers",
        delivery::c15,
    ),
    Test::new(
        "c16_debugger_gone_before_second_chance_goes_to_jobs",
        delivery::c16,
    ),
    Test::new(
        "c17_closing_channel_with_unread_exception_forwards_it",
        delivery::c17,
    ),
    Test::new(
        "c18_thread_starting_and_exiting_reach_only_debugger_and_thread_waits",
        synthetic::c18,
    ),
    Test::new(
        "c18_port_era_debugger_gets_thread_starting_and_exiting",
        synthetic::c18_port,
    ),
    Test::new(
        "c19_process_starting_reaches_nearest_job_debuggers_in_order_and_stops",
        synthetic::c19,
    ),
    Test::new(
        "c19_port_era_job_debugger_gets_process_starting",
        synthetic::c19_port,
    ),
    Test::new("c20_there_is_no_process_exiting_exception", synthetic::c20),
    Test::new(
        "c21_registers_in_exceptions_and_thread_starting_not_thread_exiting",
        registers::c21,
    ),
    Test::new("c22_handler_changing_pc_recovers_thread", registers::c22),
    Test::new(
        "c23_killing_thread_stops_walk_and_closing_afterwards_does_nothing",
        lifecycle::c23,
    ),
    Test::new(
        "c24_after_kill_exception_yields_task_handles_and_set_property_ok",
        lifecycle::c24,
    ),
    Test::new(
        "c25_killed_thread_still_emits_thread_exiting_without_blocking",
        synthetic::c25,
    ),
    Test::new(
        "c26_suspended_thread_in_exception_runs_only_when_both_released",
        lifecycle::c26,
    ),
    Test::new(
        "c27_unhandled_policy_error_is_fatal_with_policy_code",
        lifecycle::c27,
    ),
    Test::new(
        "c28_page_fault_report_has_fault_address_and_vm_status",
        registers::c28,
    ),
    Test::new(
        "c29_every_trigger_fills_type_and_arch_fields",
        registers::c29,
    ),
    Test::new(
        "c30_port_second_bind_already_bound_empty_unbind_bad_state_debugger_on_thread_invalid",
        ports::c30,
    ),
    Test::new(
        "c31_port_packet_is_48_bytes_with_key_type_ok_pid_tid",
        ports::c31,
    ),
    Test::new(
        "c32_port_resume_wrong_port_denied_twice_bad_state_try_next_forwards",
        ports::c32,
    ),
    Test::new(
        "c33_port_unbind_or_close_forwards_and_quiet_unbind_keeps_waiting",
        ports::c33,
    ),
    Test::new(
        "c34_magenta_system_port_is_tried_last_and_rejects_debugger_or_quietly",
        ports::c34,
    ),
    Test::new(
        "c35_exception_packet_that_cannot_be_queued_kills_process",
        ports::c35,
    ),
    Test::new(
        "c36_process_exiting_with_its_own_exception_channel_or_port_is_safe",
        lifecycle::c36,
    ),
    Test::new(
        "x01_single_step_traps_after_each_instruction_as_hw_breakpoint",
        stepping::single_step,
    ),
];
