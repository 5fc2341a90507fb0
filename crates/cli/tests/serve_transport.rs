//! Black-box tests of `serve`'s access modes, TLS and limits: the binary, real sockets.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{Server, bin, free_port, request};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/auth")
        .join(name)
}

fn sha256_hex(s: &str) -> String {
    // The same hash `--auth static` expects; computed by the library under test's helper would prove
    // nothing, so this goes through the `sha256sum` tool.
    let mut child = std::process::Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

const TENANT: &str = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa";

/// A tokens file with `reader` (Read.All) and `writer` (Read.All + Ingest).
fn tokens_file(dir: &Path) -> PathBuf {
    let p = dir.join("tokens.txt");
    std::fs::write(
        &p,
        format!(
            "# test tokens\n{} {TENANT} CallRecords.Read.All\n{} {TENANT} CallRecords.Read.All,CallRecords.Ingest\n",
            sha256_hex("reader"),
            sha256_hex("writer")
        ),
    )
    .unwrap();
    p
}

#[test]
fn without_auth_only_loopback_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["serve", "--listen", &format!("0.0.0.0:{}", free_port())])
        .arg("--data")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without authentication"), "{err}");
    // --auth jwt without its settings refuses to start too.
    let out = bin()
        .args(["serve", "--auth", "jwt", "--listen", "127.0.0.1:0"])
        .arg("--data")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--jwt-issuer"));
}

#[test]
fn static_tokens_guard_the_routes() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = tokens_file(dir.path());
    let s = common::spawn(
        &[
            "serve",
            "--auth",
            "static",
            "--tokens-file",
            tokens.to_str().unwrap(),
        ],
        &dir.path().join("data"),
        "/healthz",
    );
    let list = "/v1.0/communications/callRecords";
    let (status, body) = request(s.1, "GET", list, &[], "").unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("InvalidAuthenticationToken"), "{body}");
    let (status, _) = request(s.1, "GET", list, &[("Authorization", "Bearer nope")], "").unwrap();
    assert_eq!(status, 401);
    let (status, body) =
        request(s.1, "GET", list, &[("Authorization", "Bearer reader")], "").unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = request(
        s.1,
        "POST",
        "/ingest/callRecords",
        &[("Authorization", "Bearer reader")],
        "{}",
    )
    .unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("accessDenied"), "{body}");
}

/// Starts `serve` with `args` and waits until `/healthz` answers over TLS.
fn spawn_tls(args: &[&str], data: &Path, cert: &Path, key: &Path) -> Server {
    let port = free_port();
    #[allow(clippy::zombie_processes)] // owned by `Server`, whose drop kills and waits
    let child = bin()
        .args(args)
        .arg("--data")
        .arg(data)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Server(child, port);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("TLS server did not start");
}

