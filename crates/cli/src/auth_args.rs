//! The access-control options of `serve` (`--auth jwt|static|none` and their settings), turned into a
//! [`callrecords_api::auth::Auth`].

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use callrecords_api::auth::jwt::{JwtConfig, JwtValidator, KeySource};
use callrecords_api::auth::oidc::{Oidc, OidcConfig};
use callrecords_api::auth::session::SessionKey;
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
    #[command(flatten)]
    pub oidc: OidcArgs,
}

/// The dashboard's OpenID Connect sign-in (with `--auth jwt`, or `--fake`).
#[derive(Debug, Clone, clap::Args)]
pub struct OidcArgs {
    /// Dashboard sign-in: this server's client id at the identity provider (turns the sign-in on).
    #[arg(long, env = "CALLRECORDS_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// Dashboard sign-in: the client secret (a confidential client); without it a public client (PKCE only).
    #[arg(long, env = "CALLRECORDS_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// Dashboard sign-in: this server's `/auth/callback` as browsers reach it, e.g.
    /// `https://callrecords.contoso.com/auth/callback` (default: the listen address, when it is not 0.0.0.0).
    #[arg(long, env = "CALLRECORDS_OIDC_REDIRECT_URL")]
    pub oidc_redirect_url: Option<String>,
    /// Dashboard sign-in: the issuer whose `/.well-known/openid-configuration` names the endpoints
    /// (default: the one --jwt-issuer, when it has no `{tenantid}`).
    #[arg(long, env = "CALLRECORDS_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// Dashboard sign-in: the authorization endpoint (with --oidc-token-url, instead of discovery).
    #[arg(
        long,
        env = "CALLRECORDS_OIDC_AUTHORIZE_URL",
        requires = "oidc_token_url"
    )]
    pub oidc_authorize_url: Option<String>,
    /// Dashboard sign-in: the token endpoint (with --oidc-authorize-url, instead of discovery).
    #[arg(
        long,
        env = "CALLRECORDS_OIDC_TOKEN_URL",
        requires = "oidc_authorize_url"
    )]
    pub oidc_token_url: Option<String>,
    /// Dashboard sign-in: the scopes asked for (default: `openid profile {first --jwt-audience}/.default`).
    #[arg(long, env = "CALLRECORDS_OIDC_SCOPE")]
    pub oidc_scope: Option<String>,
    /// Dashboard sign-in: a file holding a secret (32 bytes or more) that session cookies are sealed with;
    /// every node behind one address needs the same file. Default: a random key per process (sessions end
    /// when it restarts, and hold on this node only).
    #[arg(long, env = "CALLRECORDS_SESSION_KEY_FILE")]
    pub session_key_file: Option<PathBuf>,
}

impl OidcArgs {
    /// The sign-in, if `--oidc-client-id` is given. `base` is this server's own URL (`http://127.0.0.1:8080`,
    /// from the bound address), `issuers` and `audiences` what its tokens are checked against.
    pub fn build(
        &self,
        base: &str,
        issuers: &[String],
        audiences: &[String],
    ) -> anyhow::Result<Option<Oidc>> {
        let Some(client_id) = &self.oidc_client_id else {
            let stray = self.oidc_client_secret.is_some()
                || self.oidc_redirect_url.is_some()
                || self.oidc_issuer.is_some()
                || self.oidc_authorize_url.is_some()
                || self.oidc_scope.is_some()
                || self.session_key_file.is_some();
            if stray {
                bail!("the --oidc-* and --session-key-file options need --oidc-client-id");
            }
            return Ok(None);
        };
        let redirect_url = match &self.oidc_redirect_url {
            Some(u) => u.clone(),
            None if base.contains("://0.0.0.0") || base.contains("://[::]") => bail!(
                "dashboard sign-in: give --oidc-redirect-url (the listen address {base} is not one a browser can \
                 be sent back to)"
            ),
            None => format!("{base}/auth/callback"),
        };
        let discovery_issuer = match (&self.oidc_issuer, &self.oidc_authorize_url) {
            (Some(i), _) => Some(i.clone()),
            (None, Some(_)) => None,
            (None, None) => match issuers {
                [one] if !one.contains("{tenantid}") => Some(one.clone()),
                _ => bail!(
                    "dashboard sign-in: give --oidc-issuer (the issuer to discover the endpoints from), or \
                     --oidc-authorize-url and --oidc-token-url"
                ),
            },
        };
        let scope = match (&self.oidc_scope, audiences.first()) {
            (Some(s), _) => s.clone(),
            (None, Some(aud)) => format!("openid profile {}/.default", aud.trim_end_matches('/')),
            (None, None) => "openid profile".to_owned(),
        };
        let session_key = match &self.session_key_file {
            Some(path) => {
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                let secret = bytes.trim_ascii();
                if secret.len() < 32 {
                    bail!(
                        "{} holds {} bytes: a session key needs 32 or more (e.g. `head -c 32 /dev/urandom | \
                         base64 > FILE`)",
                        path.display(),
                        secret.len()
                    );
                }
                SessionKey::from_secret(secret)
            }
            None => SessionKey::random(),
        };
        let oidc = Oidc::new(OidcConfig {
            client_id: client_id.clone(),
            client_secret: self.oidc_client_secret.clone(),
            redirect_url,
            discovery_issuer,
            authorize_url: self.oidc_authorize_url.clone(),
            token_url: self.oidc_token_url.clone(),
            scope,
            session_key,
            force_secure_cookies: false,
        })?;
        Ok(Some(oidc))
    }
}

impl AuthArgs {
    /// The authentication for a server listening on `listen` (`fake`: the one of `serve --fake`, which
    /// brings its own tokens and JWKS).
    ///
    /// `base` is the server's own URL (the default of the sign-in's redirect URL); `fake_jwt` the issuers and
    /// audiences of `--fake`'s tokens (its dashboard signs in against the fake itself).
    pub async fn build(
        &self,
        listen: SocketAddr,
        base: &str,
        fake: Option<(Auth, Vec<String>, Vec<String>)>,
    ) -> anyhow::Result<Auth> {
        if let Some((auth, issuers, audiences)) = fake {
            if self.auth.is_some() {
                bail!("--fake checks its own tokens: leave out --auth");
            }
            return match self.oidc.build(base, &issuers, &audiences)? {
                Some(o) => Ok(auth.with_oidc(o)?),
                None => Ok(auth),
            };
        }
        let auth = self.build_mode(listen).await?;
        match self.oidc.build(base, &self.issuers, &self.audiences)? {
            Some(o) => auth
                .with_oidc(o)
                .context("--oidc-client-id (dashboard sign-in)"),
            None => Ok(auth),
        }
    }

    async fn build_mode(&self, listen: SocketAddr) -> anyhow::Result<Auth> {
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
