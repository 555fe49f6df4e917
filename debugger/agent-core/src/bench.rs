//! The agent's benchmark (`debug-agent bench N`, run by init in bench mode
//! next to `demo bench N`): the agent puts a breakpoint on `demo::tick`
//! and continues each stop itself, by feeding a real `Continue` request
//! frame through the link's decoder, so every path a host session takes
//! runs except the bytes on the wire.
//!
//! The target passes the guest clock it read just before each call as the
//! first argument: at the stop, `sent - before` is a fault (breakpoint) to
//! the stop event written to the link; at the next stop, `before - the
//! request's arrival` is a continue request to the target running again
//! (stepping off the breakpoint included). Under `-icount shift=0` the
//! clock counts guest instructions.

use alloc::vec::Vec;

use core::fmt;

use spinel_debug_protocol::RequestId;

pub struct Bench {
    /// The function the breakpoint goes on.
    pub function: &'static str,
    /// When the last Continue request was taken off the link.
    pub continue_requested: Option<i64>,
    pub target_exited: bool,
    first_stop: Option<i64>,
    fault_to_stop: Vec<i64>,
    continue_to_running: Vec<i64>,
    next_id: RequestId,
}

impl Default for Bench {
    fn default() -> Self {
        Self::new()
    }
}

impl Bench {
    pub fn new() -> Self {
        Bench {
            function: "demo::tick",
            continue_requested: None,
            target_exited: false,
            first_stop: None,
            fault_to_stop: Vec::new(),
            continue_to_running: Vec::new(),
            next_id: 1,
        }
    }

    pub fn next_id(&mut self) -> RequestId {
        self.next_id += 1;
        self.next_id
    }

    /// One stop: the target's clock before the call, and when the stop
    /// event had been written.
    pub fn record(&mut self, before: i64, sent: i64) {
        if self.first_stop.is_none() {
            // The first stop parses the program's DWARF: kept apart.
            self.first_stop = Some(sent - before);
        } else {
            self.fault_to_stop.push(sent - before);
        }
        if let Some(requested) = self.continue_requested.take() {
            self.continue_to_running.push(before - requested);
        }
    }

    /// Print the `bench NAME VALUE (N)` lines through `println`; false if
    /// nothing was measured.
    pub fn report(&self, println: impl Fn(fmt::Arguments<'_>)) -> bool {
        if let Some(first) = self.first_stop {
            println(format_args!("bench debugger_first_stop {first} (1)"));
        }
        let mut ok = true;
        for (name, samples) in [
            ("debugger_fault_to_stop", &self.fault_to_stop),
            ("debugger_continue_to_running", &self.continue_to_running),
        ] {
            match median(samples) {
                Some(value) => println(format_args!("bench {name} {value} ({})", samples.len())),
                None => {
                    println(format_args!("debug-agent: bench: no samples for {name}"));
                    ok = false;
                }
            }
        }
        ok
    }
}

fn median(samples: &[i64]) -> Option<i64> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied()
}
