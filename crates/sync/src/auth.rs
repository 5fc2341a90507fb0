//! App-only tokens from Entra ID (client credentials): `POST {authority}/{tenant}/oauth2/v2.0/token` with
//! `scope={graph}/.default` and either the client secret or a certificate's signed `client_assertion`
//! (RS256, `x5t` / `x5t#S256` headers naming the certificate, `aud` = the token endpoint). A token is cached
//! until shortly before it expires and dropped on a 401 so the next request fetches a new one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use sha1::Digest;

/// `client_assertion_type` for certificate credentials.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the app proves who it is.
#[derive(Clone)]
pub enum Credential {
    /// A client secret.
    Secret(String),
    /// A certificate registered for the app and its RSA private key (PEM).
    Certificate {
        /// The certificate's DER bytes (hashed into the `x5t` headers).
        cert_der: Vec<u8>,
        /// The RSA private key, PKCS#1 DER.
        key_der: Vec<u8>,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Secret(_) => f.write_str("Secret(<redacted>)"),
            Credential::Certificate { .. } => f.write_str("Certificate(<redacted>)"),
        }
    }
}

impl Credential {
    /// A certificate credential from PEM text: the certificate and the key may be in one file
    /// (`key_pem` `None`) or two.
    pub fn certificate(cert_pem: &str, key_pem: Option<&str>) -> Result<Credential, AuthError> {
        let cert_der = pem_block(cert_pem, "CERTIFICATE").ok_or_else(|| {
            AuthError::Config("--certificate holds no PEM CERTIFICATE block".into())
        })?;
        let key_text = key_pem.unwrap_or(cert_pem);
        let key_der = if let Some(der) = pem_block(key_text, "RSA PRIVATE KEY") {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            rsa::PrivateKey::from_pkcs1_der(&der)
                .map_err(|e| AuthError::Config(format!("the certificate key: {e}")))?;
            der
        } else if let Some(der) = pem_block(key_text, "PRIVATE KEY") {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::pkcs8::DecodePrivateKey;
            let key = rsa::PrivateKey::from_pkcs8_der(&der).map_err(|e| {
                AuthError::Config(format!("the certificate key is not an RSA key: {e}"))
            })?;
            key.to_pkcs1_der()
                .map_err(|e| AuthError::Config(format!("the certificate key: {e}")))?
                .as_bytes()
                .to_vec()
        } else {
            return Err(AuthError::Config(
                "no PEM PRIVATE KEY (or RSA PRIVATE KEY) block for the certificate; give --certificate-key"
                    .into(),
            ));
        };
        Ok(Credential::Certificate { cert_der, key_der })
    }
}

/// The text of the first PEM section with this label, BEGIN and END lines included.
fn pem_section(text: &str, label: &str) -> Option<String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = text[start..].find(&end)? + start + end.len();
    Some(format!("{}\n", &text[start..stop]))
}

/// The decoded bytes of the first PEM block with this label.
fn pem_block(text: &str, label: &str) -> Option<Vec<u8>> {
    let section = pem_section(text, label)?;
    let body: String = section
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.trim().chars())
        .collect();
    STANDARD.decode(body).ok()
}

/// The app-only scope of a Graph root: `{graph_url}/.default`.
pub fn default_scope(graph_url: &str) -> String {
    format!("{}/.default", graph_url.trim_end_matches('/'))
}

/// Why no token could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Config(String),
    /// Entra ID refused (its `error` code and description; never the secret).
    #[error("token endpoint refused the credentials ({status}): {code}: {description}")]
    Refused {
        status: u16,
        code: String,
        description: String,
    },
    #[error("token endpoint unreachable: {0}")]
    Transport(String),
}

/// Transport failures, 429 and 5xx from the token endpoint are worth another try.
fn retryable(e: &AuthError) -> bool {
    match e {
        AuthError::Transport(_) => true,
        AuthError::Refused { status, .. } => *status == 429 || *status >= 500,
        AuthError::Config(_) => false,
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize, Default)]
struct EntraError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

#[derive(Debug, Clone)]
struct Cached {
    token: String,
    refresh_at: Instant,
}

