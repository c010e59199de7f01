//! Targets without a backend: everything type-checks, `enter()` fails.
use super::Trap;
use crate::error::{Error, Result};
use crate::record::BackendKind;

pub(crate) const CAPMODE_ERRNO: i32 = libc::EPERM;

pub(crate) fn signal_for(_kind: BackendKind) -> libc::c_int {
    libc::SIGSYS
}

pub(crate) struct Prepared;

pub(crate) fn prepare(_requested: Option<BackendKind>) -> Result<(BackendKind, Prepared)> {
    Err(Error::Unsupported(format!(
        "no backend for {}-{}: sigcap supports x86_64 FreeBSD and Linux",
        std::env::consts::ARCH,
        std::env::consts::OS
    )))
}

pub(crate) fn protect_broker(_p: &mut Prepared, _broker: libc::pid_t) -> Result<()> {
    Ok(())
}

pub(crate) fn confine(_kind: BackendKind, _p: Prepared) -> Result<()> {
    unreachable!("prepare() never succeeds here")
}

pub(crate) unsafe fn classify(
    _kind: BackendKind,
    _info: *const libc::siginfo_t,
    _uc: *mut libc::c_void,
) -> Option<Trap> {
    None
}

pub(crate) unsafe fn set_result(_uc: *mut libc::c_void, _result: i64) {}

pub(crate) fn gettid() -> i64 {
    0
}

/// Violations answered without the broker: none here.
pub(crate) fn answer_locally(_trap: &super::Trap) -> Option<i64> {
    None
}

/// Trapped calls that are no violation (Linux's fstat forms): none here.
pub(crate) fn transparent(_trap: &super::Trap, _held: &[libc::c_int]) -> Option<i64> {
    None
}

/// Every trapped call is a namespace call of the emulation: the broker
/// decides them all (see `crate::caprights::should_broker`).
pub(crate) fn should_broker(_: crate::record::BackendKind, _: &super::Trap, _: &crate::syscall::Call) -> bool {
    true
}
