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
    use super::{LandlockChoice, LandlockStatus};
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
    /// The interrupted thread's stack pointer (rsp), where the stack
    /// scan starts.
    pub sp: u64,
}

/// Whether `enter()` must have Landlock (Linux).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LandlockChoice {
    /// Refuse to enter without Landlock ABI 6 (the default).
    Required,
    /// Use what the kernel has, nothing if it has none.
    IfAvailable,
    /// Do not use Landlock.
    Off,
}

/// What the kernel's Landlock LSM enforces for this sandbox (Linux; see
/// [`crate::Sandbox::landlock`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LandlockStatus {
    /// The policy's filesystem rules, its TCP ports and the signal and
    /// abstract-socket scopes are enforced by the kernel for every thread
    /// of the process, those running at `enter()` included, and
    /// everything they start afterwards (Landlock ABI 8+: at once, with
    /// TSYNC; before: each running thread restricted itself in a signal
    /// handler, in a Landlock domain of its own with the same rules).
    Enforced {
        /// The kernel's Landlock ABI.
        abi: i32,
        /// Whether threads that already ran at `enter()` are restricted
        /// too: always true since `enter()` fails otherwise; kept for
        /// callers that match on it.
        all_threads: bool,
    },
    /// An older Landlock enforces part of it (entered with
    /// [`crate::Builder::allow_without_landlock`]).
    Partial {
        /// The kernel's Landlock ABI.
        abi: i32,
    },
    /// The kernel has no Landlock (entered with
    /// [`crate::Builder::allow_without_landlock`]): only the seccomp filter and
    /// the broker stand between the program and the rest of the system.
    NotEnforced {
        /// The kernel's Landlock ABI (0: none).
        abi: i32,
    },
    /// Landlock was not asked for ([`crate::Builder::without_landlock`]), or the
    /// system is not Linux.
    NotUsed,
}
