//! The dashboard's sessions: stateless, sealed cookies.
//!
//! A session is the claims a validated access token granted (tenant, application, roles, expiry), the
//! signed-in user's name and a CSRF token, serialized and sealed with XChaCha20-Poly1305 under the
//! server's session key ([`SessionKey`]). Nothing is kept on the server, so every node holding the same key
//! (`--session-key-file`) accepts the cookie. The sign-in's own short-lived state (OAuth `state`, `nonce`,
//! the PKCE verifier, where to go back to) travels the same way in a second cookie. Each kind of cookie is
//! sealed with its own associated data, so one cannot be passed off as the other.
//!
//! Cookie headers are read and written here (a few lines; the attributes are fixed).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Principal;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "callrecords_session";
/// The sign-in-in-progress cookie's name (sent to `/auth/callback` only).
pub const LOGIN_COOKIE: &str = "callrecords_login";
/// Where the sign-in cookie is sent.
pub const LOGIN_COOKIE_PATH: &str = "/auth/callback";
/// How long a sign-in may take (from `/auth/login` to `/auth/callback`).
pub const LOGIN_LIFETIME_SECS: i64 = 600;
/// Largest cookie value accepted for opening (browsers keep at most about 4 KiB per cookie).
const MAX_SEALED: usize = 4096;

/// The key sessions are sealed with.
#[derive(Clone)]
pub struct SessionKey(XChaCha20Poly1305);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl SessionKey {
    /// A random key (sessions then die with the process and are valid on this node only).
    pub fn random() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self::from_bytes(bytes)
    }

    /// The key derived from a shared secret (the SHA-256 of its bytes): every node given the same secret
    /// accepts the others' sessions.
    pub fn from_secret(secret: &[u8]) -> Self {
        Self::from_bytes(Sha256::digest(secret).into())
    }

    fn from_bytes(bytes: [u8; 32]) -> Self {
        SessionKey(XChaCha20Poly1305::new(&bytes.into()))
    }

    /// `value` serialized and sealed for `purpose`: base64url of nonce ‖ ciphertext ‖ tag.
    pub fn seal<T: Serialize>(&self, purpose: &str, value: &T) -> String {
        let plain = serde_json::to_vec(value).unwrap_or_default();
        let nonce_bytes: [u8; 24] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let sealed = self
            .0
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: purpose.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The value sealed for `purpose` in `text`, `None` when it was not sealed by this key for this purpose
    /// (or altered, or is not of the expected shape).
    pub fn open<T: DeserializeOwned>(&self, purpose: &str, text: &str) -> Option<T> {
        if text.len() > MAX_SEALED {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        if bytes.len() < 24 + 16 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(24);
        let nonce = XNonce::try_from(nonce).ok()?;
        let plain = self
            .0
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: purpose.as_bytes(),
                },
            )
            .ok()?;
        serde_json::from_slice(&plain).ok()
    }
}

/// The associated data of session cookies.
pub const SESSION_PURPOSE: &str = "callrecords session v1";
/// The associated data of sign-in cookies.
pub const LOGIN_PURPOSE: &str = "callrecords login v1";

/// A signed-in dashboard user: what the access token granted, until the token's expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The tenant (`tid`).
    pub tenant: String,
    /// The application the token was issued to (the dashboard's client id).
    pub app_id: String,
    /// The roles of the access token.
    pub roles: Vec<String>,
    /// When the access token expires (Unix seconds): the session ends then.
    pub exp: i64,
    /// The user's subject (`sub` of the id token).
    pub sub: String,
    /// The user's display name (`name`), if the id token had one.
    pub name: Option<String>,
    /// The user's sign-in name (`preferred_username`), if any.
    pub username: Option<String>,
    /// The value unsafe requests must repeat in `X-CSRF-Token`.
    pub csrf: String,
}

