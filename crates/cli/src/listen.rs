//! The listener of `serve`: plain TCP or TLS (rustls; HTTP/1.1 and HTTP/2 by ALPN), the transport limits,
//! and graceful shutdown.
//!
//! * TLS: `--tls-cert` / `--tls-key` (PEM). SIGHUP reads both files again; new connections use the new
//!   certificate, open ones keep theirs (nothing is dropped). A reload that fails is logged and the old
//!   certificate stays.
//! * Limits: at most `max_connections` open connections (beyond that, connections wait in the kernel's
//!   backlog until one closes); at most `max_connections_per_client` per client address (more are
//!   closed at once); at most `max_requests_per_client` requests in flight per client address (more are
//!   answered 429 `activityLimitReached` with `Retry-After`); a header block over `max_header_bytes` is
//!   answered 431; headers must arrive within `header_read_timeout` (slow-loris) and the TLS handshake
//!   within the same time; a request body that stalls for `body_idle_timeout` is cut off (408).
//! * Shutdown (SIGINT / SIGTERM): stop accepting, let in-flight requests finish (up to `shutdown_grace`),
//!   then return.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use callrecords_api::ApiError;
use callrecords_api::error::ErrorCode;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::rustls::ServerConfig;
use tower::Service;

/// The transport limits.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Most open connections at once (more wait in the backlog).
    #[arg(long, default_value_t = 4096)]
    pub max_connections: usize,
    /// Most open connections from one client address (more are closed at once).
    #[arg(long, default_value_t = 1024)]
    pub max_connections_per_client: usize,
    /// Most requests in flight from one client address (more are answered 429 with Retry-After).
    #[arg(long, default_value_t = 256)]
    pub max_requests_per_client: usize,
    /// Largest request header block, in bytes (431 beyond).
    #[arg(long, default_value_t = 32 * 1024)]
    pub max_header_bytes: usize,
    /// Seconds a client has to send a request's headers (and to finish the TLS handshake).
    #[arg(long, default_value_t = 10)]
    pub header_read_timeout: u64,
    /// Seconds a request body may stall between two chunks (408 beyond).
    #[arg(long, default_value_t = 30)]
    pub body_idle_timeout: u64,
    /// Seconds in-flight requests get to finish on shutdown.
    #[arg(long, default_value_t = 30)]
    pub shutdown_grace: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            max_connections_per_client: 1024,
            max_requests_per_client: 256,
            max_header_bytes: 32 * 1024,
            header_read_timeout: 10,
            body_idle_timeout: 30,
            shutdown_grace: 30,
        }
    }
}

/// `--tls-cert` / `--tls-key`.
#[derive(Debug, Clone, clap::Args)]
pub struct TlsArgs {
    /// Serve HTTPS with this certificate chain (PEM); reloaded on SIGHUP.
    #[arg(long, env = "CALLRECORDS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "CALLRECORDS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// A certificate that can be replaced while serving.
#[derive(Debug)]
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<ServerConfig>>,
}

impl Tls {
    /// Reads the certificate and key.
    pub fn open(cert: PathBuf, key: PathBuf) -> anyhow::Result<Self> {
        let config = tls_config(&cert, &key)?;
        Ok(Tls {
            cert,
            key,
            current: RwLock::new(Arc::new(config)),
        })
    }

    /// Reads the files again; the old certificate stays when they do not make a valid one.
    pub fn reload(&self) -> anyhow::Result<()> {
        let config = tls_config(&self.cert, &self.key)?;
        if let Ok(mut c) = self.current.write() {
            *c = Arc::new(config);
        }
        Ok(())
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let config = self
            .current
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|e| e.into_inner().clone());
        tokio_rustls::TlsAcceptor::from(config)
    }
}

