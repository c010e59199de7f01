//! `cargo bench -p sigcap --bench violation_latency`: the benchmark lives
//! in examples/violation_latency.rs, so that the FreeBSD guest, which has
//! no cargo, can run the same program (vm-images/guest-programs).
#[path = "../examples/violation_latency.rs"]
mod violation_latency;

fn main() {
    violation_latency::main();
}
