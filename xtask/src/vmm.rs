//! The hypervisor that boots the test ISO: QEMU (TCG) on any host, bhyve on
//! FreeBSD hosts. Choosing one and building its command lines are pure
//! functions, unit-tested below because this project's hosts are Linux and
//! cannot run bhyve; `HostFacts::probe`, `select` and `run` are the only
//! parts that touch the system.
use anyhow::{bail, Context, Result};
use nix::sys::termios::{self, BaudRate, ControlFlags, SetArg};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `--vmm`: what the user asked for.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Requested {
    /// bhyve on a FreeBSD host where vmm.ko is usable (as root), else QEMU.
    Auto,
    /// QEMU with TCG (SIGCAP_QEMU_ACCEL=kvm where KVM runs FreeBSD).
    Qemu,
    /// bhyve: FreeBSD hosts only, as root, with vmm.ko and nmdm(4).
    Bhyve,
}

/// The hypervisor a boot uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Vmm {
    Qemu,
    Bhyve,
}

/// What the choice depends on; gathered by `probe`, given by hand in tests.
#[derive(Clone, Debug, Default)]
pub struct HostFacts {
    /// `std::env::consts::OS`: "linux", "freebsd", ...
    pub os: String,
    pub root: bool,
    /// vmm.ko is loaded. On 15.x its load fails on a CPU without VT-x+EPT
    /// or AMD-V+RVI, so loaded means usable. (/dev/vmm/ is no test: it
    /// only has entries while VMs exist; older hosts have no /dev/vmmctl.)
    pub vmm: bool,
    /// What `kldload vmm` said when probe tried it and it failed.
    pub vmm_error: Option<String>,
    /// nmdm(4) is loaded (it is not in GENERIC).
    pub nmdm: bool,
    pub nmdm_error: Option<String>,
    /// bhyve's programs that are not installed.
    pub missing: Vec<String>,
}

const BHYVE: &str = "/usr/sbin/bhyve";
const BHYVELOAD: &str = "/usr/sbin/bhyveload";
const BHYVECTL: &str = "/usr/sbin/bhyvectl";
const KLDSTAT: &str = "/sbin/kldstat";
const KLDLOAD: &str = "/sbin/kldload";

/// Guest size, the same for both hypervisors (QEMU's `-m 1024 -smp 2`).
const MEM: &str = "1024M";
const CPUS: &str = "2";

/// The kernel's console: com1, as the BIOS loader's comconsole tells the
/// kernel on the QEMU route. userboot's "comconsole" (loader.rc's
/// console=comconsole) is only an alias of bhyveload's own console and
/// sets nothing, so bhyveload passes this, rather than leaving the kernel
/// to find com1 in bhyve's ACPI SPCR table (not on every host's bhyve).
const UART_CONSOLE: &str = "hw.uart.console=io:1016,br:115200";

impl HostFacts {
    /// Look at this host. For bhyve (asked for, or `auto` on FreeBSD) and
    /// as root, load vmm.ko and nmdm.ko when they are not loaded yet.
    pub fn probe(requested: Requested) -> HostFacts {
        let mut h = HostFacts {
            os: std::env::consts::OS.to_string(),
            root: nix::unistd::Uid::effective().is_root(),
            ..Default::default()
        };
        if h.os != "freebsd" || requested == Requested::Qemu {
            return h;
        }
        h.missing = [BHYVE, BHYVELOAD, BHYVECTL]
            .iter()
            .filter(|p| !Path::new(p).exists())
            .map(|p| p.to_string())
            .collect();
        (h.vmm, h.vmm_error) = kernel_module("vmm", h.root);
        (h.nmdm, h.nmdm_error) = kernel_module("nmdm", h.root);
        h
    }
}

