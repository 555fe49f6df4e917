//! Framing: postcard bytes, COBS-encoded, each frame ended by `0x00`.
//!
//! COBS removes every zero from the payload, so a zero always ends a frame:
//! a reader that meets garbage (line noise, a half frame after a reconnect)
//! loses at most that frame and is in step again after the next zero. An
//! empty frame (two zeros in a row) is ignored, so a sender may send a zero
//! first to flush whatever the reader was holding.
//!
//! Encoding uses postcard's COBS flavour; decoding is done here so that a
//! failed frame can still yield its request id (from the readable prefix)
//! and so that every failure is a value, never a panic.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::MAX_FRAME_LEN;
use crate::message::{AgentMessage, FrameFault, HostMessage, MalformedFrame, RequestId};

/// How many raw bytes of an oversized frame are kept to find its request id.
const PREFIX_LEN: usize = 16;

/// A message could not be encoded.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum EncodeError {
    /// The message would not fit in a frame.
    TooLarge { length: usize },
    /// postcard refused the value (it cannot for this crate's types).
    Serialize(String),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLarge { length } => write!(
                f,
                "message of {length} framed bytes exceeds the {MAX_FRAME_LEN}-byte limit"
            ),
            EncodeError::Serialize(detail) => write!(f, "cannot encode message: {detail}"),
        }
    }
}

/// Encodes one message as a frame, delimiter included.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, EncodeError> {
    let frame = postcard::to_allocvec_cobs(message)
        .map_err(|error| EncodeError::Serialize(format!("{error}")))?;
    // What the reader enforces is the frame length (delimiter excluded).
    if frame.len() - 1 > MAX_FRAME_LEN {
        return Err(EncodeError::TooLarge {
            length: frame.len() - 1,
        });
    }
    Ok(frame)
}

/// A frame that could not be turned into a message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DecodeError {
    pub kind: FrameFault,
    pub detail: String,
    /// The request id, when the frame was a host request whose id could be
    /// read.
    pub request_id: Option<RequestId>,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed frame ({:?}): {}", self.kind, self.detail)?;
        if let Some(id) = self.request_id {
            write!(f, " [request {id}]")?;
        }
        Ok(())
    }
}

impl DecodeError {
    fn new(kind: FrameFault, detail: String) -> Self {
        DecodeError {
            kind,
            detail,
            request_id: None,
        }
    }

    /// The agent's reply to this frame.
    pub fn to_agent_message(&self) -> AgentMessage {
        AgentMessage::MalformedFrame(MalformedFrame {
            id: self.request_id,
            kind: self.kind,
            detail: self.detail.clone(),
        })
    }
}

/// What [`FrameDecoder`] reports besides frames.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FrameError {
    /// A frame grew past [`MAX_FRAME_LEN`]; its bytes up to the next
    /// delimiter are dropped. `prefix` holds its first raw bytes.
    Oversized { prefix: Vec<u8> },
}

impl FrameError {
    /// As a decode error, with the request id recovered from the prefix
    /// when the frame was a host request.
    pub fn to_decode_error(&self) -> DecodeError {
        match self {
            FrameError::Oversized { prefix } => DecodeError {
                kind: FrameFault::Oversized,
                detail: format!("frame longer than {MAX_FRAME_LEN} bytes"),
                request_id: peek_request_id(prefix),
            },
        }
    }
}

/// Splits a byte stream into frames, enforcing [`MAX_FRAME_LEN`].
///
/// Feed it whatever arrives with [`push`](Self::push), then drain
/// [`next_frame`](Self::next_frame). Memory stays bounded by the frame limit
/// whatever the input.
#[derive(Debug)]
pub struct FrameDecoder {
    current: Vec<u8>,
    /// Inside an oversized frame: drop bytes up to the next delimiter.
    discarding: bool,
    max_len: usize,
    ready: VecDeque<Result<Vec<u8>, FrameError>>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::with_limit(MAX_FRAME_LEN)
    }

    /// A decoder with a smaller frame limit (for tests and tight links).
    pub fn with_limit(max_len: usize) -> Self {
        FrameDecoder {
            current: Vec::new(),
            discarding: false,
            max_len,
            ready: VecDeque::new(),
        }
    }

    /// Takes bytes from the stream.
    pub fn push(&mut self, mut data: &[u8]) {
        while let Some(end) = data.iter().position(|&byte| byte == 0) {
            self.take(&data[..end]);
            self.finish();
            data = &data[end + 1..];
        }
        self.take(data);
    }

    /// The next complete frame (without its delimiter, still COBS-encoded),
    /// or an error for a frame that was dropped.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        self.ready.pop_front()
    }

    /// Bytes held for a frame not yet ended.
    pub fn pending(&self) -> usize {
        self.current.len()
    }

    fn take(&mut self, bytes: &[u8]) {
        if self.discarding || bytes.is_empty() {
            return;
        }
        if self.current.len() + bytes.len() > self.max_len {
            let mut prefix = core::mem::take(&mut self.current);
            let missing = PREFIX_LEN.saturating_sub(prefix.len());
            prefix.extend_from_slice(&bytes[..missing.min(bytes.len())]);
            prefix.truncate(PREFIX_LEN);
            self.ready.push_back(Err(FrameError::Oversized { prefix }));
            self.discarding = true;
        } else {
            self.current.extend_from_slice(bytes);
        }
    }

    fn finish(&mut self) {
        if self.discarding {
            self.discarding = false;
        } else if !self.current.is_empty() {
            self.ready.push_back(Ok(core::mem::take(&mut self.current)));
        }
    }
}

