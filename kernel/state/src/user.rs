//! All user memory, through one typed module.
//!
//! Rules kept here:
//! - **A user address is not a pointer.** System-call arguments that are
//!   addresses arrive as [`UserInPtr`] (the kernel reads), [`UserOutPtr`]
//!   (the kernel writes) and, with a length, [`UserInSlice`] /
//!   [`UserOutSlice`]. None of them can be dereferenced: their only way to
//!   memory is the caller's [`UserMemory`], which copies through its
//!   `VmSpace`, checking every byte against the caller's mappings. A bad
//!   address is `INVALID_ARGS`, never a kernel fault.
//! - **Direction is in the type.** An input pointer cannot be written and an
//!   output pointer cannot be read, so a decoder cannot leak kernel bytes
//!   through an argument meant for input, nor trust memory meant for output.
//! - **Values cross as bytes.** [`UserValue`] types (integers, handle
//!   values, port packets, policies) convert to and from little-endian
//!   bytes without `unsafe`; a `usize` crosses as 8 bytes on every arch.
//! - **Zero cost.** The wrappers are a `u64` (and a length) and every method
//!   is `#[inline]`: nothing allocates unless the caller asks for a `Vec`.
//! - **Nothing to copy is nothing to check.** A zero-length copy succeeds
//!   whatever the address, as in Zircon; a process with no address space yet
//!   has nothing mapped, so any other copy is `INVALID_ARGS`.

use alloc::vec::Vec;
use core::marker::PhantomData;
use spinel_abi::policy::PolicyBasic;
use spinel_abi::{HandleValue, Koid, PortPacket, Status};
use spinel_hal_api::AddressSpace;
use spinel_vm::{Access, VmSpace};

/// A type an argument register decodes to.
pub trait FromRegister {
    fn from_register(value: u64) -> Self;
}

impl FromRegister for u32 {
    /// The register's low 32 bits, as the C ABI passes a `uint32_t`.
    #[inline(always)]
    fn from_register(value: u64) -> Self {
        value as u32
    }
}

impl FromRegister for u64 {
    #[inline(always)]
    fn from_register(value: u64) -> Self {
        value
    }
}

impl FromRegister for i64 {
    #[inline(always)]
    fn from_register(value: u64) -> Self {
        value as i64
    }
}

impl FromRegister for usize {
    #[inline(always)]
    fn from_register(value: u64) -> Self {
        value as usize
    }
}

impl FromRegister for HandleValue {
    #[inline(always)]
    fn from_register(value: u64) -> Self {
        HandleValue(value as u32)
    }
}

/// A value that crosses the user boundary as `SIZE` little-endian bytes.
pub trait UserValue: Copy {
    const SIZE: usize;
    type Bytes: AsRef<[u8]> + AsMut<[u8]>;
    fn zeroed() -> Self::Bytes;
    fn from_bytes(bytes: &Self::Bytes) -> Self;
    fn to_bytes(&self) -> Self::Bytes;
}

macro_rules! integer_user_value {
    ($($type:ty),*) => {$(
        impl UserValue for $type {
            const SIZE: usize = core::mem::size_of::<$type>();
            type Bytes = [u8; core::mem::size_of::<$type>()];
            #[inline(always)]
            fn zeroed() -> Self::Bytes {
                [0; core::mem::size_of::<$type>()]
            }
            #[inline(always)]
            fn from_bytes(bytes: &Self::Bytes) -> Self {
                <$type>::from_le_bytes(*bytes)
            }
            #[inline(always)]
            fn to_bytes(&self) -> Self::Bytes {
                self.to_le_bytes()
            }
        }
    )*};
}

integer_user_value!(u8, u32, u64);

/// A `usize` is 8 bytes in user memory on every arch (the ABI's `size_t`).
impl UserValue for usize {
    const SIZE: usize = 8;
    type Bytes = [u8; 8];
    #[inline(always)]
    fn zeroed() -> Self::Bytes {
        [0; 8]
    }
    #[inline(always)]
    fn from_bytes(bytes: &Self::Bytes) -> Self {
        u64::from_le_bytes(*bytes) as usize
    }
    #[inline(always)]
    fn to_bytes(&self) -> Self::Bytes {
        (*self as u64).to_le_bytes()
    }
}

impl UserValue for HandleValue {
    const SIZE: usize = 4;
    type Bytes = [u8; 4];
    #[inline(always)]
    fn zeroed() -> Self::Bytes {
        [0; 4]
    }
    #[inline(always)]
    fn from_bytes(bytes: &Self::Bytes) -> Self {
        HandleValue(u32::from_le_bytes(*bytes))
    }
    #[inline(always)]
    fn to_bytes(&self) -> Self::Bytes {
        self.raw().to_le_bytes()
    }
}