/// Is module `m` loaded; as root, load it first if not. The error is
/// kldload's own message (e.g. "Device not configured" for vmm on a CPU
/// without the virtualisation features).
fn kernel_module(m: &str, root: bool) -> (bool, Option<String>) {
    let loaded = || {
        Command::new(KLDSTAT)
            .args(["-q", "-m", m])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if loaded() || !root {
        return (loaded(), None);
    }
    match Command::new(KLDLOAD).args(["-n", m]).output() {
        Ok(o) if o.status.success() && loaded() => {
            eprintln!("xtask: boot: loaded {m}.ko");
            (true, None)
        }
        Ok(o) => {
            let msg = String::from_utf8_lossy(&o.stderr).trim().to_string();
            (false, Some(if msg.is_empty() { o.status.to_string() } else { msg }))
        }
        Err(e) => (false, Some(format!("{KLDLOAD}: {e}"))),
    }
}

/// Why bhyve cannot run on a FreeBSD host, each with its fix; empty if it can.
fn bhyve_problems(h: &HostFacts) -> Vec<String> {
    let mut p = Vec::new();
    if !h.root {
        p.push("not running as root (bhyve needs root: run the command as root)".to_string());
    }
    match (&h.vmm, &h.vmm_error) {
        (true, _) => {}
        (false, Some(e)) => p.push(format!(
            "vmm.ko does not load (`kldload vmm`: {e}; it needs VT-x with EPT or AMD-V with RVI, \
             which nested virtualisation often lacks)"
        )),
        (false, None) => p.push("vmm.ko is not loaded (as root: `kldload vmm`)".to_string()),
    }
    match (&h.nmdm, &h.nmdm_error) {
        (true, _) => {}
        (false, Some(e)) => p.push(format!("nmdm.ko does not load (`kldload nmdm`: {e})")),
        (false, None) => p.push("nmdm(4) is not loaded (as root: `kldload nmdm`)".to_string()),
    }
    if !h.missing.is_empty() {
        p.push(format!(
            "not installed: {} (base system programs; a world built WITHOUT_BHYVE lacks them)",
            h.missing.join(", ")
        ));
    }
    p
}

/// The hypervisor for this boot: `auto` is bhyve only on a FreeBSD host
/// where it can run now, QEMU elsewhere; an explicit `bhyve` that cannot
/// run is an error saying everything that is missing, with the fixes.
pub fn choose(requested: Requested, host: &HostFacts) -> Result<Vmm> {
    let freebsd = host.os == "freebsd";
    match requested {
        Requested::Qemu => Ok(Vmm::Qemu),
        Requested::Auto if freebsd && bhyve_problems(host).is_empty() => Ok(Vmm::Bhyve),
        Requested::Auto => Ok(Vmm::Qemu),
        Requested::Bhyve if !freebsd => bail!(
            "boot: --vmm bhyve needs a FreeBSD host (this one runs {}); use --vmm qemu",
            host.os
        ),
        Requested::Bhyve => {
            let p = bhyve_problems(host);
            if !p.is_empty() {
                bail!(
                    "boot: --vmm bhyve cannot run here: {}. To load the modules at every boot: \
                     `sysrc kld_list+=\"vmm nmdm\"`; or use --vmm qemu",
                    p.join("; ")
                );
            }
            Ok(Vmm::Bhyve)
        }
    }
}

/// `choose` on this host; says why when `auto` on FreeBSD falls back to QEMU.
pub fn select(requested: Requested) -> Result<Vmm> {
    let host = HostFacts::probe(requested);
    let vmm = choose(requested, &host)?;
    if requested == Requested::Auto && vmm == Vmm::Qemu && host.os == "freebsd" {
        eprintln!("xtask: boot: not bhyve: {}", bhyve_problems(&host).join("; "));
    }
    Ok(vmm)
}

/// QEMU's command line: the ISO as the CD, com1 written to `console`.
pub fn qemu_argv(accel: &str, iso: &str, console: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        "qemu-system-x86_64",
        "-accel",
        accel,
        "-M",
        "pc",
        "-m",
        "1024",
        "-smp",
        CPUS,
        "-display",
        "none",
        "-monitor",
        "none",
        "-no-reboot",
        "-cdrom",
        iso,
        "-serial",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("file:{console}"));
    v
}

