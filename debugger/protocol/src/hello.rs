//! The handshake: both ends send a [`Hello`] first and compare.
//!
//! `Hello`'s shape is frozen for every protocol version, so a peer can always
//! read the other's version and schema hash and say precisely why they cannot
//! talk, instead of misreading the bytes that follow.

use alloc::format;
use alloc::string::{String, ToString};
use core::fmt;
use serde::{Deserialize, Serialize};

use crate::{PROTOCOL_VERSION, SCHEMA_HASH};

/// `"SPDB"`: marks a Spinel debugger peer.
pub const MAGIC: u32 = u32::from_be_bytes(*b"SPDB");

/// First message in each direction (frozen shape).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Hello {
    pub magic: u32,
    pub version: u16,
    /// [`crate::SCHEMA_HASH`] of the sender's build.
    pub schema_hash: u64,
    /// Free text naming the sender, e.g. `spinel-debug 0.1.0`.
    pub software: String,
}

impl Hello {
    /// This build's `Hello`.
    pub fn ours(software: &str) -> Self {
        Hello {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
            schema_hash: SCHEMA_HASH,
            software: software.to_string(),
        }
    }

    /// Whether a peer that sent `peer` can be spoken to by this build.
    pub fn check(&self, peer: &Hello) -> Result<(), HandshakeError> {
        if peer.magic != self.magic {
            return Err(HandshakeError::NotADebugger { magic: peer.magic });
        }
        if peer.version != self.version {
            return Err(HandshakeError::VersionMismatch {
                ours: self.version,
                theirs: peer.version,
                software: peer.software.clone(),
            });
        }
        if peer.schema_hash != self.schema_hash {
            return Err(HandshakeError::SchemaMismatch {
                version: self.version,
                ours: self.schema_hash,
                theirs: peer.schema_hash,
                software: peer.software.clone(),
            });
        }
        Ok(())
    }
}

/// Why two peers cannot talk.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum HandshakeError {
    NotADebugger {
        magic: u32,
    },
    VersionMismatch {
        ours: u16,
        theirs: u16,
        software: String,
    },
    SchemaMismatch {
        version: u16,
        ours: u64,
        theirs: u64,
        software: String,
    },
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::NotADebugger { magic } => write!(
                f,
                "the peer is not a Spinel debugger (magic {magic:#010x}, expected {MAGIC:#010x})"
            ),
            HandshakeError::VersionMismatch {
                ours,
                theirs,
                software,
            } => write!(
                f,
                "protocol version mismatch: we speak version {ours}, the peer ({software}) \
                 speaks version {theirs}; use a client and an agent built from the same Spinel tree"
            ),
            HandshakeError::SchemaMismatch {
                version,
                ours,
                theirs,
                software,
            } => write!(
                f,
                "message schema mismatch at protocol version {version}: ours is {ours:#018x}, \
                 the peer's ({software}) is {theirs:#018x}; the two were built from different \
                 sources, rebuild both from one Spinel tree"
            ),
        }
    }
}

impl HandshakeError {
    /// The text for an [`crate::AgentMessage::Refused`].
    pub fn refusal(&self) -> crate::Refusal {
        crate::Refusal {
            reason: format!("{self}"),
        }
    }
}
