//! Shows the fallback on any supported system: after `enter()` the program
//! is confined, yet reading an allowed file, listing an allowed directory
//! and connecting to an allowed address still work through the broker,
//! while everything else fails with the original error.
//!
//! ```text
//! cargo run -p sigcap --example fallback
//! ```
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("sigcap-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("hello.txt"), "hello from beneath the root\n")?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let sandbox = sigcap::Sandbox::builder()
        .write_beneath(&dir)
        .connect(&addr.to_string())
        .log_json(std::os::fd::AsFd::as_fd(&std::io::stderr()))
        .mode(sigcap::Mode::Fallback)
        .enter()?;
    // Threads after enter: the broker is forked by enter().
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"pong").unwrap();
    });
    println!("entered the sandbox with backend {}", sandbox.backend().name());

    let text = std::fs::read_to_string(dir.join("hello.txt"))?;
    print!("read via broker: {text}");
    std::fs::write(dir.join("new.txt"), "created inside the sandbox")?;
    let names: Vec<_> = std::fs::read_dir(&dir)?.map(|e| e.unwrap().file_name()).collect();
    println!("listed via broker: {names:?}");
    let mut reply = String::new();
    TcpStream::connect(addr)?.read_to_string(&mut reply)?;
    println!("connected via broker, server said {reply:?}");
    match std::fs::read("/etc/passwd") {
        Ok(_) => println!("unexpected: /etc/passwd was readable"),
        Err(e) => println!("/etc/passwd refused as the policy says: {e}"),
    }
    server.join().unwrap();
    println!("{:?}", sandbox.stats());
    Ok(())
}