/// bhyveload: userboot reads the ISO's /boot/loader.rc and loads its
/// kernel into the VM `vm` (creating it), its console on `console`.
pub fn bhyveload_argv(console: &str, iso: &str, vm: &str) -> Vec<String> {
    [BHYVELOAD, "-c", console, "-m", MEM, "-e", UART_CONSOLE, "-d", iso, vm]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// bhyve: runs the loaded VM with the ISO as an AHCI CD (the kernel's
/// root, cd9660:/dev/cd0) and com1 on `console`. -H/-P: halting or
/// spinning vCPUs give the host CPU back. -A (ACPI tables) is for older
/// bhyve (13.x needs it for FreeBSD guests); 15.1 always builds the tables
/// and keeps -A as a no-op (bhyverun_machdep.c), no longer in bhyve(8).
pub fn bhyve_argv(console: &str, iso: &str, vm: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        BHYVE,
        "-c",
        CPUS,
        "-m",
        MEM,
        "-H",
        "-A",
        "-P",
        "-s",
        "0:0,hostbridge",
        "-s",
        "1:0,lpc",
        "-s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("2:0,ahci-cd,{iso}"));
    v.push("-l".into());
    v.push(format!("com1,{console}"));
    v.push(vm.into());
    v
}

/// Frees the VM's kernel state; bhyve leaves it behind when it exits.
pub fn destroy_argv(vm: &str) -> Vec<String> {
    vec![BHYVECTL.into(), "--destroy".into(), format!("--vm={vm}")]
}

/// The nmdm(4) pair for unit `n`: (A, B). Opening either creates both.
pub fn nmdm_pair(n: u32) -> (String, String) {
    (format!("/dev/nmdm{n}A"), format!("/dev/nmdm{n}B"))
}

/// One bhyve boot: the VM and console names, and the three commands.
#[derive(Debug, PartialEq)]
pub struct BhyvePlan {
    pub vm: String,
    /// The guest's side: bhyveload's console, then bhyve's com1.
    pub guest_tty: String,
    /// Ours: read and copied into the console log.
    pub host_tty: String,
    pub load: Vec<String>,
    pub run: Vec<String>,
    pub destroy: Vec<String>,
}

/// Names from our pid, so that two runs on one host do not meet and a VM
/// left by a killed run does not block the next one.
pub fn bhyve_plan(pid: u32, iso: &str) -> BhyvePlan {
    let vm = format!("sigcap-{pid}");
    let (a, b) = nmdm_pair(pid);
    BhyvePlan {
        load: bhyveload_argv(&a, iso, &vm),
        run: bhyve_argv(&a, iso, &vm),
        destroy: destroy_argv(&vm),
        vm,
        guest_tty: a,
        host_tty: b,
    }
}

/// What bhyve's exit status (bhyve(8), EXIT STATUS) means: Ok for the
/// ends a guest causes (the console then says how the suites went),
/// Err when bhyve itself failed.
pub fn bhyve_exit(code: Option<i32>) -> std::result::Result<&'static str, String> {
    match code {
        Some(0) => Ok("rebooted"),
        Some(1) => Ok("powered off"),
        Some(2) => Ok("halted"),
        Some(3) => Ok("triple fault"),
        Some(4) => Err("exited due to an error".into()),
        Some(5) => Err("suspended".into()),
        Some(c) => Err(format!("exit status {c}")),
        None => Err("killed by a signal".into()),
    }
}

/// Console lines worth showing while the guest runs: the test protocol
/// and panics.
fn worth_echoing(line: &str) -> bool {
    line.starts_with("SIGCAP-") || line.contains("panic")
}

/// Splits console bytes into lines and prints those worth echoing.
#[derive(Default)]
struct Echo {
    partial: String,
}

impl Echo {
    fn feed(&mut self, bytes: &[u8]) {
        self.partial.push_str(&String::from_utf8_lossy(bytes));
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            let line = line.trim_end();
            if worth_echoing(line) {
                eprintln!("  guest: {line}");
            }
        }
    }
}

/// Where the guest's serial console comes from while it runs.
enum Console {
    /// QEMU writes the log itself: read what it appended since last time.
    File { path: std::path::PathBuf, pos: u64 },
    /// bhyve's com1 is the other end of a tty (nmdm B side), non-blocking:
    /// read what is there and append it to the log.
    Tty { src: Box<dyn Read>, log: File },
}

impl Console {
    /// The console bytes that arrived since the last call.
    fn pump(&mut self) -> Result<Vec<u8>> {
        let mut b = Vec::new();
        match self {
            Console::File { path, pos } => {
                if let Ok(mut f) = File::open(&*path) {
                    f.seek(SeekFrom::Start(*pos))?;
                    f.read_to_end(&mut b)?;
                    *pos += b.len() as u64;
                }
            }
            Console::Tty { src, log } => {
                let mut buf = [0u8; 16384];
                loop {
                    match src.read(&mut buf) {
                        // 0: no peer on the other side right now (between
                        // bhyveload and bhyve), not the end of the boot.
                        Ok(0) => break,
                        Ok(n) => b.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err(e).context("reading the guest console"),
                    }
                }
                log.write_all(&b).context("writing the console log")?;
            }
        }
        Ok(b)
    }
}

