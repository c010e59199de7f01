//! inetd(8) and a TFTP client in one, for the survey's tftpd row (the
//! image has neither inetd nor tftp(1)):
//!
//!     sigcap-tftp-inetd FILE OUT COMMAND [ARGS...]
//!
//! Binds a UDP socket to 127.0.0.1 (any port), queues on it a read
//! request (RRQ, octet mode) for FILE from 127.0.0.1:16969, and runs
//! COMMAND with that socket as its standard input, as inetd does for a
//! `dgram wait` service once a datagram is there. Then it is the client:
//! it takes the DATA blocks from whatever port the server answers from,
//! acknowledges each, writes them to OUT, and waits for COMMAND.
//! Prints what it got ("tftp: N bytes" or the error) and exits with
//! COMMAND's status. Every wait is bounded: 60 s for each block.
use std::io::Write as _;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::time::Duration;

const RRQ: u16 = 1;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
/// Where the client listens (any free port if this one is taken).
const CLIENT: &str = "127.0.0.1:16969";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: sigcap-tftp-inetd FILE OUT COMMAND [ARGS...]");
        std::process::exit(2);
    }
    let (file, out) = (&args[0], &args[1]);
    let server = UdpSocket::bind("127.0.0.1:0").expect("bind the service socket");
    // A fixed client port: the server's replies go to it, so the policy a
    // run suggests (a sendto rule naming it) holds for the next run too.
    let client = UdpSocket::bind(CLIENT)
        .or_else(|_| UdpSocket::bind("127.0.0.1:0"))
        .expect("bind the client socket");
    client.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut rrq = RRQ.to_be_bytes().to_vec();
    rrq.extend_from_slice(file.as_bytes());
    rrq.push(0);
    rrq.extend_from_slice(b"octet\0");
    client
        .send_to(&rrq, server.local_addr().unwrap())
        .expect("send the request");

    let fd = server.as_raw_fd();
    let mut cmd = std::process::Command::new(&args[2]);
    cmd.args(&args[3..]);
    // SAFETY: only dup2 between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        eprintln!("sigcap-tftp-inetd: cannot run {}: {e}", args[2]);
        std::process::exit(127)
    });
    drop(server);

    let mut got = Vec::new();
    let mut want: u16 = 1;
    let mut buf = [0u8; 516];
    let result = loop {
        let (n, from) = match client.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) => break format!("tftp: no answer: {e}"),
        };
        if n < 4 {
            break format!("tftp: a {n}-byte packet");
        }
        let op = u16::from_be_bytes([buf[0], buf[1]]);
        let block = u16::from_be_bytes([buf[2], buf[3]]);
        match op {
            DATA if block == want => {
                got.extend_from_slice(&buf[4..n]);
                let mut ack = ACK.to_be_bytes().to_vec();
                ack.extend_from_slice(&block.to_be_bytes());
                let _ = client.send_to(&ack, from);
                if n < 516 {
                    break format!("tftp: {} bytes", got.len());
                }
                want = want.wrapping_add(1);
            }
            DATA => {}
            ERROR => {
                let msg = String::from_utf8_lossy(&buf[4..n]);
                break format!("tftp: error {block}: {}", msg.trim_end_matches('\0'));
            }
            _ => break format!("tftp: opcode {op}"),
        }
    };
    if !got.is_empty() {
        std::fs::write(out, &got).expect("write OUT");
    }
    println!("{result}");
    let _ = std::io::stdout().flush();
    let status = child.wait().expect("wait for the command");
    std::process::exit(match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (_, Some(s)) => 128 + s,
        _ => 1,
    });
}