fn tls_config(cert: &PathBuf, key: &PathBuf) -> anyhow::Result<ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no certificate", cert.display());
    }
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not make a pair")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Counts per client address, with a cap.
#[derive(Debug, Default)]
struct PerClient {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One unit of a [`PerClient`] count, given back on drop.
struct Slot {
    table: Arc<PerClient>,
    ip: IpAddr,
}

impl PerClient {
    fn take(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<Slot> {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = c.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(Slot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.table.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = c.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.remove(&self.ip);
            }
        }
    }
}

#[derive(Debug, Clone)]
struct RequestLimits {
    in_flight: Arc<PerClient>,
    max_requests: usize,
    max_header_bytes: usize,
}

/// Header size and in-flight requests per client, answered in Graph's shape.
async fn request_limits(State(l): State<RequestLimits>, req: Request, next: Next) -> Response {
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + req.uri().to_string().len();
    if header_bytes > l.max_header_bytes {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::RequestHeaderFieldsTooLarge,
            format!(
                "The request line and headers exceed the limit of {} bytes.",
                l.max_header_bytes
            ),
        )
        .into_response_for(req.headers());
    }
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let _slot = match ip {
        Some(ip) => match l.in_flight.take(ip, l.max_requests) {
            Some(s) => Some(s),
            None => {
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::ActivityLimitReached,
                    format!(
                        "Too many requests in flight from this client (the limit is {}); retry shortly.",
                        l.max_requests
                    ),
                );
                e.retry_after = Some(1);
                return e.into_response_for(req.headers());
            }
        },
        None => None,
    };
    next.run(req).await
}

/// `app` with the request-level limits.
pub fn with_limits(app: Router, limits: &Limits) -> Router {
    let l = RequestLimits {
        in_flight: Arc::default(),
        max_requests: limits.max_requests_per_client.max(1),
        max_header_bytes: limits.max_header_bytes,
    };
    app.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        Duration::from_secs(limits.body_idle_timeout.max(1)),
    ))
    .layer(axum::middleware::from_fn_with_state(l, request_limits))
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<Tls>>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let app = with_limits(app, &limits);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let header_timeout = Duration::from_secs(limits.header_read_timeout.max(1));
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        // hyper's own cap (its 431 has no body) sits above ours, which answers in Graph's shape.
        .max_buf_size((limits.max_header_bytes + 16 * 1024).max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes * 2).unwrap_or(u32::MAX));
    let builder = Arc::new(builder);
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let per_client = Arc::new(PerClient::default());
    let graceful = GracefulShutdown::new();
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    tokio::pin!(shutdown);
    loop {
        #[cfg(unix)]
        let hup_recv = hup.recv();
        #[cfg(not(unix))]
        let hup_recv = std::future::pending::<Option<()>>();
        let permit = tokio::select! {
            () = &mut shutdown => break,
            _ = hup_recv => {
                match &tls {
                    Some(t) => match t.reload() {
                        Ok(()) => tracing::info!("callrecords: TLS certificate reloaded"),
                        Err(e) => tracing::warn!("callrecords: TLS reload failed, the old certificate stays: {e:#}"),
                    },
                    None => tracing::warn!("callrecords: SIGHUP ignored (no TLS)"),
                }
                continue;
            }
            p = connections.clone().acquire_owned() => p?,
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = per_client.take(peer.ip(), limits.max_connections_per_client.max(1))
        else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _slot = slot;
            match tls {
                None => serve_io(stream, peer, app, &builder, watcher).await,
                Some(t) => {
                    let accepted =
                        tokio::time::timeout(header_timeout, t.acceptor().accept(stream)).await;
                    match accepted {
                        Ok(Ok(io)) => serve_io(io, peer, app, &builder, watcher).await,
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(limits.shutdown_grace)) => {
            tracing::warn!("callrecords: shutdown grace period over, closing the remaining connections");
        }
    }
    Ok(())
}

async fn serve_io<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    builder: &auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut app = app.clone();
            async move { app.call(req.map(axum::body::Body::new)).await }
        });
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .into_owned();
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}