/// Wait for `child`, passing its console on, until it exits (its status)
/// or the deadline passes (None; the child is killed).
fn watch(
    child: &mut Child,
    console: &mut Console,
    echo: &mut Echo,
    deadline: Instant,
    tick: Duration,
) -> Result<Option<ExitStatus>> {
    loop {
        let done = child.try_wait()?;
        match console.pump() {
            Ok(b) => echo.feed(&b),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        }
        if done.is_some() {
            return Ok(done);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(tick);
    }
}

fn command(argv: &[String]) -> Command {
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    c
}

fn utf8(p: &Path) -> Result<&str> {
    p.to_str()
        .with_context(|| format!("boot: path is not UTF-8: {}", p.display()))
}

/// Boot `iso` with `vmm`, the serial console into `console_log` (the
/// hypervisor's own output beside it), for at most `timeout` seconds.
/// Returns whether the timeout ended it.
pub fn run(vmm: Vmm, iso: &Path, console_log: &Path, timeout: u64) -> Result<bool> {
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(timeout);
    let timed_out = match vmm {
        Vmm::Qemu => run_qemu(iso, console_log, timeout, deadline, &[])?,
        Vmm::Bhyve => run_bhyve(iso, console_log, timeout, deadline)?,
    };
    eprintln!(
        "xtask: boot: guest ran {}s{}",
        t0.elapsed().as_secs(),
        if timed_out { " (TIMEOUT)" } else { "" }
    );
    Ok(timed_out)
}

/// Boots `iso` under QEMU TCG with `-icount shift=0`: every guest
/// instruction advances the virtual clock by 1 ns, so the guest's TSC
/// counts instructions and a cost measured with rdtsc is exact and
/// repeatable across boots. Only QEMU's TCG can do this (not KVM, not
/// bhyve). Returns whether the guest timed out.
pub fn run_icount(iso: &Path, console_log: &Path, timeout: u64) -> Result<bool> {
    let t0 = Instant::now();
    let timed_out = run_qemu(
        iso,
        console_log,
        timeout,
        t0 + Duration::from_secs(timeout),
        &ICOUNT_ARGS,
    )?;
    eprintln!(
        "xtask: boot: guest ran {}s{}",
        t0.elapsed().as_secs(),
        if timed_out { " (TIMEOUT)" } else { "" }
    );
    Ok(timed_out)
}

/// What run_icount adds to QEMU's command line (it also forces TCG).
pub const ICOUNT_ARGS: [&str; 2] = ["-icount", "shift=0"];

fn run_qemu(iso: &Path, log: &Path, timeout: u64, deadline: Instant, extra: &[&str]) -> Result<bool> {
    // TCG by default: this project's reference host has a nested KVM that
    // cannot run FreeBSD guests. SIGCAP_QEMU_ACCEL=kvm where KVM is known
    // good. Instruction counting needs TCG whatever that says.
    let accel = if extra.is_empty() {
        std::env::var("SIGCAP_QEMU_ACCEL").unwrap_or_else(|_| "tcg".into())
    } else {
        "tcg".into()
    };
    let mut argv = qemu_argv(&accel, utf8(iso)?, utf8(log)?);
    if !extra.is_empty() {
        // One vCPU: under -icount the vCPUs take turns on one host
        // thread, so a second one only slows the guest down.
        if let Some(i) = argv.iter().position(|a| a == "-smp") {
            argv[i + 1] = "1".into();
        }
    }
    argv.extend(extra.iter().map(|s| s.to_string()));
    let mut c = command(&argv);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(log.with_file_name("qemu.log"))?);
    eprintln!(
        "xtask: boot: QEMU ({accel}), timeout {timeout}s, console: {}",
        log.display()
    );
    let mut child = c
        .spawn()
        .context("starting qemu-system-x86_64 (Debian: apt-get install qemu-system-x86)")?;
    let mut console = Console::File {
        path: log.to_path_buf(),
        pos: 0,
    };
    let st = watch(
        &mut child,
        &mut console,
        &mut Echo::default(),
        deadline,
        Duration::from_millis(300),
    )?;
    Ok(st.is_none())
}