/// The ABI's fixed layouts, which convert themselves to and from their
/// little-endian bytes (`SIZE`, `from_bytes`, `to_bytes`).
macro_rules! layout_user_value {
    ($($layout:ty),*) => {$(
        impl UserValue for $layout {
            const SIZE: usize = <$layout>::SIZE;
            type Bytes = [u8; <$layout>::SIZE];
            #[inline(always)]
            fn zeroed() -> Self::Bytes {
                [0; <$layout>::SIZE]
            }
            #[inline(always)]
            fn from_bytes(bytes: &Self::Bytes) -> Self {
                <$layout>::from_bytes(bytes)
            }
            #[inline(always)]
            fn to_bytes(&self) -> Self::Bytes {
                <$layout>::to_bytes(self)
            }
        }
    )*};
}

layout_user_value!(PortPacket, PolicyBasic);

/// The calling process's memory: the only way to the bytes behind user
/// pointers. `None` when the process has no address space yet.
pub struct UserMemory<'a, A: AddressSpace> {
    space: Option<&'a VmSpace<A>>,
}

// Derives would ask `A: Clone`; the view is a shared reference.
impl<A: AddressSpace> Clone for UserMemory<'_, A> {
    #[inline(always)]
    fn clone(&self) -> Self {
        *self
    }
}
impl<A: AddressSpace> Copy for UserMemory<'_, A> {}

impl<'a, A: AddressSpace> UserMemory<'a, A> {
    #[inline(always)]
    pub fn new(space: Option<&'a VmSpace<A>>) -> Self {
        UserMemory { space }
    }

    #[inline(always)]
    fn space(self) -> Result<&'a VmSpace<A>, Status> {
        self.space.ok_or(Status::INVALID_ARGS)
    }

    #[inline]
    fn read(self, address: u64, out: &mut [u8]) -> Result<(), Status> {
        if out.is_empty() {
            return Ok(());
        }
        self.space()?.read(address, out)
    }

    #[inline]
    fn write(self, address: u64, data: &[u8]) -> Result<(), Status> {
        if data.is_empty() {
            return Ok(());
        }
        self.space()?.write(address, data, Access::Write)
    }

    #[inline]
    fn check_write(self, address: u64, len: usize) -> Result<(), Status> {
        if len == 0 {
            return Ok(());
        }
        self.space()?.check(address, len, Access::Write)
    }
}

/// The address of a `T` the kernel reads (`*const T` in the table).
pub struct UserInPtr<T> {
    address: u64,
    _value: PhantomData<fn() -> T>,
}

/// The address of a `T` the kernel writes (`*mut T` in the table).
pub struct UserOutPtr<T> {
    address: u64,
    _value: PhantomData<fn(T)>,
}

/// `len` consecutive `T`s the kernel reads.
#[derive(Clone, Copy)]
pub struct UserInSlice<T> {
    start: UserInPtr<T>,
    len: usize,
}

/// Room for `len` consecutive `T`s the kernel writes.
#[derive(Clone, Copy)]
pub struct UserOutSlice<T> {
    start: UserOutPtr<T>,
    len: usize,
}

// Derives would ask `T: Clone`; the pointers are plain addresses.
impl<T> Clone for UserInPtr<T> {
    #[inline(always)]
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for UserInPtr<T> {}
impl<T> Clone for UserOutPtr<T> {
    #[inline(always)]
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for UserOutPtr<T> {}

impl<T> core::fmt::Debug for UserInPtr<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "in {:#x}", self.address)
    }
}

impl<T> core::fmt::Debug for UserOutPtr<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "out {:#x}", self.address)
    }
}

impl<T> FromRegister for UserInPtr<T> {
    #[inline(always)]
    fn from_register(address: u64) -> Self {
        UserInPtr {
            address,
            _value: PhantomData,
        }
    }
}

impl<T> FromRegister for UserOutPtr<T> {
    #[inline(always)]
    fn from_register(address: u64) -> Self {
        UserOutPtr {
            address,
            _value: PhantomData,
        }
    }
}

/// Bytes of `count` values of `size` bytes (saturating: a huge count is
/// refused by the copy, not wrapped into a small one).
#[inline(always)]
fn byte_len(count: usize, size: usize) -> usize {
    count.saturating_mul(size)
}

