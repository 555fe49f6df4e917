//! The one place in the kernel that picks the hardware abstraction layer.
//! Everything else in the kernel names the architecture only as [`Arch`],
//! and what depends on it only through the typed constants below, each
//! derived from the HAL's [`Architecture`] by an exhaustive match (a new
//! architecture fails to compile here, not to match a name at run time).

use spinel_abi::thread::RegisterLayout;
use spinel_hal_api::{Architecture, Platform};

#[cfg(target_arch = "x86_64")]
pub use spinel_hal_x86_64::X86_64 as Arch;

#[cfg(target_arch = "aarch64")]
pub use spinel_hal_aarch64::Aarch64 as Arch;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!(
    "Spinel runs on x86_64 and aarch64 only; build with `cargo xtask build --arch x86_64|aarch64`"
);

/// The address-space type of this architecture.
pub type AddressSpace = <Arch as Platform>::AddressSpace;
/// Saved user registers of one thread on this architecture.
pub type UserContext = <Arch as Platform>::UserContext;
/// Saved kernel registers of one kernel thread on this architecture.
pub type KernelContext = <Arch as Platform>::KernelContext;

/// The architecture the kernel was built for.
pub const ARCHITECTURE: Architecture = <Arch as Platform>::ARCH;

/// The register slots of this architecture (`spinel_abi::thread`), the
/// order in which the object layer keeps and handlers see a thread's
/// registers.
pub const REGISTER_LAYOUT: RegisterLayout = match ARCHITECTURE {
    Architecture::X86_64 => spinel_abi::thread::x86_64::LAYOUT,
    Architecture::Aarch64 => spinel_abi::thread::aarch64::LAYOUT,
};

/// The ELF machine of the programs the kernel loads.
pub const ELF_MACHINE: u16 = ARCHITECTURE.elf_machine();

// The HAL's `UserContext` numbers its registers in the ABI's order: checked
// when the kernel is built, not when it boots.
const _: () = assert!(
    same_names(
        <UserContext as spinel_hal_api::UserContext>::REGISTER_NAMES,
        REGISTER_LAYOUT.names
    ),
    "the HAL's register names differ from the ABI's layout"
);

/// Whether two lists of names are equal (`==` on slices is not `const`).
const fn same_names(a: &[&str], b: &[&str]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        let (x, y) = (a[i].as_bytes(), b[i].as_bytes());
        if x.len() != y.len() {
            return false;
        }
        let mut j = 0;
        while j < x.len() {
            if x[j] != y[j] {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}
