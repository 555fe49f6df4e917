//! Options of the VMO and VMAR calls (Zircon's values).

/// `vmar_map` / `vmar_protect`: the mapping may be read.
pub const VM_PERM_READ: u32 = 1 << 0;
/// The mapping may be written (never together with execute).
pub const VM_PERM_WRITE: u32 = 1 << 1;
/// The mapping may be executed.
pub const VM_PERM_EXECUTE: u32 = 1 << 2;
/// `vmar_map`: map at exactly `vmar_offset` (an address in the root VMAR,
/// which starts at 0) instead of wherever there is room.
pub const VM_SPECIFIC: u32 = 1 << 10;
/// Every `vmar_map` option Spinel knows.
pub const VM_MAP_OPTIONS: u32 = VM_PERM_READ | VM_PERM_WRITE | VM_PERM_EXECUTE | VM_SPECIFIC;