impl<T: UserValue> UserInPtr<T> {
    /// The `T` at this address.
    #[inline]
    pub fn read<A: AddressSpace>(self, memory: UserMemory<'_, A>) -> Result<T, Status> {
        let mut bytes = T::zeroed();
        memory
            .space()?
            .read(self.address, bytes.as_mut())
            .map(|()| T::from_bytes(&bytes))
    }

    /// `len` values from this address on.
    #[inline(always)]
    pub fn slice(self, len: usize) -> UserInSlice<T> {
        UserInSlice { start: self, len }
    }
}

impl<T: UserValue> UserOutPtr<T> {
    /// The pointer, unless it is null (Zircon's optional outputs).
    #[inline(always)]
    pub fn optional(self) -> Option<Self> {
        (self.address != 0).then_some(self)
    }

    /// Check, before the call acts, that the `T` can be written.
    #[inline]
    pub fn check<A: AddressSpace>(self, memory: UserMemory<'_, A>) -> Result<(), Status> {
        memory.check_write(self.address, T::SIZE)
    }

    /// Write `value` here.
    #[inline]
    pub fn write<A: AddressSpace>(self, memory: UserMemory<'_, A>, value: T) -> Result<(), Status> {
        memory.write(self.address, value.to_bytes().as_ref())
    }

    /// Room for `len` values from this address on.
    #[inline(always)]
    pub fn slice(self, len: usize) -> UserOutSlice<T> {
        UserOutSlice { start: self, len }
    }
}

impl<T: UserValue> UserInSlice<T> {
    #[inline(always)]
    pub fn len(self) -> usize {
        self.len
    }

    #[inline(always)]
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    /// Every value, into a new vector.
    pub fn read_all<A: AddressSpace>(self, memory: UserMemory<'_, A>) -> Result<Vec<T>, Status> {
        let bytes = self.bytes().read_to_vec(memory)?;
        Ok(bytes
            .chunks_exact(T::SIZE)
            .map(|chunk| {
                let mut value = T::zeroed();
                value.as_mut().copy_from_slice(chunk);
                T::from_bytes(&value)
            })
            .collect())
    }

    /// The same memory as bytes.
    #[inline(always)]
    fn bytes(self) -> UserInSlice<u8> {
        UserInSlice {
            start: UserInPtr::from_register(self.start.address),
            len: byte_len(self.len, T::SIZE),
        }
    }
}

impl UserInSlice<u8> {
    /// The bytes, into a new vector (nothing allocated for none).
    pub fn read_to_vec<A: AddressSpace>(
        self,
        memory: UserMemory<'_, A>,
    ) -> Result<Vec<u8>, Status> {
        if self.len == 0 {
            return Ok(Vec::new());
        }
        let space = memory.space()?;
        let mut buffer = Vec::new();
        buffer
            .try_reserve_exact(self.len)
            .map_err(|_| Status::NO_MEMORY)?;
        buffer.resize(self.len, 0);
        space.read(self.start.address, &mut buffer)?;
        Ok(buffer)
    }

    /// The bytes, given to `use_them` from a buffer on the stack when they
    /// are few (a register set, a property): [`Self::read_to_vec`] without
    /// the allocation.
    #[inline]
    pub fn with_bytes<A: AddressSpace, R>(
        self,
        memory: UserMemory<'_, A>,
        use_them: impl FnOnce(&[u8]) -> Result<R, Status>,
    ) -> Result<R, Status> {
        const TINY: usize = 32;
        const SMALL: usize = 288;
        let len = self.len;
        if len == 0 {
            return use_them(&[]);
        }
        let space = memory.space()?;
        if len <= TINY {
            let mut buffer = [0u8; TINY];
            space.read(self.start.address, &mut buffer[..len])?;
            use_them(&buffer[..len])
        } else if len <= SMALL {
            let mut buffer = [0u8; SMALL];
            space.read(self.start.address, &mut buffer[..len])?;
            use_them(&buffer[..len])
        } else {
            let data = self.read_to_vec(memory)?;
            use_them(&data)
        }
    }

    /// The bytes into `out`, which holds exactly as many.
    #[inline]
    pub fn read_into<A: AddressSpace>(
        self,
        memory: UserMemory<'_, A>,
        out: &mut [u8],
    ) -> Result<(), Status> {
        debug_assert_eq!(out.len(), self.len);
        memory.read(self.start.address, out)
    }