/// Decodes one frame (as from [`FrameDecoder::next_frame`], no delimiter).
pub fn decode<T: DeserializeOwned>(frame: &[u8]) -> Result<T, DecodeError> {
    if frame.len() > MAX_FRAME_LEN {
        return Err(DecodeError::new(
            FrameFault::Oversized,
            format!("frame of {} bytes exceeds {MAX_FRAME_LEN}", frame.len()),
        ));
    }
    let bytes = cobs_decode(frame, false)
        .map_err(|detail| DecodeError::new(FrameFault::BadCobs, String::from(detail)))?;
    match postcard::take_from_bytes::<T>(&bytes) {
        Ok((message, [])) => Ok(message),
        Ok((_, rest)) => Err(DecodeError::new(
            FrameFault::BadMessage,
            format!("{} trailing bytes after the message", rest.len()),
        )),
        Err(error) => Err(DecodeError::new(FrameFault::BadMessage, format!("{error}"))),
    }
}

/// Decodes a frame from the host; on failure the error carries the request
/// id when the frame's start could be read as a request.
pub fn decode_host_message(frame: &[u8]) -> Result<HostMessage, DecodeError> {
    decode(frame).map_err(|mut error: DecodeError| {
        error.request_id = peek_request_id(frame);
        error
    })
}

/// The request id of a (possibly damaged or cut) host frame: the variant
/// index of `HostMessage::Request` followed by the id, read from as much of
/// the frame as decodes.
pub fn peek_request_id(frame: &[u8]) -> Option<RequestId> {
    let head = cobs_decode(&frame[..frame.len().min(PREFIX_LEN)], true).ok()?;
    let (variant, rest) = postcard::take_from_bytes::<u32>(&head).ok()?;
    if variant != 1 {
        return None;
    }
    let (id, _) = postcard::take_from_bytes::<RequestId>(rest).ok()?;
    Some(id)
}

/// COBS decoding of one frame without its delimiter. With `lenient`, a frame
/// cut short yields what decoded so far instead of an error.
pub fn cobs_decode(frame: &[u8], lenient: bool) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(frame.len());
    let mut index = 0;
    while index < frame.len() {
        let code = frame[index] as usize;
        if code == 0 {
            return Err("zero byte inside a frame");
        }
        index += 1;
        let run = code - 1;
        let available = frame.len() - index;
        if run > available {
            if lenient {
                out.extend_from_slice(&frame[index..]);
                return Ok(out);
            }
            return Err("frame ends inside a COBS block");
        }
        let block = &frame[index..index + run];
        if block.contains(&0) {
            return Err("zero byte inside a frame");
        }
        out.extend_from_slice(block);
        index += run;
        if code != 0xff && index < frame.len() {
            out.push(0);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cobs_matches_the_reference_examples() {
        // The examples of the COBS paper / Wikipedia, without delimiters.
        let cases: &[(&[u8], &[u8])] = &[
            (&[0x00], &[0x01, 0x01]),
            (&[0x00, 0x00], &[0x01, 0x01, 0x01]),
            (&[0x00, 0x11, 0x00], &[0x01, 0x02, 0x11, 0x01]),
            (&[0x11, 0x22, 0x00, 0x33], &[0x03, 0x11, 0x22, 0x02, 0x33]),
            (&[0x11, 0x22, 0x33, 0x44], &[0x05, 0x11, 0x22, 0x33, 0x44]),
            (&[0x11, 0x00, 0x00, 0x00], &[0x02, 0x11, 0x01, 0x01, 0x01]),
        ];
        for (plain, encoded) in cases {
            assert_eq!(cobs_decode(encoded, false).unwrap(), *plain);
        }
        // 254 non-zero bytes: one full block.
        let plain: Vec<u8> = (1..=254).collect();
        let mut encoded = vec![0xff];
        encoded.extend_from_slice(&plain);
        assert_eq!(cobs_decode(&encoded, false).unwrap(), plain);
    }

    #[test]
    fn cobs_rejects_cut_and_zero_frames() {
        assert!(cobs_decode(&[0x05, 0x11], false).is_err());
        assert_eq!(cobs_decode(&[0x05, 0x11], true).unwrap(), vec![0x11]);
        assert!(cobs_decode(&[0x03, 0x00, 0x11], false).is_err());
        assert!(cobs_decode(&[0x00], false).is_err());
    }
}