/// Our side of the nmdm pair, opened before the guest's side so that
/// nothing written there is lost. Raw: no echo of guest output back into
/// its input, no line editing. CLOCAL: reads do not wait for the other
/// side. The speed sizes the input queue (2 s of data, at most 64 KiB; at
/// the default 9600 baud 1920 bytes), and bhyve drops console bytes the
/// pair cannot take.
fn open_host_tty(path: &str) -> Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)
        .with_context(|| format!("boot: opening {path} (nmdm(4): kldload nmdm)"))?;
    configure_tty(&f).with_context(|| format!("boot: setting up {path}"))?;
    Ok(f)
}

fn configure_tty(f: &File) -> nix::Result<()> {
    let mut t = termios::tcgetattr(f)?;
    termios::cfmakeraw(&mut t);
    t.control_flags |= ControlFlags::CLOCAL;
    termios::cfsetspeed(&mut t, BaudRate::B921600)?;
    termios::tcsetattr(f, SetArg::TCSANOW, &t)
}

/// Destroys the VM when the boot ends, however it ends.
struct DestroyVm<'a>(&'a BhyvePlan);

impl Drop for DestroyVm<'_> {
    fn drop(&mut self) {
        let _ = command(&self.0.destroy)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if Path::new("/dev/vmm").join(&self.0.vm).exists() {
            eprintln!(
                "xtask: boot: VM {} is still there: {}",
                self.0.vm,
                self.0.destroy.join(" ")
            );
        }
    }
}

