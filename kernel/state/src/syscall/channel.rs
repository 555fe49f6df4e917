//! channel_create, channel_write, channel_read: messages of at most
//! CHANNEL_MAX_MSG_BYTES bytes and CHANNEL_MAX_MSG_HANDLES handles, through
//! buffers on the stack when they are small (the usual case).
//!
//! A read checks every output (bytes, handles, the optional sizes) before
//! it takes the message; when the buffers are too small it still reports
//! the sizes needed (BUFFER_TOO_SMALL), as Zircon does.

use super::{Caller, OK, args, buffer};
use crate::user::UserMemory;
use crate::{KernelState, Outcome};
use spinel_abi::object::{CHANNEL_MAX_MSG_BYTES, CHANNEL_MAX_MSG_HANDLES};
use spinel_abi::{HandleValue, Status};
use spinel_hal_api::AddressSpace;

/// Channel reads up to this size (bytes, handles) use buffers on the stack.
const SMALL_BYTES: usize = 128;
const SMALL_HANDLES: usize = 8;

impl<A: AddressSpace> KernelState<A> {
    pub(super) fn channel_create(
        &mut self,
        caller: Caller,
        args: args::ChannelCreate,
    ) -> Result<Outcome, Status> {
        args.out0.check(self.user(caller))?;
        args.out1.check(self.user(caller))?;
        let (end0, end1) = self
            .objects
            .sys_channel_create(caller.thread, args.options)?;
        args.out0.write(self.user(caller), end0)?;
        args.out1.write(self.user(caller), end1)?;
        OK
    }

    /// A message over the limits is OUT_OF_RANGE before anything is read.
    #[inline]
    pub(super) fn channel_write(
        &mut self,
        caller: Caller,
        args: args::ChannelWrite,
    ) -> Result<Outcome, Status> {
        if args.num_bytes > CHANNEL_MAX_MSG_BYTES || args.num_handles > CHANNEL_MAX_MSG_HANDLES {
            return Err(Status::OUT_OF_RANGE);
        }
        let user = UserMemory::new(self.spaces.get(&caller.process));
        let handles = args
            .handles
            .slice(args.num_handles as usize)
            .read_all(user)?;
        let objects = &mut self.objects;
        args.bytes
            .slice(args.num_bytes as usize)
            .with_bytes(user, |bytes| {
                objects.sys_channel_write(caller.thread, args.handle, args.options, bytes, &handles)
            })?;
        OK
    }

    /// Larger buffers than a message can fill are as good as the largest.
    #[inline]
    pub(super) fn channel_read(
        &mut self,
        caller: Caller,
        args: args::ChannelRead,
    ) -> Result<Outcome, Status> {
        // Small reads (the usual case) use buffers on the stack.
        let byte_count = args.num_bytes.min(CHANNEL_MAX_MSG_BYTES) as usize;
        let mut small_bytes = [0u8; SMALL_BYTES];
        let mut large_bytes;
        let bytes: &mut [u8] = if byte_count <= SMALL_BYTES {
            &mut small_bytes[..byte_count]
        } else {
            large_bytes = buffer(byte_count, CHANNEL_MAX_MSG_BYTES as usize)?;
            &mut large_bytes
        };
        let handle_count = args.num_handles.min(CHANNEL_MAX_MSG_HANDLES) as usize;
        let mut small_handles = [HandleValue::INVALID; SMALL_HANDLES];
        let mut large_handles;
        let handles: &mut [HandleValue] = if handle_count <= SMALL_HANDLES {
            &mut small_handles[..handle_count]
        } else {
            large_handles = alloc::vec![HandleValue::INVALID; handle_count];
            &mut large_handles
        };
        let user = UserMemory::new(self.spaces.get(&caller.process));
        let (bytes_out, handles_out) = (
            args.bytes.slice(bytes.len()),
            args.handles.slice(handles.len()),
        );
        bytes_out.check(user)?;
        handles_out.check(user)?;
        let (actual_bytes, actual_handles) =
            (args.actual_bytes.optional(), args.actual_handles.optional());
        for actual in [actual_bytes, actual_handles].into_iter().flatten() {
            actual.check(user)?;
        }
        let write_sizes = |bytes: usize, handles: usize| -> Result<(), Status> {
            if let Some(actual) = actual_bytes {
                actual.write(user, bytes as u32)?;
            }
            if let Some(actual) = actual_handles {
                actual.write(user, handles as u32)?;
            }
            Ok(())
        };
        match self.objects.sys_channel_read(
            caller.thread,
            args.handle,
            args.options,
            bytes,
            handles,
        ) {
            Ok(sizes) => {
                bytes_out.write(user, &bytes[..sizes.bytes])?;
                handles_out.write_values(user, &handles[..sizes.handles])?;
                write_sizes(sizes.bytes, sizes.handles)?;
                OK
            }
            Err(error) => {
                if error.status == Status::BUFFER_TOO_SMALL {
                    write_sizes(error.needed.bytes, error.needed.handles)?;
                }
                Err(error.status)
            }
        }
    }
}
