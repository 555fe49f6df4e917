//! Byte streams to an agent.
//!
//! Anything that reads and writes bytes can carry the protocol: a TCP
//! socket (QEMU's serial line forwarded to a port), a serial device or pty
//! (QEMU's second serial line as `-serial pty`), or a Unix socket pair for an
//! in-process agent in tests.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A byte stream to an agent.
pub trait Transport: Read + Write + Send {
    /// Bounds how long one read may block (`None`: forever). Transports
    /// that cannot time out return an error and are read blocking.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

impl Transport for UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }
}

/// A serial device or pty, opened read-write.
#[derive(Debug)]
pub struct Serial {
    file: File,
}

impl Serial {
    pub fn open(path: &str) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Serial { file })
    }
}

impl Read for Serial {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl Write for Serial {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Transport for Serial {
    fn set_read_timeout(&mut self, _timeout: Option<Duration>) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a serial line is read blocking",
        ))
    }
}

/// Opens `tcp:HOST:PORT`, `HOST:PORT` or a device path.
pub fn open(target: &str) -> io::Result<Box<dyn Transport>> {
    if let Some(path) = target.strip_prefix("serial:") {
        return Ok(Box::new(Serial::open(path)?));
    }
    if target.starts_with('/') {
        return Ok(Box::new(Serial::open(target)?));
    }
    let address = target.strip_prefix("tcp:").unwrap_or(target);
    let stream = TcpStream::connect(address)?;
    stream.set_nodelay(true)?;
    Ok(Box::new(stream))
}
