//! The agent's loop: everything arrives on one port.
//!
//! `object_wait_async` packets come for the job-debugger channel
//! (PROCESS_STARTING), each process-debugger channel (architectural
//! exceptions, THREAD_STARTING / THREAD_EXITING), each process's
//! termination and the debug link's READABLE. Each wait is one-shot and
//! re-armed after its packet; a debugger channel's key carries the
//! attachment's generation, so a packet left over from a closed channel is
//! recognised and dropped (by `spinel-debug-agent-core`, which decides
//! everything else). The link is read between waits, and looked at every
//! 50 ms anyway should an interrupt go missing.

use spinel_debug_agent_core::Agent;
use spinel_rt::println;
use spinel_rt::zx::abi::exception::{EXCEPTION_STATE_HANDLED, EXCP_PROCESS_STARTING};
use spinel_rt::zx::abi::port::PKT_TYPE_SIGNAL_ONE;
use spinel_rt::zx::{self, Exception, HandleBased, ObjectCalls, PortPacket, Signals, Status};

use crate::link::SerialLink;
use crate::zircon::{KEY_JOB, KEY_LINK, KIND_DEBUGGER, KIND_TERMINATED, Zircon, unkey};

/// The agent as the guest runs it.
pub type GuestAgent = Agent<'static, Zircon, SerialLink>;

/// How long the agent waits before looking at the link anyway: short when
/// the kernel does not tell it about arriving bytes, long when it does.
const POLL_NS: i64 = 2_000_000;
const WATCHED_POLL_NS: i64 = 50_000_000;

/// One round: take what the link has, answer it, then wait on the port
/// (for the link's next bytes or a kernel event; not at all if the link
/// was busy) and handle what arrives.
pub fn turn(agent: &mut GuestAgent) {
    let busy = match agent.link.poll() {
        Ok(any) => any,
        Err(status) => {
            println!("debug-agent: reading the link failed: {status:?}");
            false
        }
    };
    agent.handle_frames();
    if agent.link.watched && !agent.link.armed {
        match agent.link.notify(&agent.system.port, KEY_LINK) {
            Ok(()) => agent.link.armed = true,
            Err(status) => {
                println!("debug-agent: cannot wait on the link ({status:?}); polling it");
                agent.link.watched = false;
            }
        }
    }
    let poll_ns = if agent.link.watched {
        WATCHED_POLL_NS
    } else {
        POLL_NS
    };
    let deadline = if busy { 0 } else { zx::deadline_after(poll_ns) };
    let mut wait = deadline;
    loop {
        match agent.system.port.wait(wait) {
            Ok(packet) => on_packet(agent, packet),
            Err(Status::TIMED_OUT) => return,
            Err(status) => {
                println!("debug-agent: port_wait failed: {status:?}");
                let _ = zx::nanosleep(zx::deadline_after(POLL_NS));
                return;
            }
        }
        // Take whatever else is queued, without waiting.
        wait = 0;
    }
}

fn on_packet(agent: &mut GuestAgent, packet: PortPacket) {
    if packet.packet_type != PKT_TYPE_SIGNAL_ONE {
        return;
    }
    let observed = Signals(packet.as_signal().observed);
    if packet.key == KEY_LINK {
        // The next turn reads the line, then waits again.
        agent.link.armed = false;
        return;
    }
    if packet.key == KEY_JOB {
        on_job_channel(agent, observed);
        return;
    }
    let (pid, generation, kind) = unkey(packet.key);
    match kind {
        KIND_DEBUGGER => agent.debugger_channel_readable(pid, generation),
        KIND_TERMINATED => agent.process_terminated(pid),
        _ => {}
    }
}

fn on_job_channel(agent: &mut GuestAgent, observed: Signals) {
    loop {
        let Some(channel) = &agent.system.job_channel else {
            return;
        };
        match channel.read_exception() {
            Ok((info, exception)) if info.exception_type == EXCP_PROCESS_STARTING => {
                if let Err(status) = process_starting(agent, &exception) {
                    println!(
                        "debug-agent: cannot attach to process {}: {status:?}",
                        info.pid
                    );
                }
                let _ = exception.set_state(EXCEPTION_STATE_HANDLED);
            }
            Ok((_, exception)) => drop(exception),
            Err(error) if error.status == Status::SHOULD_WAIT => break,
            Err(error) => {
                println!("debug-agent: the job channel failed: {:?}", error.status);
                agent.system.job_channel = None;
                return;
            }
        }
    }
    if observed.contains(Signals::CHANNEL_PEER_CLOSED)
        && !observed.contains(Signals::CHANNEL_READABLE)
    {
        println!("debug-agent: the watched job is gone");
        agent.system.job_channel = None;
        return;
    }
    if let Some(channel) = &agent.system.job_channel {
        let signals = Signals::CHANNEL_READABLE | Signals::CHANNEL_PEER_CLOSED;
        if let Err(status) = channel.wait_async(&agent.system.port, KEY_JOB, signals, 0) {
            println!("debug-agent: cannot wait on the job channel: {status:?}");
        }
    }
}

/// A process of the watched job is starting: the agent keeps it and
/// attaches before it runs (the exception is answered by the caller).
fn process_starting(agent: &mut GuestAgent, exception: &Exception) -> Result<(), Status> {
    let process = exception.process()?;
    let thread = exception.thread()?;
    let pid = process.koid()?;
    let tid = thread.koid()?;
    agent.process_starting(pid, process, tid, thread)
}
