//! `cargo xtask`: the project's build and test driver.
use anyhow::Result;
use clap::Parser;

#[derive(Parser)]
#[command(about = "sigcap build, image and test driver")]
enum Cmd {
    /// Run the host test suite (what CI runs).
    Test,
}

fn main() -> Result<()> {
    match Cmd::parse() {
        Cmd::Test => {
            let st = std::process::Command::new(env!("CARGO"))
                .args(["test", "--workspace"])
                .status()?;
            anyhow::ensure!(st.success(), "cargo test failed");
            Ok(())
        }
    }
}
