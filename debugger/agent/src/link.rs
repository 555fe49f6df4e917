//! The debug link: the second serial line, reached through the kernel's
//! debug-link resource (`debug_link_read` / `debug_link_write`).
//!
//! Reading never blocks: the kernel hands over what the UART holds (0 bytes
//! when nothing waits). The resource is READABLE from the UART's interrupt
//! until a read drains the line, so the agent waits for that on its port
//! (and still looks now and then, should an interrupt go missing). Frames go
//! out in chunks of at most the kernel's 4 KiB per call.

use alloc::vec::Vec;

use spinel_debug_agent_core::Link;
use spinel_debug_protocol::{AgentMessage, FrameDecoder, FrameError, encode};
use spinel_rt::zx::{ObjectCalls, Port, Resource, Signals, Status};

/// Bytes the kernel moves per `debug_link_write`.
const WRITE_CHUNK: usize = 4096;

pub struct SerialLink {
    resource: Resource,
    decoder: FrameDecoder,
    /// The kernel signals arriving bytes (the wait on the link works).
    pub watched: bool,
    /// A wait on the link is pending on the port.
    pub armed: bool,
}

impl SerialLink {
    pub fn new(resource: Resource) -> Self {
        SerialLink {
            resource,
            decoder: FrameDecoder::new(),
            watched: true,
            armed: false,
        }
    }

    /// One packet with `key` on `port` once bytes wait on the line (the
    /// kernel asserts READABLE on the resource at the UART's interrupt and
    /// clears it when a read drains the line).
    pub fn notify(&self, port: &Port, key: u64) -> Result<(), Status> {
        self.resource
            .wait_async(port, key, Signals::OBJECT_READABLE, 0)
    }

    /// Take whatever bytes wait on the line; whether any did.
    pub fn poll(&mut self) -> Result<bool, Status> {
        let mut buffer = [0u8; 512];
        let mut any = false;
        loop {
            let count = self.resource.link_read(&mut buffer)?;
            if count == 0 {
                return Ok(any);
            }
            any = true;
            self.decoder.push(&buffer[..count]);
        }
    }
}

impl Link for SerialLink {
    fn next_frame(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        self.decoder.next_frame()
    }

    fn send(&mut self, message: &AgentMessage) -> Result<(), Status> {
        let frame = match encode(message) {
            Ok(frame) => frame,
            Err(error) => {
                spinel_rt::println!("debug-agent: cannot encode a message: {error}");
                return Err(Status::INTERNAL);
            }
        };
        for chunk in frame.chunks(WRITE_CHUNK) {
            self.resource.link_write(chunk)?;
        }
        Ok(())
    }

    fn inject(&mut self, bytes: &[u8]) {
        self.decoder.push(bytes);
    }
}
