//! Builds the C bodies of the execl family on Linux (see
//! src/execl_linux.c for why they are C).
fn main() {
    println!("cargo:rerun-if-changed=src/execl_linux.c");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        cc::Build::new()
            .file("src/execl_linux.c")
            .warnings(true)
            .compile("sigcap_run_execl");
    }
}
