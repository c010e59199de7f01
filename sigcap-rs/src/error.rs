//! Errors returned by the setup API (never by the signal handler, which
//! reports through return values and records instead).
use std::path::PathBuf;

/// Everything that can go wrong before the process is confined.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The policy text or a builder rule is malformed.
    #[error("invalid policy: {0}")]
    Policy(String),
    /// A policy file could not be read.
    #[error("cannot read policy file {path}: {source}")]
    PolicyFile {
        /// The file that was asked for.
        path: PathBuf,
        /// Why reading it failed.
        source: std::io::Error,
    },
    /// A filesystem root named by the policy cannot be opened by the broker.
    #[error("cannot open policy root {path}: {source}")]
    Root {
        /// The root as written in the policy.
        path: PathBuf,
        /// Why opening it failed.
        source: std::io::Error,
    },
    /// No backend works on this system (wrong OS or architecture, or the
    /// kernel refused to enable trapping).
    #[error("no usable sigcap backend: {0}")]
    Unsupported(String),
    /// Linux: the kernel has no Landlock, or one too old to enforce the
    /// policy's rules, and the builder did not opt into running without it
    /// ([`Builder::allow_without_landlock`](crate::Builder::allow_without_landlock)).
    #[error(
        "Landlock ABI {abi} is missing or too old (sigcap needs ABI {needed}, Linux 6.12+): the kernel would not \
         enforce the policy, only the seccomp emulation and the broker would; call \
         Builder::allow_without_landlock() to enter anyway"
    )]
    Landlock {
        /// The ABI the kernel reports (0: no Landlock, or disabled at boot).
        abi: i32,
        /// The ABI sigcap needs.
        needed: i32,
    },
    /// [`Builder::attach`](crate::Builder::attach) found no usable
    /// `SIGCAP_ATTACH`: this image was not started by a brokered exec.
    #[error("cannot attach to the sandbox: {0}")]
    Attach(String),
    /// `enter()` was already called in this process; capability mode is
    /// process-wide and cannot be entered twice with different policies.
    #[error("this process has already entered a sigcap sandbox")]
    AlreadyEntered,
    /// A system call made during setup failed.
    #[error("{what}: {source}")]
    Sys {
        /// The step that failed.
        what: &'static str,
        /// The error the kernel returned.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn last_os(what: &'static str) -> Self {
        Error::Sys {
            what,
            source: std::io::Error::last_os_error(),
        }
    }
}

/// Result alias for the setup API.
pub type Result<T> = std::result::Result<T, Error>;
