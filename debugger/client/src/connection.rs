//! A session with an agent: the handshake, requests and their responses,
//! and the events that arrive in between.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use spinel_debug_protocol::{
    AgentMessage, Command, Event, FrameDecoder, HandshakeError, Hello, HostMessage, MalformedFrame,
    Reply, Request, RequestId, decode, encode,
};

use crate::transport::Transport;

/// What can go wrong talking to an agent.
#[derive(Debug)]
pub enum LinkError {
    Io(io::Error),
    /// No answer within the time allowed.
    TimedOut,
    /// The agent closed the connection.
    Closed,
    /// The two ends cannot talk (version or schema mismatch).
    Handshake(HandshakeError),
    /// The agent refused this client, with its reason.
    Refused(String),
    /// The agent said our frame was malformed.
    Malformed(String),
    /// The agent sent something that is not a message, or not the one
    /// expected.
    Protocol(String),
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Io(error) => write!(f, "i/o error: {error}"),
            LinkError::TimedOut => write!(f, "the agent did not answer in time"),
            LinkError::Closed => write!(f, "the agent closed the connection"),
            LinkError::Handshake(error) => write!(f, "cannot talk to this agent: {error}"),
            LinkError::Refused(reason) => write!(f, "the agent refused us: {reason}"),
            LinkError::Malformed(detail) => {
                write!(f, "the agent could not read our request: {detail}")
            }
            LinkError::Protocol(detail) => write!(f, "protocol error: {detail}"),
        }
    }
}

impl std::error::Error for LinkError {}

impl From<io::Error> for LinkError {
    fn from(error: io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => LinkError::TimedOut,
            _ => LinkError::Io(error),
        }
    }
}

/// A connected, handshaken agent.
pub struct Connection {
    transport: Box<dyn Transport>,
    decoder: FrameDecoder,
    next_id: RequestId,
    events: VecDeque<Event>,
    /// The agent's `Hello`.
    pub agent: Hello,
    /// How long to wait for a response.
    pub timeout: Duration,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("agent", &self.agent)
            .field("next_id", &self.next_id)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Sends our `Hello` and checks the agent's.
    pub fn handshake(
        mut transport: Box<dyn Transport>,
        software: &str,
        timeout: Duration,
    ) -> Result<Connection, LinkError> {
        let ours = Hello::ours(software);
        // A leading zero flushes whatever half frame the agent holds.
        transport.write_all(&[0])?;
        transport.write_all(&encode(&HostMessage::Hello(ours.clone())).expect("hello fits"))?;
        transport.flush()?;
        let mut connection = Connection {
            transport,
            decoder: FrameDecoder::new(),
            next_id: 1,
            events: VecDeque::new(),
            agent: ours.clone(),
            timeout,
        };
        let deadline = Instant::now() + timeout;
        let hello = encode(&HostMessage::Hello(ours.clone())).expect("hello fits");
        let mut resent = 0;
        loop {
            match connection.read_message(deadline)? {
                // Our Hello reached the agent damaged (bytes lost while the
                // guest's UART was being set up): say it again.
                AgentMessage::MalformedFrame(report) if report.id.is_none() && resent < 3 => {
                    resent += 1;
                    connection.transport.write_all(&[0])?;
                    connection.transport.write_all(&hello)?;
                    connection.transport.flush()?;
                }
                AgentMessage::Hello(agent) => {
                    // Check before anything else: if the agent refuses us,
                    // the refusal follows, but our own reason is as clear.
                    ours.check(&agent).map_err(LinkError::Handshake)?;
                    connection.agent = agent;
                    return Ok(connection);
                }
                AgentMessage::Refused(refusal) => return Err(LinkError::Refused(refusal.reason)),
                AgentMessage::Event(event) => connection.events.push_back(event),
                other => {
                    return Err(LinkError::Protocol(format!(
                        "expected the agent's Hello, got {other:?}"
                    )));
                }
            }
        }
    }

    /// Sends a command and waits for its reply; events that arrive
    /// meanwhile are queued.
    pub fn request(&mut self, command: Command) -> Result<Reply, LinkError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let frame = encode(&HostMessage::Request(Request { id, command }))
            .map_err(|error| LinkError::Protocol(error.to_string()))?;
        self.transport.write_all(&frame)?;
        self.transport.flush()?;
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.read_message(deadline)? {
                AgentMessage::Response(response) if response.id == id => return Ok(response.reply),
                // A late answer to an earlier request that timed out.
                AgentMessage::Response(_) => {}
                AgentMessage::Event(event) => self.events.push_back(event),
                AgentMessage::MalformedFrame(report)
                    if report.id == Some(id) || report.id.is_none() =>
                {
                    return Err(LinkError::Malformed(report.detail));
                }
                AgentMessage::MalformedFrame(_) => {}
                AgentMessage::Refused(refusal) => return Err(LinkError::Refused(refusal.reason)),
                // The answer to a Hello said twice.
                AgentMessage::Hello(_) => {}
            }
        }
    }

    /// Writes raw bytes on the link (a test of the agent's frame checks)
    /// and waits for the agent's report of a malformed frame.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<MalformedFrame, LinkError> {
        self.transport.write_all(bytes)?;
        self.transport.flush()?;
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.read_message(deadline)? {
                AgentMessage::MalformedFrame(report) => return Ok(report),
                AgentMessage::Event(event) => self.events.push_back(event),
                AgentMessage::Refused(refusal) => return Err(LinkError::Refused(refusal.reason)),
                _ => {}
            }
        }
    }

    /// The next event: a queued one, or one read within `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<Event>, LinkError> {
        if let Some(event) = self.events.pop_front() {
            return Ok(Some(event));
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.read_message(deadline) {
                Ok(AgentMessage::Event(event)) => return Ok(Some(event)),
                Ok(_) => {}
                Err(LinkError::TimedOut) => return Ok(None),
                Err(error) => return Err(error),
            }
        }
    }

    /// Reads whatever arrives within `window` into the event queue (events
    /// an agent sends right after a response, such as the stop a step ends
    /// in).
    pub fn poll_events(&mut self, window: Duration) -> Result<(), LinkError> {
        let deadline = Instant::now() + window;
        loop {
            match self.read_message(deadline) {
                Ok(AgentMessage::Event(event)) => self.events.push_back(event),
                Ok(_) => {}
                Err(LinkError::TimedOut) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
    }

    /// Events received so far, without waiting.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    fn read_message(&mut self, deadline: Instant) -> Result<AgentMessage, LinkError> {
        let mut buffer = [0u8; 4096];
        loop {
            while let Some(frame) = self.decoder.next_frame() {
                match frame {
                    Ok(frame) => match decode::<AgentMessage>(&frame) {
                        Ok(message) => return Ok(message),
                        // Garbage on the line (a console message on a
                        // shared serial port): skip to the next frame.
                        Err(_) => continue,
                    },
                    Err(_) => continue,
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(LinkError::TimedOut);
            }
            // Transports without timeouts (a serial line) read blocking.
            let _ = self.transport.set_read_timeout(Some(deadline - now));
            let count = match self.transport.read(&mut buffer) {
                Ok(0) => return Err(LinkError::Closed),
                Ok(count) => count,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error.into()),
            };
            self.decoder.push(&buffer[..count]);
        }
    }
}
