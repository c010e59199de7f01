//! The broker's sysctl reads (FreeBSD): a node the policy names, read by
//! its dotted name with the broker's authority, its bytes returned. The
//! decision is [`super::decide::sysctl_rule`]; writes have no request.
use super::decide::sysctl_rule;
use super::{Grant, Outcome, State};
use crate::proto::Request;

impl State {
    /// Reads the node `req.path()` into at most `req.out_len` bytes (none:
    /// the size only). As sysctl(3) does, a node larger than the buffer
    /// gives ENOMEM with the bytes that fit.
    pub(super) fn sysctl(&self, req: &Request) -> Outcome {
        let rule = match sysctl_rule(&self.policy, req.path()) {
            Ok(r) => r,
            Err(d) => return Outcome::deny(d),
        };
        read_node(req.path(), req.out_len as usize, Outcome::allowed(Grant::Rule(rule)))
    }
}

/// Reads the node by its MIB: the name's, or for a node that takes
/// numbers after its name (`kern.proc.pid.1`, which sysctlbyname(3)
/// cannot name) the longest named prefix's with those numbers appended.
/// Numbers only ever reach below that prefix, within the rule that
/// covered the whole name.
#[cfg(target_os = "freebsd")]
fn read_node(name: &[u8], cap: usize, out: Outcome) -> Outcome {
    let mib = match node_mib(name) {
        Ok(m) => m,
        Err(e) => return out.with_result(Err(e)),
    };
    let mut buf = vec![0u8; cap];
    let mut len = cap;
    let old = if cap == 0 {
        std::ptr::null_mut()
    } else {
        buf.as_mut_ptr().cast()
    };
    // SAFETY: `old` is null or `buf`, of `len` bytes; no new value.
    let r = unsafe { libc::sysctl(mib.as_ptr(), mib.len() as u32, old, &mut len, std::ptr::null(), 0) };
    let status = if r < 0 { super::errno() } else { 0 };
    buf.truncate(len.min(cap));
    Outcome {
        status,
        value: len as i64,
        data: buf,
        ..out
    }
}

#[cfg(target_os = "freebsd")]
fn node_mib(name: &[u8]) -> Result<Vec<libc::c_int>, i32> {
    let name = std::str::from_utf8(name).map_err(|_| libc::EINVAL)?;
    let parts: Vec<&str> = name.split('.').collect();
    let numeric = crate::policy::sysctl_node_args(&parts);
    let mut last = libc::ENOENT;
    // The whole name first: a named node may itself be a number (dev.em.0).
    let tries = std::iter::once(parts.len()).chain((numeric > 0).then_some(parts.len() - numeric));
    for named in tries {
        let Ok(prefix) = std::ffi::CString::new(parts[..named].join(".")) else {
            return Err(libc::EINVAL);
        };
        let mut mib = [0 as libc::c_int; CTL_MAXNAME];
        let mut len = mib.len();
        // SAFETY: a C string and a buffer of `len` ints.
        if unsafe { libc::sysctlnametomib(prefix.as_ptr(), mib.as_mut_ptr(), &mut len) } < 0 {
            last = super::errno();
            continue;
        }
        let mut v = mib[..len].to_vec();
        for p in &parts[named..] {
            v.push(p.parse().map_err(|_| libc::ENOENT)?);
        }
        if v.len() > CTL_MAXNAME {
            return Err(libc::EINVAL);
        }
        return Ok(v);
    }
    Err(last)
}

/// The kernel's limit on a MIB's length (sys/sysctl.h).
#[cfg(target_os = "freebsd")]
const CTL_MAXNAME: usize = 24;

/// Linux has no sysctl(2) (its nodes are files under /proc/sys, which a
/// file rule covers): an allowed request gets ENOSYS, as the call would.
#[cfg(not(target_os = "freebsd"))]
fn read_node(_name: &[u8], _cap: usize, out: Outcome) -> Outcome {
    out.with_result(Err(libc::ENOSYS))
}