/// Tokens for one (authority, tenant, client), cached.
#[derive(Debug)]
pub struct TokenSource {
    http: reqwest::Client,
    endpoint: String,
    client_id: String,
    scope: String,
    credential: Credential,
    cache: Mutex<Option<Cached>>,
    refresh: tokio::sync::Mutex<()>,
    fetched: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl TokenSource {
    /// Tokens from `{authority}/{tenant}/oauth2/v2.0/token` for `scope` (Graph's is
    /// `{graph_url}/.default`: [`default_scope`]).
    pub fn new(
        http: reqwest::Client,
        authority: &str,
        tenant: &str,
        client_id: &str,
        scope: &str,
        credential: Credential,
    ) -> TokenSource {
        TokenSource {
            http,
            endpoint: format!(
                "{}/{tenant}/oauth2/v2.0/token",
                authority.trim_end_matches('/')
            ),
            client_id: client_id.to_string(),
            scope: scope.to_string(),
            credential,
            cache: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
            fetched: Default::default(),
        }
    }

    /// How many tokens were fetched.
    pub fn fetched(&self) -> u64 {
        self.fetched.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A valid token (cached, or fetched now).
    pub async fn token(&self) -> Result<String, AuthError> {
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        let _one = self.refresh.lock().await;
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        *lock(&self.cache) = Some(fresh);
        Ok(token)
    }

    /// Forget the cached token if it is `token` (a 401 said it is no longer good).
    pub fn invalidate(&self, token: &str) {
        let mut c = lock(&self.cache);
        if c.as_ref().is_some_and(|c| c.token == token) {
            *c = None;
        }
    }

    fn cached(&self) -> Option<String> {
        lock(&self.cache)
            .as_ref()
            .filter(|c| Instant::now() < c.refresh_at)
            .map(|c| c.token.clone())
    }

    async fn fetch(&self) -> Result<Cached, AuthError> {
        let mut last = None;
        for attempt in 0..5u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
            match self.fetch_once().await {
                Ok(c) => return Ok(c),
                Err(e) if retryable(&e) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| AuthError::Transport("no attempt".into())))
    }

    fn form(&self) -> Result<Vec<(&'static str, String)>, AuthError> {
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", self.client_id.clone()),
            ("scope", self.scope.clone()),
        ];
        match &self.credential {
            Credential::Secret(s) => form.push(("client_secret", s.clone())),
            Credential::Certificate { cert_der, key_der } => {
                form.push(("client_assertion_type", JWT_BEARER.to_string()));
                form.push(("client_assertion", self.assertion(cert_der, key_der)?));
            }
        }
        Ok(form)
    }

    /// The signed `client_assertion` Entra ID expects (valid 10 minutes).
    fn assertion(&self, cert_der: &[u8], key_der: &[u8]) -> Result<String, AuthError> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.x5t = Some(URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(cert_der)));
        header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(cert_der)));
        let now = jiff::Timestamp::now().as_second();
        let claims = serde_json::json!({
            "aud": self.endpoint,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + 600,
        });
        let key = jsonwebtoken::EncodingKey::from_rsa_der(key_der);
        jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|e| AuthError::Config(format!("signing the client assertion: {e}")))
    }

    async fn fetch_once(&self) -> Result<Cached, AuthError> {
        let body = serde_urlencoded::to_string(self.form()?)
            .map_err(|e| AuthError::Config(e.to_string()))?;
        let started = Instant::now();
        let resp = self
            .http
            .post(&self.endpoint)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| AuthError::Transport(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| AuthError::Transport(e.without_url().to_string()))?;
        if status != 200 {
            let e: EntraError = serde_json::from_slice(&bytes).unwrap_or_default();
            return Err(AuthError::Refused {
                status,
                code: e.error,
                description: e.error_description.lines().next().unwrap_or("").to_string(),
            });
        }
        let t: TokenResponse = serde_json::from_slice(&bytes).map_err(|e| AuthError::Refused {
            status,
            code: "invalid_response".into(),
            description: e.to_string(),
        })?;
        self.fetched
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let life = Duration::from_secs(t.expires_in.unwrap_or(3600));
        // Refresh 5 minutes before expiry (or at half-life for short-lived tokens).
        let early = Duration::from_secs(300).min(life / 2);
        Ok(Cached {
            token: t.access_token,
            refresh_at: started + life - early,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_not_debug_printed() {
        let c = Credential::Secret("hunter2".into());
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn certificate_credentials_from_pem() {
        let cert = include_str!("../../fake/testdata/client-cert.pem");
        let key = include_str!("../../fake/testdata/client-key.pem");
        assert!(Credential::certificate(cert, Some(key)).is_ok());
        let both = format!("{cert}{key}");
        assert!(Credential::certificate(&both, None).is_ok());
        assert!(Credential::certificate(cert, None).is_err());
    }

    #[test]
    fn pem_blocks() {
        let pem = "junk\n-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_block(pem, "CERTIFICATE").unwrap(), vec![0, 1, 2, 3]);
        assert!(pem_block(pem, "PRIVATE KEY").is_none());
        assert!(Credential::certificate(pem, None).is_err());
    }
}
