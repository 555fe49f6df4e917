//! The Spinel debugger's host client.
//!
//! - [`symbolize`]: `spinel-debug symbolize --elf FILE [ADDR ...]`, a
//!   drop-in for `llvm-symbolizer --obj=FILE` (same output, byte for byte).
//! - [`connection`] over a [`transport`] (TCP, a serial line or pty, or an
//!   in-process socket pair): the handshake, requests matched to responses by
//!   id, and events queued as they arrive.
//! - [`commands`]: the command language of the REPL and batch mode, parsed
//!   into protocol requests; [`render`]: replies, stops and backtraces as
//!   text (with source lines and colour) or JSON.
//! - [`session`]: runs commands against a connection; [`repl`] (line editing,
//!   history, completion) and batch mode (commands from a file or stdin,
//!   text or JSON lines) are two front ends of it.
//! - [`fake_agent`]: the real agent's logic (`spinel-debug-agent-core`)
//!   over a fake kernel, in process: the client's tests and demonstrations.
//! - [`cli`]: the command line (clap).
#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod connection;
pub mod fake_agent;
pub mod render;
pub mod repl;
pub mod session;
pub mod symbolize;
pub mod transport;
