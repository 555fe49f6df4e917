//! DWARF symbolization and CFI unwinding (work in progress).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
