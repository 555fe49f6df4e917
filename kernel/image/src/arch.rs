//! The one place in the kernel that picks the hardware abstraction layer.
//! Everything else in the kernel names the architecture only as [`Arch`].

#[cfg(target_arch = "x86_64")]
pub use spinel_hal_x86_64::X86_64 as Arch;

#[cfg(target_arch = "aarch64")]
pub use spinel_hal_aarch64::Aarch64 as Arch;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!(
    "Spinel runs on x86_64 and aarch64 only; build with `cargo xtask build --arch x86_64|aarch64`"
);

/// The address-space type of this architecture.
pub type AddressSpace = <Arch as spinel_hal_api::Platform>::AddressSpace;
/// Saved user registers of one thread on this architecture.
pub type UserContext = <Arch as spinel_hal_api::Platform>::UserContext;
/// Saved kernel registers of one kernel thread on this architecture.
pub type KernelContext = <Arch as spinel_hal_api::Platform>::KernelContext;
