//! The access-control options of `serve` (`--auth jwt|static|none` and their settings), turned into a
//! [`callrecords_api::auth::Auth`].

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use callrecords_api::auth::jwt::{JwtConfig, JwtValidator, KeySource};
use callrecords_api::auth::tokens::StaticTokens;
use callrecords_api::auth::{Auth, Mode};

/// How requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthKind {
    /// Bearer JWTs (RS256 / ES256) checked against a JWKS.
    Jwt,
    /// Bearer tokens listed (as SHA-256 hashes) in `--tokens-file`.
    Static,
    /// No authentication: only on a loopback listen address.
    None,
}

/// The `--auth` options of `serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// How requests are authenticated (default: none, which is refused off loopback).
    #[arg(long, value_enum, env = "CALLRECORDS_AUTH")]
    pub auth: Option<AuthKind>,
    /// (--auth jwt) An accepted `iss` (repeatable); `{tenantid}` stands for the token's `tid`, e.g.
    /// `https://login.microsoftonline.com/{tenantid}/v2.0`.
    #[arg(
        long = "jwt-issuer",
        env = "CALLRECORDS_JWT_ISSUER",
        value_delimiter = ','
    )]
    pub issuers: Vec<String>,
    /// (--auth jwt) An accepted `aud` (repeatable): the application id URI or client id of this API.
    #[arg(
        long = "jwt-audience",
        env = "CALLRECORDS_JWT_AUDIENCE",
        value_delimiter = ','
    )]
    pub audiences: Vec<String>,
    /// (--auth jwt) Where the signing keys are published (the IdP's jwks_uri).
    #[arg(long, env = "CALLRECORDS_JWKS_URL", conflicts_with = "jwks_file")]
    pub jwks_url: Option<String>,
    /// (--auth jwt) A JWKS file.
    #[arg(long, env = "CALLRECORDS_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,
    /// (--auth jwt) Seconds of clock skew allowed on exp / nbf.
    #[arg(long, default_value_t = 60)]
    pub jwt_leeway: u64,
    /// (--auth jwt) Shortest seconds between two JWKS fetches caused by an unknown kid.
    #[arg(long, default_value_t = 30, hide = true)]
    pub jwks_min_refresh: u64,
    /// (--auth static) The tokens file: `SHA256-HEX TENANT ROLE,ROLE` a line.
    #[arg(long, env = "CALLRECORDS_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,
}

impl AuthArgs {
    /// The authentication for a server listening on `listen` (`fake`: the one of `serve --fake`, which
    /// brings its own tokens and JWKS).
    pub async fn build(&self, listen: SocketAddr, fake: Option<Auth>) -> anyhow::Result<Auth> {
        if let Some(auth) = fake {
            if self.auth.is_some() {
                bail!("--fake checks its own tokens: leave out --auth");
            }
            return Ok(auth);
        }
        match self.auth.unwrap_or(AuthKind::None) {
            AuthKind::None => {
                if !listen.ip().is_loopback() {
                    bail!(
                        "refusing to serve {listen} without authentication: every record of every tenant \
                         would be open to the network. Use --auth jwt or --auth static, or listen on a \
                         loopback address (127.0.0.1, [::1])."
                    );
                }
                Ok(Auth::none())
            }
            AuthKind::Static => {
                let path = self
                    .tokens_file
                    .as_ref()
                    .context("--auth static needs --tokens-file FILE")?;
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let tokens = StaticTokens::parse(&text)
                    .with_context(|| format!("reading {}", path.display()))?;
                if tokens.is_empty() {
                    bail!("{} holds no token", path.display());
                }
                Ok(Auth::new(Mode::Static(tokens)))
            }
            AuthKind::Jwt => {
                if self.issuers.is_empty() {
                    bail!("--auth jwt needs --jwt-issuer");
                }
                if self.audiences.is_empty() {
                    bail!("--auth jwt needs --jwt-audience");
                }
                let keys = match (&self.jwks_url, &self.jwks_file) {
                    (Some(u), None) => KeySource::Url(u.clone()),
                    (None, Some(f)) => KeySource::File(f.clone()),
                    _ => bail!("--auth jwt needs one of --jwks-url or --jwks-file"),
                };
                let mut cfg = JwtConfig::new(self.issuers.clone(), self.audiences.clone(), keys);
                cfg.leeway_secs = self.jwt_leeway;
                cfg.min_refresh = std::time::Duration::from_secs(self.jwks_min_refresh);
                let v = JwtValidator::new(cfg).await.context("loading the JWKS")?;
                Ok(Auth::new(Mode::Jwt(v)))
            }
        }
    }
}
