//! Spinel object layer (to be filled).
#![cfg_attr(not(test), no_std)]