impl Session {
    /// The principal the session stands for.
    pub fn principal(&self) -> Principal {
        Principal {
            tenant: self.tenant.clone(),
            app_id: self.app_id.clone(),
            roles: self.roles.clone(),
        }
    }
}

/// A sign-in in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginState {
    /// The OAuth `state` sent to the identity provider.
    pub state: String,
    /// The OpenID `nonce` the id token must carry.
    pub nonce: String,
    /// The PKCE code verifier.
    pub verifier: String,
    /// The same-origin path to go back to.
    pub return_to: String,
    /// When this sign-in attempt expires (Unix seconds).
    pub exp: i64,
}

/// 32 random bytes in base64url (state, nonce, verifier, CSRF token).
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE S256 challenge of `verifier`.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `a` and `b` are equal, in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in the request's `Cookie` headers (the first one).
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax (the sign-in comes back by a cross-site redirect, which
/// Strict would strip the cookie from), Secure when `secure`, kept `max_age` seconds (0 deletes it).
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> String {
    let mut c = format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Lax",
        max_age.max(0)
    );
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// Whether `ret` is a path of this origin that is safe to redirect to after sign-in: it starts with one
/// `/`, not `//` or `/\` (which browsers read as another host), and holds no backslash, control character
/// or white space.
pub fn safe_return(ret: &str) -> bool {
    ret.starts_with('/')
        && !ret.starts_with("//")
        && !ret.contains('\\')
        && ret.len() <= 2048
        && !ret.chars().any(|c| c.is_control() || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            tenant: "t".into(),
            app_id: "app".into(),
            roles: vec!["CallRecords.Read.All".into()],
            exp: 1_900_000_000,
            sub: "s".into(),
            name: Some("N".into()),
            username: None,
            csrf: random_token(),
        }
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_purpose() {
        let k = SessionKey::random();
        let s = session();
        let sealed = k.seal(SESSION_PURPOSE, &s);
        assert_eq!(k.open::<Session>(SESSION_PURPOSE, &sealed), Some(s.clone()));
        // Another purpose, another key, an altered byte, garbage: refused.
        assert_eq!(k.open::<Session>(LOGIN_PURPOSE, &sealed), None);
        assert_eq!(
            SessionKey::random().open::<Session>(SESSION_PURPOSE, &sealed),
            None
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        bytes[30] ^= 1;
        let altered = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(k.open::<Session>(SESSION_PURPOSE, &altered), None);
        for junk in ["", "x", "!!!!", &"A".repeat(5000)] {
            assert_eq!(k.open::<Session>(SESSION_PURPOSE, junk), None, "{junk}");
        }
        // Two seals of one value differ (fresh nonce); a shared secret gives the same key on every node.
        assert_ne!(k.seal(SESSION_PURPOSE, &s), sealed);
        let a = SessionKey::from_secret(b"shared secret of the nodes");
        let b = SessionKey::from_secret(b"shared secret of the nodes");
        assert_eq!(
            b.open::<Session>(SESSION_PURPOSE, &a.seal(SESSION_PURPOSE, &s)),
            Some(s)
        );
    }

    #[test]
    fn return_paths() {
        for ok in ["/dashboard/", "/dashboard/?tab=calls#x", "/"] {
            assert!(safe_return(ok), "{ok}");
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "\\\\evil",
            "javascript:alert(1)",
            "/x\ny",
            "/ x",
            "",
            "dashboard",
        ] {
            assert!(!safe_return(bad), "{bad}");
        }
    }

    #[test]
    fn cookies() {
        let mut h = axum::http::HeaderMap::new();
        h.append("cookie", "a=1; callrecords_session=abc".parse().unwrap());
        h.append("cookie", "b=2".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
        assert_eq!(
            set_cookie("n", "v", "/", 10, true),
            "n=v; Path=/; Max-Age=10; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            set_cookie("n", "", "/auth/callback", -5, false),
            "n=; Path=/auth/callback; Max-Age=0; HttpOnly; SameSite=Lax"
        );
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        // RFC 7636's example.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
