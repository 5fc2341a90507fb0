//! Bearer JWTs (`--auth jwt`): RS256 or ES256 signatures from a JWKS (a URL, a file, or the fake's own
//! keys), `iss` against the configured issuers (`{tenantid}` in one stands for the token's `tid`, as in
//! Entra's multi-tenant metadata), `aud` against the configured audiences, `exp` / `nbf` with a small
//! leeway. The JWKS is cached; a token naming an unknown `kid` refetches it, at most once per
//! [`JwtConfig::min_refresh`] (so a flood of made-up `kid`s costs one fetch, not one per request).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::{AuthError, Principal};

/// Where the signing keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A JWKS URL (an identity provider's `jwks_uri`).
    Url(String),
    /// A JWKS file, read again when a token names an unknown `kid`.
    File(PathBuf),
    /// A fixed JWKS document (`serve --fake`: its own keys).
    Fixed(Value),
}

/// What a token must satisfy.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// Accepted `iss` values; `{tenantid}` stands for the token's `tid`.
    pub issuers: Vec<String>,
    /// Accepted `aud` values (one must match).
    pub audiences: Vec<String>,
    /// The keys.
    pub keys: KeySource,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway_secs: u64,
    /// Shortest time between two JWKS fetches caused by unknown `kid`s.
    pub min_refresh: Duration,
}

impl JwtConfig {
    /// A config with the default leeway (60 s) and refresh interval (30 s).
    pub fn new(issuers: Vec<String>, audiences: Vec<String>, keys: KeySource) -> Self {
        JwtConfig {
            issuers,
            audiences,
            keys,
            leeway_secs: 60,
            min_refresh: Duration::from_secs(30),
        }
    }
}

struct Key {
    alg: Algorithm,
    key: DecodingKey,
}

/// Validates bearer JWTs.
pub struct JwtValidator {
    cfg: JwtConfig,
    keys: RwLock<HashMap<String, Key>>,
    /// When the keys were last fetched (`None`: never, or the first fetch failed).
    fetched: tokio::sync::Mutex<Option<Instant>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<String> = self
            .keys
            .read()
            .map(|k| k.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("JwtValidator")
            .field("cfg", &self.cfg)
            .field("kids", &kids)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    appid: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    exp: i64,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
}

/// What an OpenID Connect id token says about the signed-in user ([`JwtValidator::validate_id_token`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdToken {
    /// The user (`sub`).
    pub sub: String,
    /// The tenant (`tid`).
    pub tenant: String,
    /// `name`.
    pub name: Option<String>,
    /// `preferred_username`.
    pub username: Option<String>,
}

/// Why a JWKS could not be had.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("fetching the JWKS: {0}")]
    Fetch(String),
    #[error("reading the JWKS file {0}: {1}")]
    File(PathBuf, std::io::Error),
    #[error("the JWKS is not a JSON object with a \"keys\" array")]
    Shape,
    #[error("the JWKS holds no RS256 or ES256 key with a kid")]
    NoKeys,
}

