//! `cargo xtask`: the project's build and test driver.
mod abi;
mod host_test;

use anyhow::Result;
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "sigcap build, image and test driver")]
enum Cmd {
    /// Run everything that runs on this host (what CI runs): the workspace
    /// tests, the FreeBSD ABI check against the patch series, the FreeBSD
    /// type-check, and, given a tree, the series' base and apply check.
    Test {
        /// A FreeBSD 15.1 source tree (default: $SIGCAP_FREEBSD_SRC).
        #[arg(long)]
        src: Option<PathBuf>,
    },
}

fn main() -> Result<()> {
    match Cmd::parse() {
        Cmd::Test { src } => host_test::run_all(src),
    }
}
