//! # sigcap
//!
//! Keep ordinary code working inside a capability sandbox.
//!
//! In FreeBSD's capability mode (`cap_enter(2)`) every call that reaches a
//! global namespace — opening a path, connect, bind — fails. `sigcap`
//! turns each such failure into a signal (SIGCAP on kernels with the
//! project's patch series, SIGTRAP/TRAP_CAP on stock FreeBSD, SIGSYS from a
//! seccomp filter on Linux), decodes the call in the handler, and asks a
//! broker process that kept its authority to perform it under an explicit
//! deny-by-default [`Policy`]. The interrupted call then returns the
//! broker's result — a descriptor, a value, or the original error — and
//! the program never notices.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = sigcap::Sandbox::builder()
//!     .read_beneath("/etc/ssl")
//!     .write_beneath("/var/tmp/app")
//!     .connect("127.0.0.1:8080")
//!     .mode(sigcap::Mode::Fallback)
//!     .enter()?; // starts the broker, installs the handler, enters capability mode
//! let pem = std::fs::read("/etc/ssl/cert.pem")?; // works: brokered
//! let err = std::fs::read("/etc/passwd"); // fails with the original error
//! assert!(err.is_err());
//! for v in sandbox.take_violations() {
//!     eprintln!("{v}");
//! }
//! # Ok(()) }
//! ```
//!
//! ## Layers
//! - [`policy`]: what is allowed (pure data, TOML form).
//! - `backend`: per-OS signal, frame decoding and confinement.
//! - `runtime`: the state the handler reads, published at `enter()`.
//! - `handler`: the async-signal-safe violation handler.
//! - `client` / `proto`: the fixed-size request to the broker and back.
//! - `cwd`: the working directory; relative paths made absolute in the
//!   handler (FreeBSD: an emulated directory, see [`current_dir`]).
//! - `broker`: the privileged process that checks and performs requests.
//! - [`record`]: structured violation records and their JSON form.
//!
//! ## Threads
//! `enter()` may run while other threads do: the broker is a fresh exec
//! of the program's image (a constructor of this crate runs it before
//! `main` there), so no lock held by another thread is copied into it,
//! and on Linux every running thread is put under Landlock too (see
//! [`LandlockStatus`]).
//!
//! ## Across fork and exec
//! A forked child inherits the handler, the confinement and the control
//! socket; each request carries its own reply socket, so parent and child
//! share the broker safely, and the broker lives until the last of them
//! exits. Records are per process. After exec the handler is gone while
//! confinement stays: on Linux exec itself is refused (sigcap-run starts
//! the images a program execs itself, confined by [`ImageConfinement`]); on
//! FreeBSD capability mode refuses exec by path.
#![warn(missing_docs)]

mod backend;
mod beneath;
mod broker;
mod caprights;
mod client;
mod codemap;
mod cwd;
mod decide;
pub mod error;
mod exec;
mod fast;
mod fdranges;
mod handler;
mod image;
pub mod policy;
#[allow(missing_docs)]
mod proto;
pub mod record;
mod runtime;
mod sandbox;
#[allow(missing_docs)]
mod sys;
#[allow(missing_docs)]
mod syscall;

pub use backend::LandlockStatus;
pub use decide::access_for_call;
pub use error::{Error, Result};
pub use exec::{Attach, ATTACH_VAR};
pub use fdranges::{ranges_around, RangesAround};
pub use image::{
    answer, decode_request, encode_request, image_kind, ImageConfinement, ImageKind, ImageRequest, IMAGE_FDS_MAX,
    IMAGE_REQUEST_MAX,
};
pub use policy::{Access, NetTarget, Policy, SysctlRule};
pub use proto::SYSCTL_OUT_MAX;
pub use record::{BackendKind, Class, Decision, DenyReason, Violation};
pub use runtime::{Action, Mode, Stats};
pub use sandbox::{current_dir, Builder, Sandbox, DEFAULT_BROKER_TIMEOUT, EXEC_LIBRARY_DIRS};