impl JwtValidator {
    /// A validator; the keys are fetched now (a file or fixed set must be valid; a URL that cannot be
    /// fetched yet is logged and tried again on the first request).
    pub async fn new(cfg: JwtConfig) -> Result<Self, JwksError> {
        let v = JwtValidator {
            cfg,
            keys: RwLock::new(HashMap::new()),
            fetched: tokio::sync::Mutex::new(None),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| JwksError::Fetch(e.to_string()))?,
        };
        match v.refresh(true).await {
            Ok(()) => {}
            Err(e) if matches!(v.cfg.keys, KeySource::Url(_)) => {
                tracing::warn!("JWKS not fetched at start (tried again on the first request): {e}");
            }
            Err(e) => return Err(e),
        }
        Ok(v)
    }

    /// A validator over a [`KeySource::Fixed`] JWKS, made without waiting (no I/O).
    pub fn fixed(cfg: JwtConfig) -> Result<Self, JwksError> {
        let KeySource::Fixed(doc) = &cfg.keys else {
            return Err(JwksError::Shape);
        };
        let keys = parse_jwks(doc)?;
        Ok(JwtValidator {
            keys: RwLock::new(keys),
            fetched: tokio::sync::Mutex::new(Some(Instant::now())),
            http: reqwest::Client::new(),
            cfg,
        })
    }

    /// The kids held now.
    pub fn kids(&self) -> Vec<String> {
        let mut k: Vec<String> = self
            .keys
            .read()
            .map(|k| k.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    }

    /// Fetches the keys unless the last fetch is younger than `min_refresh` (`force`: always).
    async fn refresh(&self, force: bool) -> Result<(), JwksError> {
        let mut fetched = self.fetched.lock().await;
        if !force && fetched.is_some_and(|t| t.elapsed() < self.cfg.min_refresh) {
            return Ok(());
        }
        let doc = match &self.cfg.keys {
            KeySource::Fixed(v) => v.clone(),
            KeySource::File(p) => {
                let bytes = tokio::fs::read(p)
                    .await
                    .map_err(|e| JwksError::File(p.clone(), e))?;
                serde_json::from_slice(&bytes).map_err(|_| JwksError::Shape)?
            }
            KeySource::Url(u) => {
                // A failed fetch counts as a fetch too: a dead IdP is not hammered.
                *fetched = Some(Instant::now());
                let resp = self
                    .http
                    .get(u)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| JwksError::Fetch(e.to_string()))?;
                let bytes = resp
                    .bytes()
                    .await
                    .map_err(|e| JwksError::Fetch(e.to_string()))?;
                serde_json::from_slice(&bytes).map_err(|_| JwksError::Shape)?
            }
        };
        *fetched = Some(Instant::now());
        let keys = parse_jwks(&doc)?;
        tracing::info!(kids = ?keys.keys().collect::<Vec<_>>(), "JWKS loaded");
        if let Ok(mut k) = self.keys.write() {
            *k = keys;
        }
        Ok(())
    }

    fn key_for(&self, kid: &str) -> Option<(Algorithm, DecodingKey)> {
        let keys = self.keys.read().ok()?;
        keys.get(kid).map(|k| (k.alg, k.key.clone()))
    }

    /// The principal of a token, or why it is refused.
    pub async fn validate(&self, token: &str) -> Result<Principal, AuthError> {
        self.validate_with_expiry(token).await.map(|(p, _)| p)
    }

    /// [`validate`](Self::validate), and the token's `exp` (Unix seconds).
    pub async fn validate_with_expiry(&self, token: &str) -> Result<(Principal, i64), AuthError> {
        let claims = self.verify(token, &self.cfg.audiences).await?;
        let tenant = claims.tid.clone().ok_or(AuthError::NoTenant)?;
        let exp = claims.exp;
        let app_id = claims
            .appid
            .or(claims.azp)
            .or(claims.sub)
            .unwrap_or_default();
        Ok((
            Principal {
                tenant,
                app_id,
                roles: claims.roles,
            },
            exp,
        ))
    }

    /// Checks an OpenID Connect id token: the same keys and issuers as access tokens, but the audience is
    /// the dashboard's `client_id`, and the `nonce` must be the one of the sign-in.
    pub async fn validate_id_token(
        &self,
        token: &str,
        client_id: &str,
        nonce: &str,
    ) -> Result<IdToken, AuthError> {
        let claims = self.verify(token, &[client_id.to_owned()]).await?;
        if !claims
            .nonce
            .as_deref()
            .is_some_and(|n| super::session::same(n, nonce))
        {
            return Err(AuthError::WrongNonce);
        }
        Ok(IdToken {
            sub: claims.sub.unwrap_or_default(),
            tenant: claims.tid.ok_or(AuthError::NoTenant)?,
            name: claims.name,
            username: claims.preferred_username,
        })
    }

    /// Signature (a known key, RS256 / ES256 matching the key), `exp` / `nbf`, one of `audiences`, an
    /// accepted issuer.
    async fn verify(&self, token: &str, audiences: &[String]) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(AuthError::BadSignature);
        }
        let kid = header.kid.ok_or(AuthError::UnknownKey)?;
        let (alg, key) = match self.key_for(&kid) {
            Some(k) => k,
            None => {
                if let Err(e) = self.refresh(false).await {
                    tracing::warn!("JWKS refresh for an unknown kid failed: {e}");
                }
                self.key_for(&kid).ok_or(AuthError::UnknownKey)?
            }
        };
        if alg != header.alg {
            return Err(AuthError::BadSignature);
        }
        let mut v = Validation::new(alg);
        v.leeway = self.cfg.leeway_secs;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.set_audience(audiences);
        let mut claims = jsonwebtoken::decode::<Claims>(token, &key, &v)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                    AuthError::BadSignature
                }
                ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => AuthError::Expired,
                ErrorKind::InvalidAudience => AuthError::WrongAudience,
                ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                _ => AuthError::Malformed,
            })?
            .claims;
        claims.tid = claims.tid.filter(|t| !t.is_empty());
        let issuer_ok = self.cfg.issuers.iter().any(|pattern| {
            if pattern.contains("{tenantid}") {
                claims
                    .tid
                    .as_deref()
                    .is_some_and(|t| pattern.replace("{tenantid}", t) == claims.iss)
            } else {
                *pattern == claims.iss
            }
        });
        if !issuer_ok {
            return Err(AuthError::WrongIssuer);
        }
        Ok(claims)
    }
}

/// The RS256 and ES256 (P-256) keys of a JWKS that have a `kid`; other keys are skipped.
fn parse_jwks(doc: &Value) -> Result<HashMap<String, Key>, JwksError> {
    let list = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwksError::Shape)?;
    let mut out = HashMap::new();
    for item in list {
        let Ok(jwk) = serde_json::from_value::<Jwk>(item.clone()) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
            (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
            (AlgorithmParameters::EllipticCurve(p), None | Some(KeyAlgorithm::ES256))
                if p.curve == EllipticCurve::P256 =>
            {
                Algorithm::ES256
            }
            _ => continue,
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        out.insert(kid, Key { alg, key });
    }
    if out.is_empty() {
        return Err(JwksError::NoKeys);
    }
    Ok(out)
}
