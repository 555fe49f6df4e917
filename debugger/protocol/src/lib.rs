//! The Spinel debugger's wire protocol, shared by the in-guest agent and the
//! host client.
//!
//! - **Messages** ([`message`]) are plain Rust types encoded with `postcard`.
//!   The host sends [`HostMessage`]s (a [`Hello`], then [`Request`]s, each
//!   carrying a [`RequestId`]); the agent sends [`AgentMessage`]s (its
//!   `Hello`, a [`Response`] per request with the same id, unsolicited
//!   [`Event`]s such as a thread stopping, and [`MalformedFrame`] reports).
//! - **Frames** ([`frame`]): each message is COBS-encoded and followed by a
//!   `0x00` delimiter, so a byte stream (TCP, a serial line) carries them and a
//!   reader can resynchronise at the next zero after garbage. A frame is at
//!   most [`MAX_FRAME_LEN`] bytes; [`FrameDecoder`] enforces that while
//!   reading.
//! - **The handshake** ([`hello`]): the first message each way is a `Hello`
//!   with [`PROTOCOL_VERSION`] and [`SCHEMA_HASH`], a hash of the textual
//!   description of every message type (`schema.txt`, checked against the
//!   types by a test). Its shape, and that of [`AgentMessage::Refused`], is
//!   frozen, so peers of any version can read them and refuse each other with
//!   a clear message instead of misreading bytes.
//! - **Decoding never panics**: a malformed, truncated or oversized frame is
//!   an error value (the agent answers it with a `MalformedFrame` carrying the
//!   request id when it can be recovered) and the link keeps working.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod frame;
pub mod hello;
pub mod message;
pub mod schema;

pub use frame::{
    DecodeError, EncodeError, FrameDecoder, FrameError, decode, decode_host_message, encode,
    peek_request_id,
};
pub use hello::{HandshakeError, Hello};
pub use message::*;
pub use schema::{SCHEMA, SCHEMA_HASH};

/// The protocol's version. Bump it on any incompatible change of the
/// message types (the schema hash changes with every change anyway).
pub const PROTOCOL_VERSION: u16 = 1;

/// Largest postcard payload of one message, before COBS.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Largest frame on the wire, COBS overhead included, delimiter excluded.
pub const MAX_FRAME_LEN: usize = MAX_MESSAGE_LEN + MAX_MESSAGE_LEN / 254 + 1;

/// Largest `ReadMemory` / `WriteMemory` transfer in one request, so that the
/// reply always fits in a frame.
pub const MAX_MEMORY_TRANSFER: u32 = 32 * 1024;
