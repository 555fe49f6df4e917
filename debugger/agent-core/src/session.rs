//! The session with the host: frames in, replies and events out.
//!
//! Nothing is answered before the host's `Hello` but "send Hello first";
//! a `Hello` that does not match ours refuses every later frame until a
//! new `Hello`. Events go out only to a greeted host; a host that greets
//! learns at once of every stop already held, so one that hung up and came
//! back (or a new one) sees what the last one left stopped. A frame that
//! cannot be read gets a `MalformedFrame` reply and the link goes on.

use alloc::string::String;
use alloc::vec::Vec;

use spinel_debug_protocol::{
    AgentMessage, Command, Error, ErrorCode, Event, HandshakeError, Hello, HostMessage, Refusal,
    Reply, Request, Response, Stop, decode_host_message,
};

use crate::{Agent, Link, System};

/// What the session with the host is.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Session {
    /// No `Hello` yet: requests are refused, events are not sent.
    Waiting,
    Greeted,
    /// The host's `Hello` did not match: every frame gets this answer
    /// until a new `Hello`.
    Refused(String),
}

impl<'elf, S: System<'elf>, L: Link> Agent<'elf, S, L> {
    pub(crate) fn send(&mut self, message: &AgentMessage) {
        if let Err(status) = self.link.send(message) {
            self.system.log(format_args!(
                "debug-agent: writing the link failed: {status:?}"
            ));
        }
    }

    /// An unsolicited event, if a host is listening.
    pub(crate) fn emit(&mut self, event: Event) {
        if self.session == Session::Greeted {
            self.send(&AgentMessage::Event(event));
        }
    }

    /// Answer every whole frame the link holds.
    pub fn handle_frames(&mut self) {
        while let Some(frame) = self.link.next_frame() {
            self.request_arrived = self.system.clock();
            let message = frame
                .map_err(|error| error.to_decode_error())
                .and_then(|frame| decode_host_message(&frame));
            match message {
                Err(error) => self.send(&error.to_agent_message()),
                Ok(HostMessage::Hello(theirs)) => self.hello(&theirs),
                Ok(HostMessage::Request(request)) => self.request(request),
            }
        }
    }

    fn hello(&mut self, theirs: &Hello) {
        let ours = self.hello.clone();
        self.send(&AgentMessage::Hello(ours.clone()));
        match ours.check(theirs) {
            Ok(()) => {
                self.session = Session::Greeted;
                // A new host learns at once of the threads already stopped.
                let stops: Vec<Stop> = self
                    .targets
                    .values()
                    .filter(|target| target.debugger.is_some())
                    .flat_map(|target| target.threads.values())
                    .filter_map(|thread| thread.held.as_ref().map(|held| held.stop.clone()))
                    .collect();
                for stop in stops {
                    self.emit(Event::Stopped(stop));
                }
            }
            Err(error) => {
                let refusal = HandshakeError::refusal(&error);
                self.session = Session::Refused(refusal.reason.clone());
                self.send(&AgentMessage::Refused(refusal));
            }
        }
    }

    fn request(&mut self, request: Request) {
        let continuing = matches!(request.command, Command::Continue { .. });
        let reply = match &self.session {
            Session::Refused(reason) => {
                let refusal = Refusal {
                    reason: reason.clone(),
                };
                self.send(&AgentMessage::Refused(refusal));
                return;
            }
            Session::Waiting => {
                Reply::Error(Error::new(ErrorCode::InvalidArgument, "send Hello first"))
            }
            Session::Greeted => match self.command(request.command) {
                Ok(reply) => reply,
                Err(error) => Reply::Error(error),
            },
        };
        let response = AgentMessage::Response(Response {
            id: request.id,
            reply,
        });
        self.send(&response);
        if let (Some(bench), true) = (&mut self.bench, continuing) {
            bench.continue_requested = Some(self.request_arrived);
        }
    }
}
