//! The OS mechanisms behind one interface: which signal reports a
//! violation, how to read the violating call out of the signal frame, how
//! to make the interrupted call return a chosen result, and how to turn
//! confinement on.
use crate::record::Class;

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod linux;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(crate) use linux::*;

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(crate) mod landlock;

/// Landlock is Linux's: elsewhere there is nothing to compile or apply
/// (on FreeBSD capability mode is the kernel's own wall).
#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
pub(crate) mod landlock {
    use crate::sandbox::{LandlockChoice, LandlockStatus};
    pub(crate) struct Prepared;
    pub(crate) fn probe_abi() -> i32 {
        0
    }
    pub(crate) fn prepare(_: &crate::policy::Policy, _: i32, _: LandlockChoice) -> crate::error::Result<Prepared> {
        Ok(Prepared)
    }
    pub(crate) fn restrict(_: Prepared) -> crate::error::Result<LandlockStatus> {
        Ok(LandlockStatus::NotUsed)
    }
}

#[cfg(all(target_os = "freebsd", target_arch = "x86_64"))]
mod freebsd;
#[cfg(all(target_os = "freebsd", target_arch = "x86_64"))]
pub(crate) use freebsd::*;

#[cfg(not(all(any(target_os = "linux", target_os = "freebsd"), target_arch = "x86_64")))]
mod unsupported;
#[cfg(not(all(any(target_os = "linux", target_os = "freebsd"), target_arch = "x86_64")))]
pub(crate) use unsupported::*;

/// A violation as read from the signal frame.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Trap {
    /// The system call actually requested (indirect syscall(2) resolved).
    pub syscall: i64,
    /// Its arguments (shifted for indirect calls).
    pub args: [u64; 6],
    /// The error the call failed with (or would have, under emulation).
    pub errno: i32,
    pub class: Class,
    /// Address of the system call instruction.
    pub ip: u64,
    /// The interrupted frame's frame pointer (rbp), for the stack walk.
    pub fp: u64,
}
