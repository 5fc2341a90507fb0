//! What the black-box tests share: the binary, a server process that dies with its handle, and a minimal
//! HTTP/1.1 client (one request per connection, chunked bodies decoded). Each test file uses a part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `callrecords` binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_callrecords"))
}

/// A server process and its port; dropping it kills and reaps the process.
pub struct Server(pub Child, pub u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nobody listens on.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `callrecords ARGS --data DATA --listen 127.0.0.1:PORT` and waits (up to 60 s) until `GET probe`
/// answers 200.
pub fn spawn(args: &[&str], data: &Path, probe: &str) -> Server {
    let data = data.to_string_lossy();
    spawn_on(args, &["--data", &data], probe)
}

/// Like [`spawn`], with the store named by `store` (`--data DIR` or `--database-url URL`).
#[allow(clippy::zombie_processes)] // the child is owned by `Server`, whose drop kills and waits
pub fn spawn_on(args: &[&str], store: &[&str], probe: &str) -> Server {
    let port = free_port();
    let child = bin()
        .args(args)
        .args(store)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("CALLRECORDS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(
            if std::env::var_os("CALLRECORDS_TEST_SERVER_STDERR").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            },
        )
        .spawn()
        .unwrap();
    let mut child = child;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok((200, _)) = request(port, "GET", probe, &[], "") {
            return Server(child, port);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited ({status}) before it answered: {args:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server did not start: {args:?}");
}

/// One HTTP/1.1 request to the loopback `port`: status and body (a chunked body decoded). The headers are
/// sent as given, plus `Content-Type: application/json` when they name none.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut extra = String::new();
    for (k, v) in headers {
        extra.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        extra.push_str("Content-Type: application/json\r\n");
    }
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Ok((status, body.to_owned()));
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].strip_prefix("\r\n").unwrap_or(&after[n..]);
    }
    Ok((status, out))
}