    /// The `len` bytes `skip` bytes in (an address past the top of memory
    /// is `INVALID_ARGS`).
    #[inline]
    pub fn part(self, skip: usize, len: usize) -> Result<Self, Status> {
        Ok(UserInPtr::from_register(skipped(self.start.address, skip)?).slice(len))
    }
}

impl<T: UserValue> UserOutSlice<T> {
    #[inline(always)]
    pub fn len(self) -> usize {
        self.len
    }

    #[inline(always)]
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    /// Check, before the call acts, that all of it can be written.
    #[inline]
    pub fn check<A: AddressSpace>(self, memory: UserMemory<'_, A>) -> Result<(), Status> {
        memory.check_write(self.start.address, byte_len(self.len, T::SIZE))
    }

    /// Write `values` at the start (no more than fit).
    pub fn write_values<A: AddressSpace>(
        self,
        memory: UserMemory<'_, A>,
        values: &[T],
    ) -> Result<(), Status> {
        const SMALL: usize = 64;
        debug_assert!(values.len() <= self.len);
        let len = byte_len(values.len(), T::SIZE);
        let mut small = [0u8; SMALL];
        let mut large;
        let bytes: &mut [u8] = if len <= SMALL {
            &mut small[..len]
        } else {
            large = alloc::vec![0u8; len];
            &mut large
        };
        for (chunk, value) in bytes.chunks_exact_mut(T::SIZE).zip(values) {
            chunk.copy_from_slice(value.to_bytes().as_ref());
        }
        memory.write(self.start.address, bytes)
    }
}

impl UserOutSlice<u8> {
    /// Write `data` at the start (no more than fit).
    #[inline]
    pub fn write<A: AddressSpace>(
        self,
        memory: UserMemory<'_, A>,
        data: &[u8],
    ) -> Result<(), Status> {
        debug_assert!(data.len() <= self.len);
        memory.write(self.start.address, data)
    }

    /// The `len` bytes `skip` bytes in (an address past the top of memory
    /// is `INVALID_ARGS`).
    #[inline]
    pub fn part(self, skip: usize, len: usize) -> Result<Self, Status> {
        Ok(UserOutPtr::from_register(skipped(self.start.address, skip)?).slice(len))
    }
}

/// The process memory the object layer's `process_read_memory` /
/// `process_write_memory` reach: any process's space, debugger-style (writes
/// go through read-only mappings so breakpoints can be planted).
pub(crate) struct Memories<'a, A: AddressSpace>(
    pub &'a spinel_object::IntMap<spinel_vm::VmSpace<A>>,
);

impl<A: AddressSpace> spinel_object::ProcessMemory for Memories<'_, A> {
    fn read(&mut self, process: Koid, address: u64, buffer: &mut [u8]) -> Result<usize, Status> {
        // A process that never mapped anything has no space yet: nothing
        // is mapped, as for any unmapped address.
        let space = self.0.get(&process).ok_or(Status::NO_MEMORY)?;
        // Read as much as is mapped from `address` on, like Zircon: a short
        // read reports the bytes copied; nothing mapped is NO_MEMORY.
        let mut done = 0;
        while done < buffer.len() {
            let at = address
                .checked_add(done as u64)
                .ok_or(Status::INVALID_ARGS)?;
            let Some(mapping) = space.find(at) else { break };
            let chunk = ((mapping.start + mapping.len - at) as usize).min(buffer.len() - done);
            space.read(at, &mut buffer[done..done + chunk])?;
            done += chunk;
        }
        if done == 0 {
            Err(Status::NO_MEMORY)
        } else {
            Ok(done)
        }
    }

    fn write(&mut self, process: Koid, address: u64, data: &[u8]) -> Result<usize, Status> {
        // A process that never mapped anything has no space yet: nothing
        // is mapped, as for any unmapped address.
        let space = self.0.get(&process).ok_or(Status::NO_MEMORY)?;
        let mut done = 0;
        while done < data.len() {
            let at = address
                .checked_add(done as u64)
                .ok_or(Status::INVALID_ARGS)?;
            let Some(mapping) = space.find(at) else { break };
            let chunk = ((mapping.start + mapping.len - at) as usize).min(data.len() - done);
            space.write(at, &data[done..done + chunk], Access::ForceWrite)?;
            done += chunk;
        }
        if done == 0 {
            Err(Status::NO_MEMORY)
        } else {
            Ok(done)
        }
    }
}

/// `address + skip`, or `INVALID_ARGS` past the top of memory.
#[inline]
fn skipped(address: u64, skip: usize) -> Result<u64, Status> {
    address.checked_add(skip as u64).ok_or(Status::INVALID_ARGS)
}