fn client_config(alpn: &[u8]) -> Arc<tokio_rustls::rustls::ClientConfig> {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    let ca = std::fs::read(fixture("tls/ca.pem")).unwrap();
    for c in rustls_pemfile_certs(&ca) {
        roots.add(c).unwrap();
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(cfg)
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem)
        .map(Result::unwrap)
        .collect()
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn tls_connect(port: u16, alpn: &[u8]) -> Tls {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(client_config(alpn))
        .connect(name, tcp)
        .await
        .unwrap()
}

fn peer_cert(io: &Tls) -> Vec<u8> {
    io.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

async fn h2_get(
    sender: &mut hyper::client::conn::http2::SendRequest<http_body_util::Empty<axum::body::Bytes>>,
    path: &str,
) -> u16 {
    let req = hyper::Request::get(format!("https://127.0.0.1{path}"))
        .body(http_body_util::Empty::new())
        .unwrap();
    sender.send_request(req).await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_http1_and_http2_and_reloads_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(fixture("tls/server1.pem"), &cert).unwrap();
    std::fs::copy(fixture("tls/server1.key"), &key).unwrap();
    let s = spawn_tls(&["serve"], &dir.path().join("data"), &cert, &key);
    let server1 = rustls_pemfile_certs(&std::fs::read(fixture("tls/server1.pem")).unwrap());
    let server2 = rustls_pemfile_certs(&std::fs::read(fixture("tls/server2.pem")).unwrap());

    // HTTP/1.1 with reqwest and the test CA.
    let ca =
        reqwest::Certificate::from_pem(&std::fs::read(fixture("tls/ca.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{}/healthz", s.1);
    let mut ok = false;
    for _ in 0..100 {
        if let Ok(r) = client.get(&url).send().await {
            assert_eq!(r.status(), 200);
            assert_eq!(r.version(), reqwest::Version::HTTP_11);
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "no HTTPS answer");
    // Plain HTTP on the TLS port is not served.
    assert!(
        request(s.1, "GET", "/healthz", &[], "")
            .map(|r| r.0)
            .unwrap_or(0)
            != 200
    );

    // HTTP/2 by ALPN, on a connection kept open across the reload.
    let io = tls_connect(s.1, b"h2").await;
    assert_eq!(io.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(peer_cert(&io), server1[0].to_vec());
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(io),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    assert_eq!(h2_get(&mut sender, "/healthz").await, 200);

    // Replace the files, SIGHUP: new connections get the new certificate...
    std::fs::copy(fixture("tls/server2.pem"), &cert).unwrap();
    std::fs::copy(fixture("tls/server2.key"), &key).unwrap();
    let pid = i32::try_from(s.0.id()).unwrap();
    assert_eq!(send_signal(pid, libc::SIGHUP), 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let io = tls_connect(s.1, b"http/1.1").await;
        if peer_cert(&io) == server2[0].to_vec() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the certificate was not reloaded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...and the connection opened before the reload still works.
    assert_eq!(h2_get(&mut sender, "/healthz").await, 200);
    // A reload with a broken key keeps the current certificate and the server up.
    std::fs::write(&key, "not a key").unwrap();
    assert_eq!(send_signal(pid, libc::SIGHUP), 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let io = tls_connect(s.1, b"http/1.1").await;
    assert_eq!(peer_cert(&io), server2[0].to_vec());
    assert_eq!(h2_get(&mut sender, "/healthz").await, 200);
}

/// `kill(2)` through the `kill` command (the workspace forbids `unsafe`).
fn send_signal(pid: i32, sig: i32) -> i32 {
    let name = if sig == libc::SIGHUP { "-HUP" } else { "-TERM" };
    let st = std::process::Command::new("kill")
        .arg(name)
        .arg(pid.to_string())
        .status()
        .unwrap();
    if st.success() { 0 } else { -1 }
}

/// Sends a request head announcing a body of `len` bytes, and `sent` of them.
fn start_upload(port: u16, token: &str, len: usize, sent: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /ingest/callRecords HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n{sent}"
    )
    .unwrap();
    s.flush().unwrap();
    s
}

fn read_all(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn spawn_limited(dir: &Path, extra: &[&str]) -> Server {
    let tokens = tokens_file(dir);
    let mut args = vec![
        "serve",
        "--auth",
        "static",
        "--tokens-file",
        tokens.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::spawn(&args, &dir.join("data"), "/healthz")
}

/// A raw HTTP/1.1 answer (`Content-Length` body) carries a `request-id` header equal to the body's
/// `innerError.request-id`, and echoes `client` in the header and the body.
fn assert_ids_match(text: &str, client: Option<&str>) {
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let body: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"));
    let inner = &body["error"]["innerError"];
    let id = header("request-id").unwrap_or_else(|| panic!("no request-id header: {text}"));
    assert!(!id.is_empty());
    assert_eq!(inner["request-id"].as_str(), Some(id.as_str()), "{text}");
    assert_eq!(header("client-request-id").as_deref(), client, "{text}");
    assert_eq!(inner["client-request-id"].as_str(), client, "{text}");
}

#[test]
fn limits_answer_in_graphs_shape() {
    let dir = tempfile::tempdir().unwrap();
    let s = spawn_limited(
        dir.path(),
        &[
            "--max-requests-per-client",
            "1",
            "--header-read-timeout",
            "1",
            "--body-idle-timeout",
            "1",
            "--max-header-bytes",
            "4096",
        ],
    );
    // Header block over the limit: 431 with Graph's body.
    let big = "x".repeat(6000);
    let (status, body) = request(s.1, "GET", "/healthz", &[("X-Big", &big)], "").unwrap();
    assert_eq!(status, 431, "{body}");
    assert!(body.contains("requestHeaderFieldsTooLarge"), "{body}");
    // ...with a request-id header, the same id in the body, and the client's id echoed.
    let mut raw = TcpStream::connect(("127.0.0.1", s.1)).unwrap();
    write!(
        raw,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nclient-request-id: c-431\r\nX-Big: {big}\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let text = read_all(raw);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    assert_ids_match(&text, Some("c-431"));

    // One request in flight (an upload that has not finished) → the next from the same address is 429.
    let pending = start_upload(s.1, "writer", 100, "{");
    std::thread::sleep(Duration::from_millis(200));
    let mut second = TcpStream::connect(("127.0.0.1", s.1)).unwrap();
    write!(
        second,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let text = read_all(second);
    assert!(text.starts_with("HTTP/1.1 429"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 1"),
        "{text}"
    );
    assert!(text.contains("activityLimitReached"), "{text}");
    assert_ids_match(&text, None);
    let mut third = TcpStream::connect(("127.0.0.1", s.1)).unwrap();
    write!(
        third,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nclient-request-id: c-429\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let text = read_all(third);
    assert!(text.starts_with("HTTP/1.1 429"), "{text}");
    assert_ids_match(&text, Some("c-429"));
    // The stalled upload is cut off after the body idle timeout: 408.
    let text = read_all(pending);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("requestTimeout"), "{text}");

    // Slow-loris: headers that never end are dropped after the header read timeout.
    let mut slow = TcpStream::connect(("127.0.0.1", s.1)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(slow, "GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 512];
    let n = slow.read(&mut buf).unwrap_or(0);
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "the slow connection stayed open {elapsed:?}"
    );
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    // The server still answers.
    assert_eq!(request(s.1, "GET", "/healthz", &[], "").unwrap().0, 200);
}

#[test]
fn shutdown_lets_in_flight_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spawn_limited(dir.path(), &[]);
    let rec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/graph/examples/v1.0__callrecords-callrecord-get__response-1.json"
    ))
    .unwrap();
    let (head, tail) = rec.split_at(10);
    let mut pending = start_upload(s.1, "writer", rec.len(), head);
    std::thread::sleep(Duration::from_millis(300));
    let pid = i32::try_from(s.0.id()).unwrap();
    assert_eq!(send_signal(pid, libc::SIGTERM), 0);
    std::thread::sleep(Duration::from_millis(300));
    // New connections are no longer accepted...
    assert!(request(s.1, "GET", "/healthz", &[], "").is_err());
    // ...but the upload in flight completes.
    pending.write_all(tail.as_bytes()).unwrap();
    let text = read_all(pending);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let status = wait_exit(&mut s.0, Duration::from_secs(20));
    assert_eq!(status, Some(0));
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return st.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}
