//! getaddrinfo through the broker against a real DNS server on loopback.
//!
//! The test makes its own network and mount namespaces (needs root, as CI
//! and the development machines have; it skips with a reason otherwise),
//! brings up `lo`, bind-mounts a resolv.conf that names 127.0.0.1, and
//! answers queries with a tiny DNS responder. Inside the sandbox glibc
//! reads its configuration files and talks to the server only through
//! brokered calls.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use rusty_fork::rusty_fork_test;
use sigcap::{Decision, Sandbox};
use std::net::{Ipv4Addr, ToSocketAddrs, UdpSocket};

/// Enters fresh network and mount namespaces with `lo` up and
/// /etc/resolv.conf replaced. Returns why not, if it cannot.
fn isolate(resolv: &std::path::Path) -> Result<(), String> {
    // SAFETY: plain namespace and mount calls on our own process.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWNET) != 0 {
            return Err(format!("unshare: {}", std::io::Error::last_os_error()));
        }
        if libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(format!("make / private: {}", std::io::Error::last_os_error()));
        }
        let src = std::ffi::CString::new(resolv.as_os_str().as_encoded_bytes()).unwrap();
        if libc::mount(
            src.as_ptr(),
            c"/etc/resolv.conf".as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        ) != 0
        {
            return Err(format!("bind resolv.conf: {}", std::io::Error::last_os_error()));
        }
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (d, c) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *c as libc::c_char;
        }
        ifr.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as i16;
        if libc::ioctl(s, libc::SIOCSIFFLAGS, &ifr) != 0 {
            return Err(format!("lo up: {}", std::io::Error::last_os_error()));
        }
        libc::close(s);
    }
    Ok(())
}

/// Answers A queries for sigcap.test with 127.0.0.9 and everything else
/// with an empty NOERROR, until `n` queries were served.
/// Answers up to `n` queries, and stops when the test process is gone.
fn dns_server(sock: UdpSocket, n: usize, watch: &common::ParentWatch) {
    let mut buf = [0u8; 512];
    sock.set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    let mut served = 0;
    while served < n {
        let (len, peer) = match sock.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if watch.parent_gone() {
                    return;
                }
                continue;
            }
            Err(_) => return,
        };
        served += 1;
        let q = &buf[..len];
        if len < 12 {
            continue;
        }
        // The question ends after the name's zero label and QTYPE/QCLASS.
        let mut i = 12;
        while i < len && q[i] != 0 {
            i += 1 + q[i] as usize;
        }
        let qend = (i + 5).min(len);
        let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
        let name_ok = q[12..i].eq_ignore_ascii_case(b"\x06sigcap\x04test");
        let answer = name_ok && qtype == 1;
        let mut r = Vec::from(&q[..qend]);
        r[2] = 0x81; // response, recursion desired
        r[3] = 0x80; // recursion available, NOERROR
        r[6..8].copy_from_slice(&(answer as u16).to_be_bytes());
        r[8..12].fill(0);
        if answer {
            r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            r.extend_from_slice(&Ipv4Addr::new(127, 0, 0, 9).octets());
        }
        let _ = sock.send_to(&r, peer);
    }
}

rusty_fork_test! {
    #[test]
    fn getaddrinfo_resolves_through_a_brokered_dns_server() {
        let dir = tempfile::tempdir().unwrap();
        let resolv = dir.path().join("resolv.conf");
        std::fs::write(&resolv, "nameserver 127.0.0.1\noptions attempts:1 timeout:2\n").unwrap();
        if let Err(why) = isolate(&resolv) {
            println!("SKIP getaddrinfo_resolves_through_a_brokered_dns_server: needs root for namespaces ({why})");
            return;
        }
        let server = UdpSocket::bind("127.0.0.1:53").unwrap();
        // The server is another process: every thread of this one will be
        // confined.
        // Landlock keeps the sandboxed test from signalling a process
        // made before it entered: the server stops when the test does.
        // The parent's copy of the socket goes with the closure.
        let pid = common::child_of_test(move |w| dns_server(server, 16, w));

        let sb = Sandbox::builder()
            .read_beneath("/etc/hosts")
            .read_beneath("/etc/nsswitch.conf")
            .read_beneath("/etc/host.conf")
            .read_beneath("/etc/resolv.conf")
            .read_beneath("/etc/gai.conf")
            .read_beneath("/usr/lib/x86_64-linux-gnu")
            .connect("127.0.0.1:53")
            .enter()
            .unwrap();
        let addrs: Vec<_> = ("sigcap.test", 443).to_socket_addrs().expect("resolves").collect();
        assert!(addrs.iter().any(|a| a.ip() == Ipv4Addr::new(127, 0, 0, 9)), "{addrs:?}");

        let vs = sb.take_violations();
        let allowed = |d: &str| vs.iter().any(|v| v.detail().as_deref() == Some(d) && matches!(v.decision(), Decision::Allowed { .. }));
        assert!(allowed("/etc/resolv.conf"), "{vs:#?}");
        assert!(allowed("127.0.0.1:53"), "{vs:#?}");
        // A name the server does not know fails as it would unconfined.
        assert!(("nothing.test", 80).to_socket_addrs().is_err());
        // SAFETY: probing with signal 0.
        assert_eq!(unsafe { libc::kill(pid, 0) }, -1, "Landlock scopes signals");
    }
}
