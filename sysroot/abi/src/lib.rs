//! Spinel ABI (to be filled).
#![no_std]
