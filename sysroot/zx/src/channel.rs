//! `channel_create`, `channel_write`, `channel_read`.

use crate::abi::object::CHANNEL_MAX_MSG_HANDLES;
use crate::handle::handle_type;
use crate::sys::{call, ptr, ptr_mut, status};
use crate::{Handle, HandleBased, HandleValue, Status, Syscall, reg};

handle_type!(
    /// One end of a channel.
    Channel,
    CHANNEL
);

/// Sizes of a message read (or, with BUFFER_TOO_SMALL, of the one waiting).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ReadSizes {
    pub bytes: u32,
    pub handles: u32,
}

/// A failed `channel_read`: the status and what the kernel wrote to
/// `actual_bytes` / `actual_handles` (for BUFFER_TOO_SMALL: the sizes of the
/// waiting message).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ChannelReadError {
    pub status: Status,
    pub needed: ReadSizes,
}

/// `channel_create(options, out0, out1)`.
pub fn channel_create(options: u32) -> Result<(Channel, Channel), Status> {
    let (mut out0, mut out1) = (0u32, 0u32);
    let (out0_ptr, out1_ptr) = (&raw mut out0, &raw mut out1);
    status(call(
        Syscall::ChannelCreate,
        &[u64::from(options), out0_ptr as u64, out1_ptr as u64],
    ))?;
    Ok((
        Channel::from_raw(HandleValue(out0)),
        Channel::from_raw(HandleValue(out1)),
    ))
}

/// `channel_write(handle, options, bytes, num_bytes, handles, num_handles)`.
/// The kernel consumes `handles` whatever the outcome.
pub fn channel_write(
    handle: HandleValue,
    options: u32,
    bytes: &[u8],
    handles: &[HandleValue],
) -> Result<(), Status> {
    let handles_ptr = if handles.is_empty() {
        0
    } else {
        handles.as_ptr() as u64
    };
    status(call(
        Syscall::ChannelWrite,
        &[
            reg(handle),
            u64::from(options),
            ptr(bytes),
            bytes.len() as u64,
            handles_ptr,
            handles.len() as u64,
        ],
    ))
}

/// `channel_read(handle, options, bytes, handles, num_bytes, num_handles,
/// actual_bytes, actual_handles)`. The handles read are raw values the
/// caller now owns.
pub fn channel_read(
    handle: HandleValue,
    options: u32,
    bytes: &mut [u8],
    handles: &mut [HandleValue],
) -> Result<ReadSizes, ChannelReadError> {
    let (mut actual_bytes, mut actual_handles) = (0u32, 0u32);
    let (bytes_out, handles_out) = (&raw mut actual_bytes, &raw mut actual_handles);
    let num_bytes = bytes.len() as u64;
    let num_handles = handles.len() as u64;
    let handles_ptr = if handles.is_empty() {
        0
    } else {
        handles.as_mut_ptr() as u64
    };
    let result = status(call(
        Syscall::ChannelRead,
        &[
            reg(handle),
            u64::from(options),
            ptr_mut(bytes),
            handles_ptr,
            num_bytes,
            num_handles,
            bytes_out as u64,
            handles_out as u64,
        ],
    ));
    let sizes = ReadSizes {
        bytes: actual_bytes,
        handles: actual_handles,
    };
    match result {
        Ok(()) => Ok(sizes),
        Err(status) => Err(ChannelReadError {
            status,
            needed: sizes,
        }),
    }
}

impl Channel {
    /// A connected pair.
    pub fn create() -> Result<(Channel, Channel), Status> {
        channel_create(0)
    }

    /// Write `bytes` and move `handles` (consumed even on failure, as the
    /// kernel does).
    pub fn write<const N: usize>(&self, bytes: &[u8], handles: [Handle; N]) -> Result<(), Status> {
        let values = handles.map(Handle::into_raw);
        channel_write(self.raw(), 0, bytes, &values)
    }

    /// Read one message into `bytes` and raw handle slots.
    pub fn read_raw(
        &self,
        bytes: &mut [u8],
        handles: &mut [HandleValue],
    ) -> Result<ReadSizes, ChannelReadError> {
        channel_read(self.raw(), 0, bytes, handles)
    }

    /// Read one message; its handles land owned in `handles` (whose
    /// previous contents are dropped; at most 64 are used).
    pub fn read(
        &self,
        bytes: &mut [u8],
        handles: &mut [Handle],
    ) -> Result<ReadSizes, ChannelReadError> {
        let mut values = [HandleValue::INVALID; CHANNEL_MAX_MSG_HANDLES as usize];
        let n = handles.len().min(values.len());
        let sizes = channel_read(self.raw(), 0, bytes, &mut values[..n])?;
        for (slot, value) in handles.iter_mut().zip(&values[..sizes.handles as usize]) {
            *slot = Handle::from_raw(*value);
        }
        Ok(sizes)
    }
}