fn run_bhyve(iso: &Path, log: &Path, timeout: u64, deadline: Instant) -> Result<bool> {
    let plan = bhyve_plan(std::process::id(), utf8(iso)?);
    let tty = open_host_tty(&plan.host_tty)?;
    let mut console = Console::Tty {
        src: Box::new(tty),
        log: File::create(log).with_context(|| format!("creating {}", log.display()))?,
    };
    let out_path = log.with_file_name("bhyve.log");
    let out = File::create(&out_path)?;
    // A VM of this name from a killed run (same pid) would be reused as is.
    let _ = command(&plan.destroy)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _destroy = DestroyVm(&plan);
    eprintln!(
        "xtask: boot: bhyve (VM {}, com1 {}), timeout {timeout}s, console: {}",
        plan.vm,
        plan.guest_tty,
        log.display()
    );
    let mut echo = Echo::default();
    // The loader is quick, but one at a prompt waits for ever: same deadline.
    for (what, argv) in [("bhyveload", &plan.load), ("bhyve", &plan.run)] {
        let mut child = command(argv)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out.try_clone()?)
            .spawn()
            .with_context(|| format!("starting {}", argv[0]))?;
        let tick = Duration::from_millis(50);
        let Some(st) = watch(&mut child, &mut console, &mut echo, deadline, tick)? else {
            return Ok(true);
        };
        let failed = |how: &str| {
            anyhow::anyhow!(
                "boot: {what} {how} ({st}); its output: {}, the console: {}",
                out_path.display(),
                log.display()
            )
        };
        if what == "bhyveload" {
            if !st.success() {
                return Err(failed("failed"));
            }
        } else {
            match bhyve_exit(st.code()) {
                Ok(how) => eprintln!("xtask: boot: bhyve: guest {how}"),
                Err(how) => return Err(failed(&how)),
            }
        }
    }
    // nmdm moves bytes between its sides in a task: take what bhyve wrote
    // just before it exited.
    std::thread::sleep(Duration::from_millis(200));
    echo.feed(&console.pump()?);
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;
    use std::fs;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn freebsd_ready() -> HostFacts {
        HostFacts {
            os: "freebsd".into(),
            root: true,
            vmm: true,
            nmdm: true,
            ..Default::default()
        }
    }

    fn err(r: Result<Vmm>) -> String {
        format!("{:#}", r.expect_err("expected an error"))
    }

    #[test]
    fn qemu_argv_is_unchanged() {
        assert_eq!(
            qemu_argv("tcg", "/c/sigcap-test.iso", "/l/console.log"),
            s(&[
                "qemu-system-x86_64",
                "-accel",
                "tcg",
                "-M",
                "pc",
                "-m",
                "1024",
                "-smp",
                "2",
                "-display",
                "none",
                "-monitor",
                "none",
                "-no-reboot",
                "-cdrom",
                "/c/sigcap-test.iso",
                "-serial",
                "file:/l/console.log",
            ])
        );
        assert_eq!(qemu_argv("kvm", "i", "l")[2], "kvm");
    }

    #[test]
    fn bhyveload_argv_exact() {
        assert_eq!(
            bhyveload_argv("/dev/nmdm7A", "/c/sigcap-test.iso", "sigcap-7"),
            s(&[
                "/usr/sbin/bhyveload",
                "-c",
                "/dev/nmdm7A",
                "-m",
                "1024M",
                "-e",
                "hw.uart.console=io:1016,br:115200",
                "-d",
                "/c/sigcap-test.iso",
                "sigcap-7",
            ])
        );
    }

    #[test]
    fn bhyve_argv_exact() {
        assert_eq!(
            bhyve_argv("/dev/nmdm7A", "/c/sigcap-test.iso", "sigcap-7"),
            s(&[
                "/usr/sbin/bhyve",
                "-c",
                "2",
                "-m",
                "1024M",
                "-H",
                "-A",
                "-P",
                "-s",
                "0:0,hostbridge",
                "-s",
                "1:0,lpc",
                "-s",
                "2:0,ahci-cd,/c/sigcap-test.iso",
                "-l",
                "com1,/dev/nmdm7A",
                "sigcap-7",
            ])
        );
    }

    #[test]
    fn destroy_argv_exact() {
        assert_eq!(
            destroy_argv("sigcap-7"),
            s(&["/usr/sbin/bhyvectl", "--destroy", "--vm=sigcap-7"])
        );
    }

    #[test]
    fn nmdm_naming() {
        assert_eq!(
            nmdm_pair(4242),
            ("/dev/nmdm4242A".to_string(), "/dev/nmdm4242B".to_string())
        );
    }

    #[test]
    fn bhyve_plan_puts_the_guest_on_a_and_us_on_b() {
        let p = bhyve_plan(31337, "/x.iso");
        assert_eq!(p.vm, "sigcap-31337");
        assert_eq!(p.guest_tty, "/dev/nmdm31337A");
        assert_eq!(p.host_tty, "/dev/nmdm31337B");
        assert_eq!(p.load, bhyveload_argv("/dev/nmdm31337A", "/x.iso", "sigcap-31337"));
        assert_eq!(p.run, bhyve_argv("/dev/nmdm31337A", "/x.iso", "sigcap-31337"));
        assert_eq!(p.destroy, destroy_argv("sigcap-31337"));
        // Same guest memory for the loader and the VM (bhyve(8): -m must match).
        let mem = |v: &[String]| v[v.iter().position(|a| a == "-m").unwrap() + 1].clone();
        assert_eq!(mem(&p.load), mem(&p.run));
    }

    #[test]
    fn auto_on_linux_is_qemu() {
        let h = HostFacts {
            os: "linux".into(),
            ..freebsd_ready()
        };
        assert_eq!(choose(Requested::Auto, &h).unwrap(), Vmm::Qemu);
        assert_eq!(choose(Requested::Qemu, &h).unwrap(), Vmm::Qemu);
    }

    #[test]
    fn auto_on_freebsd_with_vmm_is_bhyve() {
        assert_eq!(choose(Requested::Auto, &freebsd_ready()).unwrap(), Vmm::Bhyve);
    }

    #[test]
    fn auto_on_freebsd_without_a_usable_bhyve_is_qemu() {
        let cases = [
            HostFacts {
                vmm: false,
                ..freebsd_ready()
            },
            HostFacts {
                vmm: false,
                vmm_error: Some("can't load vmm: Device not configured".into()),
                ..freebsd_ready()
            },
            HostFacts {
                root: false,
                ..freebsd_ready()
            },
            HostFacts {
                nmdm: false,
                ..freebsd_ready()
            },
            HostFacts {
                missing: vec![BHYVE.into()],
                ..freebsd_ready()
            },
        ];
        for h in &cases {
            assert_eq!(choose(Requested::Auto, h).unwrap(), Vmm::Qemu, "{h:?}");
        }
    }

    #[test]
    fn explicit_qemu_on_freebsd_is_qemu() {
        assert_eq!(choose(Requested::Qemu, &freebsd_ready()).unwrap(), Vmm::Qemu);
    }

    #[test]
    fn explicit_bhyve_on_freebsd_with_vmm_is_bhyve() {
        assert_eq!(choose(Requested::Bhyve, &freebsd_ready()).unwrap(), Vmm::Bhyve);
    }

    #[test]
    fn explicit_bhyve_on_linux_is_a_clear_error() {
        let h = HostFacts {
            os: "linux".into(),
            ..freebsd_ready()
        };
        let e = err(choose(Requested::Bhyve, &h));
        assert!(e.contains("needs a FreeBSD host"), "{e}");
        assert!(e.contains("runs linux"), "{e}");
        assert!(e.contains("--vmm qemu"), "{e}");
    }

    #[test]
    fn explicit_bhyve_not_root_names_the_fix() {
        let h = HostFacts {
            root: false,
            ..freebsd_ready()
        };
        let e = err(choose(Requested::Bhyve, &h));
        assert!(e.contains("not running as root"), "{e}");
        assert!(e.contains("run the command as root"), "{e}");
        assert!(!e.contains("vmm.ko"), "only what is missing: {e}");
    }

    #[test]
    fn explicit_bhyve_without_vmm_names_the_fix() {
        let h = HostFacts {
            vmm: false,
            ..freebsd_ready()
        };
        let e = err(choose(Requested::Bhyve, &h));
        assert!(e.contains("vmm.ko is not loaded"), "{e}");
        assert!(e.contains("`kldload vmm`"), "{e}");
        assert!(!e.contains("root ("), "only what is missing: {e}");
    }

    #[test]
    fn explicit_bhyve_vmm_load_failure_says_why() {
        let h = HostFacts {
            vmm: false,
            vmm_error: Some("kldload: can't load vmm: Device not configured".into()),
            ..freebsd_ready()
        };
        let e = err(choose(Requested::Bhyve, &h));
        assert!(e.contains("vmm.ko does not load"), "{e}");
        assert!(e.contains("Device not configured"), "{e}");
        assert!(e.contains("VT-x with EPT or AMD-V with RVI"), "{e}");
    }

    #[test]
    fn explicit_bhyve_without_nmdm_names_the_fix() {
        let h = HostFacts {
            nmdm: false,
            ..freebsd_ready()
        };
        let e = err(choose(Requested::Bhyve, &h));
        assert!(e.contains("nmdm(4) is not loaded"), "{e}");
        assert!(e.contains("`kldload nmdm`"), "{e}");
        let h = HostFacts {
            nmdm: false,
            nmdm_error: Some("no such file".into()),
            ..freebsd_ready()
        };
        assert!(err(choose(Requested::Bhyve, &h)).contains("nmdm.ko does not load (`kldload nmdm`: no such file)"));
    }

    #[test]
    fn explicit_bhyve_says_everything_missing_in_one_message() {
        let h = HostFacts {
            os: "freebsd".into(),
            missing: vec![BHYVELOAD.into()],
            ..Default::default()
        };
        let e = err(choose(Requested::Bhyve, &h));
        for want in [
            "not running as root",
            "kldload vmm",
            "kldload nmdm",
            "/usr/sbin/bhyveload",
            "--vmm qemu",
        ] {
            assert!(e.contains(want), "missing {want:?} in: {e}");
        }
        assert_eq!(e.lines().count(), 1, "{e}");
    }

    #[test]
    fn vmm_option_spelling() {
        let names: Vec<String> = Requested::value_variants()
            .iter()
            .map(|v| v.to_possible_value().unwrap().get_name().to_string())
            .collect();
        assert_eq!(names, ["auto", "qemu", "bhyve"]);
        assert_eq!(Requested::from_str("bhyve", false).unwrap(), Requested::Bhyve);
    }

    #[test]
    fn bhyve_exit_statuses() {
        assert_eq!(bhyve_exit(Some(1)), Ok("powered off"));
        assert_eq!(bhyve_exit(Some(0)), Ok("rebooted"));
        assert_eq!(bhyve_exit(Some(2)), Ok("halted"));
        assert_eq!(bhyve_exit(Some(3)), Ok("triple fault"));
        assert!(bhyve_exit(Some(4)).is_err());
        assert!(bhyve_exit(Some(5)).is_err());
        assert!(bhyve_exit(Some(70)).is_err());
        assert!(bhyve_exit(None).is_err());
    }

    #[test]
    fn echo_shows_protocol_lines_and_panics_only() {
        assert!(worth_echoing("SIGCAP-RESULT kconf ok"));
        assert!(worth_echoing("panic: page fault"));
        assert!(!worth_echoing("Copyright (c) 1992-2025 The FreeBSD Project."));
        assert!(!worth_echoing("  SIGCAP-indented"));
    }

    #[test]
    fn file_console_returns_only_what_was_appended() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("console.log");
        let mut c = Console::File {
            path: path.clone(),
            pos: 0,
        };
        assert!(c.pump().unwrap().is_empty(), "no file yet is no output");
        fs::write(&path, "one\n").unwrap();
        assert_eq!(c.pump().unwrap(), b"one\n");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"two").unwrap();
        assert_eq!(c.pump().unwrap(), b"two");
        assert!(c.pump().unwrap().is_empty());
    }

    #[test]
    fn tty_console_copies_to_the_log_and_does_not_block() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("console.log");
        let (mut guest, ours) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let mut c = Console::Tty {
            src: Box::new(ours),
            log: File::create(&path).unwrap(),
        };
        assert!(c.pump().unwrap().is_empty(), "nothing yet: must not block");
        guest.write_all(b"SIGCAP-BEGIN\npart").unwrap();
        assert_eq!(c.pump().unwrap(), b"SIGCAP-BEGIN\npart");
        guest.write_all(b"ial\n").unwrap();
        assert_eq!(c.pump().unwrap(), b"ial\n");
        drop(guest);
        assert!(c.pump().unwrap().is_empty(), "no peer: nothing, not an error");
        assert_eq!(fs::read_to_string(&path).unwrap(), "SIGCAP-BEGIN\npartial\n");
    }

    #[test]
    fn host_tty_is_raw_without_echo() {
        // A pty stands in for nmdm's B side (same termios on both systems).
        let pty = nix::pty::openpty(None, None).unwrap();
        let f = File::from(pty.slave);
        configure_tty(&f).unwrap();
        let t = termios::tcgetattr(&f).unwrap();
        use termios::LocalFlags as L;
        assert!(!t.local_flags.intersects(L::ECHO | L::ICANON | L::ISIG), "{t:?}");
        assert!(t.control_flags.contains(ControlFlags::CLOCAL));
        // cfgetispeed's type differs between Linux and the BSDs: compare
        // with a termios given the speed directly.
        let mut want = t.clone();
        termios::cfsetspeed(&mut want, BaudRate::B9600).unwrap();
        assert_ne!(termios::cfgetispeed(&t), termios::cfgetispeed(&want));
        termios::cfsetspeed(&mut want, BaudRate::B921600).unwrap();
        assert_eq!(termios::cfgetispeed(&t), termios::cfgetispeed(&want));
    }

    #[test]
    fn watch_kills_at_the_deadline() {
        let d = tempfile::tempdir().unwrap();
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let mut c = Console::File {
            path: d.path().join("none"),
            pos: 0,
        };
        let t0 = Instant::now();
        let st = watch(
            &mut child,
            &mut c,
            &mut Echo::default(),
            t0 + Duration::from_millis(200),
            Duration::from_millis(20),
        )
        .unwrap();
        assert!(st.is_none(), "timed out");
        assert!(t0.elapsed() < Duration::from_secs(10));
        assert!(child.try_wait().unwrap().is_some(), "killed and reaped");
    }

    #[test]
    fn watch_returns_the_status_and_the_last_output() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("console.log");
        let mut child = Command::new("sh")
            .args(["-c", &format!("echo done > {}; exit 3", path.display())])
            .spawn()
            .unwrap();
        let mut c = Console::File { path, pos: 0 };
        let far = Instant::now() + Duration::from_secs(60);
        let st = watch(&mut child, &mut c, &mut Echo::default(), far, Duration::from_millis(20))
            .unwrap()
            .unwrap();
        assert_eq!(st.code(), Some(3));
        if let Console::File { pos, .. } = c {
            assert_eq!(pos, 5, "output written before the exit was read");
        }
    }
}
