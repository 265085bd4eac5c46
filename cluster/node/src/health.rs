//! `raftkv health`: the container healthcheck.
//!
//! A scratch image has no shell or curl, so the binary checks itself: it sends
//! `GET /status` over a plain TCP connection and exits 0 on an HTTP 200, 1
//! otherwise (refused, timed out, or any other status).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Checks `addr`; returns the process exit code.
pub fn check(addr: &str, timeout: Duration) -> i32 {
    match status_code(addr, timeout) {
        Ok(200) => 0,
        Ok(code) => {
            eprintln!("health: {addr} answered HTTP {code}");
            1
        }
        Err(e) => {
            eprintln!("health: {addr}: {e}");
            1
        }
    }
}

fn status_code(addr: &str, timeout: Duration) -> std::io::Result<u16> {
    let sa = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address"))?;
    let mut s = TcpStream::connect_timeout(&sa, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(s, "GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut buf = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        let k = s.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad answer {head:?}")))
}
