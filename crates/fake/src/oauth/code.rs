//! The authorization-code flow with PKCE (OpenID Connect sign-in of a user), as Entra's v2 endpoints shape it:
//!
//! * `GET /{tenant}/oauth2/v2.0/authorize?response_type=code&client_id&redirect_uri&scope&state&nonce&
//!   code_challenge&code_challenge_method=S256[&login_hint]` signs a test user in at once (no login page)
//!   and redirects to `redirect_uri?code=…&state=…`. The code is bound to the tenant, client, redirect URI,
//!   code challenge, nonce and scope, lives [`CODE_LIFETIME_SECS`], and can be redeemed once.
//! * `POST /{tenant}/oauth2/v2.0/token` with `grant_type=authorization_code&code&client_id&redirect_uri&
//!   code_verifier[&client_secret]` answers an access token (audience: the resource of the scope) and an
//!   id token (audience: the client, with the nonce), both signed with the authority's key.
//!
//! The fake is stricter than Entra in one way: PKCE is required, and only `S256`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    ADMIN_ROLE, Authority, CALL_RECORDS_ROLE, EXPIRES_IN, EntraError, GRAPH_RESOURCE, INGEST_ROLE,
    TokenResponse, guid_from, param,
};

/// How long an authorization code can be redeemed.
pub const CODE_LIFETIME_SECS: i64 = 600;

/// A user the fake signs in: `login_hint` picks one by the part before `@` (default [`TEST_USERS`]`[0]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestUser {
    /// The part before `@` of the user name.
    pub name: &'static str,
    /// The display name.
    pub display_name: &'static str,
    /// The app roles assigned to the user.
    pub roles: &'static [&'static str],
}

/// The test users of every fake tenant: `admin` holds every callrecords role, `reader` only the read role,
/// `nobody` none.
pub const TEST_USERS: [TestUser; 3] = [
    TestUser {
        name: "admin",
        display_name: "Test Admin",
        roles: &[CALL_RECORDS_ROLE, INGEST_ROLE, ADMIN_ROLE],
    },
    TestUser {
        name: "reader",
        display_name: "Test Reader",
        roles: &[CALL_RECORDS_ROLE],
    },
    TestUser {
        name: "nobody",
        display_name: "Test Nobody",
        roles: &[],
    },
];

/// A code handed out and not yet expired.
#[derive(Debug, Clone)]
pub(super) struct Grant {
    tenant: String,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    scope: String,
    user: TestUser,
    expires: i64,
    redeemed: bool,
}

/// Why `/authorize` refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Nowhere safe to send the user back to (unknown tenant or client, bad redirect URI): shown as a page.
    Page(EntraError),
    /// Sent back to the redirect URI as `error`, `error_description`, `state`.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: EntraError,
    },
}

impl AuthorizeError {
    /// The redirect (`Location`) of a [`AuthorizeError::Redirect`].
    pub fn location(&self) -> Option<String> {
        let AuthorizeError::Redirect {
            redirect_uri,
            state,
            error,
        } = self
        else {
            return None;
        };
        let mut q = vec![
            ("error", error.error.to_string()),
            (
                "error_description",
                format!("AADSTS{}: {}", error.code, error.message),
            ),
        ];
        if let Some(s) = state {
            q.push(("state", s.clone()));
        }
        Some(with_query(redirect_uri, &q))
    }
}

fn with_query(base: &str, pairs: &[(&str, String)]) -> String {
    let q = serde_urlencoded::to_string(pairs).unwrap_or_default();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{q}")
}

/// An absolute `http(s)` URL without a fragment (what the fake accepts as a redirect URI: it keeps no
/// registered list per client).
fn redirect_uri_ok(uri: &str) -> bool {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?']).next().unwrap_or_default();
        !host.is_empty()
            && !host.contains('@')
            && !uri.contains('#')
            && !uri.chars().any(|c| c.is_ascii_control() || c == ' ')
    })
}

/// The resource whose access token a delegated `scope` asks for: the first scope that names one
/// (`api://x/.default`, `api://x/CallRecords.Read`); Graph when only OpenID scopes are asked.
fn resource_of_delegated(scope: &str) -> String {
    const OIDC: [&str; 4] = ["openid", "profile", "email", "offline_access"];
    scope
        .split_whitespace()
        .filter(|s| !OIDC.contains(s))
        .find_map(|s| s.rsplit_once('/').map(|(r, _)| r.trim_end_matches('/')))
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| GRAPH_RESOURCE.to_owned())
}

/// The claims of the fake's user tokens (access and id tokens share most of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClaims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub sub: String,
    pub oid: String,
    pub tid: String,
    pub name: String,
    pub preferred_username: String,
    pub roles: Vec<String>,
    /// The client the token was issued to.
    pub azp: String,
    /// Also the client (v1 name; callrecords reads `appid` first).
    pub appid: String,
    pub ver: String,
    pub uti: String,
    /// Access tokens: the delegated scopes granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    /// Id tokens: the `nonce` of the authorization request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// "user" on access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idtyp: Option<String>,
}

impl Authority {
    /// Handles `GET /{tenant}/oauth2/v2.0/authorize` with its query pairs: the redirect to send the user to.
    pub fn authorize_code(
        &self,
        tenant: &str,
        query: &[(String, String)],
        now: Timestamp,
    ) -> Result<String, AuthorizeError> {
        let page = AuthorizeError::Page;
        if !self.has_tenant(tenant) {
            return Err(page(EntraError::tenant_not_found(tenant)));
        }
        let client_id = param(query, "client_id").ok_or_else(|| page(missing("client_id")))?;
        if !self.clients.contains_key(client_id) {
            return Err(page(EntraError::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                700016,
                format!(
                    "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
                ),
            )));
        }
        let redirect_uri =
            param(query, "redirect_uri").ok_or_else(|| page(missing("redirect_uri")))?;
        if !redirect_uri_ok(redirect_uri) {
            return Err(page(EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50011,
                format!(
                    "The redirect URI '{redirect_uri}' specified in the request does not match the redirect \
                     URIs configured for the application '{client_id}'."
                ),
            )));
        }
        let state = param(query, "state").map(str::to_owned);
        let back = |error: EntraError| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            state: state.clone(),
            error,
        };
        let response_type = param(query, "response_type").unwrap_or_default();
        if response_type != "code" {
            return Err(back(EntraError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_response_type",
                700054,
                format!(
                    "response_type '{response_type}' is not enabled for the application; this fake issues \
                     codes only."
                ),
            )));
        }
        let scope = param(query, "scope").ok_or_else(|| back(missing("scope")))?;
        if !scope.split_whitespace().any(|s| s == "openid") {
            return Err(back(EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                "The scope must include 'openid' (this fake signs users in with OpenID Connect).",
            )));
        }
        let challenge = param(query, "code_challenge")
            .ok_or_else(|| back(missing("code_challenge")))?
            .to_owned();
        let method = param(query, "code_challenge_method").unwrap_or("plain");
        // A SHA-256 in base64url without padding is 43 characters.
        if method != "S256" || challenge.len() != 43 || URL_SAFE_NO_PAD.decode(&challenge).is_err()
        {
            return Err(back(EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                501491,
                "Invalid code_challenge_method or code_challenge: this fake accepts S256 only.",
            )));
        }
        let user = match param(query, "login_hint") {
            None => TEST_USERS[0],
            Some(hint) => {
                let name = hint.split('@').next().unwrap_or_default();
                let Some(u) = TEST_USERS.iter().find(|u| u.name == name) else {
                    return Err(back(EntraError::new(
                        StatusCode::BAD_REQUEST,
                        "access_denied",
                        50034,
                        format!(
                            "The user account {hint} does not exist in the {tenant} directory."
                        ),
                    )));
                };
                *u
            }
        };
        let code = random_token();
        let grant = Grant {
            tenant: tenant.to_owned(),
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            challenge,
            nonce: param(query, "nonce").map(str::to_owned),
            scope: scope.to_owned(),
            user,
            expires: now.as_second() + CODE_LIFETIME_SECS,
            redeemed: false,
        };
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        let now_s = now.as_second();
        codes.retain(|_, g| g.expires > now_s);
        codes.insert(code.clone(), grant);
        let mut q = vec![("code", code)];
        if let Some(s) = &state {
            q.push(("state", s.clone()));
        }
        Ok(with_query(redirect_uri, &q))
    }

    /// `grant_type=authorization_code` at the token endpoint.
    pub(super) fn redeem_code(
        &self,
        tenant: &str,
        form: &[(String, String)],
        now: Timestamp,
    ) -> Result<TokenResponse, EntraError> {
        let code = param(form, "code").ok_or_else(|| missing("code"))?;
        let client_id = param(form, "client_id").ok_or_else(|| missing("client_id"))?;
        let redirect_uri = param(form, "redirect_uri").ok_or_else(|| missing("redirect_uri"))?;
        let verifier = param(form, "code_verifier").ok_or_else(|| missing("code_verifier"))?;
        let invalid_grant = |code: u32, message: &str| {
            EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                code,
                message.to_owned(),
            )
        };
        let grant = {
            let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
            let Some(g) = codes.get_mut(code) else {
                return Err(invalid_grant(
                    70008,
                    "The provided authorization code or refresh token has expired due to inactivity, or is \
                     not valid.",
                ));
            };
            if g.redeemed {
                return Err(invalid_grant(
                    54005,
                    "OAuth2 Authorization code was already redeemed, please retry with a new valid code.",
                ));
            }
            if g.expires <= now.as_second() {
                return Err(invalid_grant(
                    70008,
                    "The provided authorization code or refresh token has expired due to inactivity.",
                ));
            }
            // Any attempt uses the code up, as Entra does: a stolen code tried with a guessed verifier is
            // dead for its owner too, and is noticed.
            g.redeemed = true;
            g.clone()
        };
        if grant.tenant != tenant || grant.client_id != client_id {
            return Err(invalid_grant(
                700005,
                "Provided Authorization Code is intended to use against other tenant or client.",
            ));
        }
        if grant.redirect_uri != redirect_uri {
            return Err(invalid_grant(
                50011,
                "The redirect URI does not match the one of the authorization request.",
            ));
        }
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if computed != grant.challenge {
            return Err(invalid_grant(
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            ));
        }
        // A confidential client proves itself; a public one (no secret sent) has PKCE only.
        if let Some(secret) = param(form, "client_secret") {
            let known = self
                .clients
                .get(client_id)
                .is_some_and(|c| c.secrets.iter().any(|s| s == secret));
            if !known {
                return Err(EntraError::client(
                    7000215,
                    format!("Invalid client secret provided for app '{client_id}'."),
                ));
            }
        }
        Ok(self.issue_user_tokens(&grant, now))
    }

    fn issue_user_tokens(&self, g: &Grant, now: Timestamp) -> TokenResponse {
        let iat = now.as_second();
        let oid = guid_from(self.seed, &["user", &g.tenant, g.user.name]);
        let domain = format!("{}.example", g.tenant.split('-').next().unwrap_or("tenant"));
        let base = UserClaims {
            aud: String::new(),
            iss: self.issuer(&g.tenant),
            iat,
            nbf: iat,
            exp: iat + EXPIRES_IN + 1,
            sub: oid.clone(),
            oid,
            tid: g.tenant.clone(),
            name: g.user.display_name.to_owned(),
            preferred_username: format!("{}@{domain}", g.user.name),
            roles: g.user.roles.iter().map(|r| (*r).to_owned()).collect(),
            azp: g.client_id.clone(),
            appid: g.client_id.clone(),
            ver: "2.0".into(),
            uti: self.next_id(),
            scp: None,
            nonce: None,
            idtyp: None,
        };
        let granted: Vec<&str> = g
            .scope
            .split_whitespace()
            .filter(|s| s.contains('/'))
            .map(|s| s.rsplit('/').next().unwrap_or_default())
            .collect();
        let access = UserClaims {
            aud: resource_of_delegated(&g.scope),
            scp: Some(if granted.is_empty() {
                "openid profile".to_owned()
            } else {
                granted.join(" ")
            }),
            idtyp: Some("user".into()),
            ..base.clone()
        };
        let id = UserClaims {
            aud: g.client_id.clone(),
            nonce: g.nonce.clone(),
            uti: self.next_id(),
            ..base
        };
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.kid = Some(self.key.kid().to_string());
        let sign = |c: &UserClaims| {
            jsonwebtoken::encode(&header, c, self.key.encoding()).unwrap_or_default()
        };
        TokenResponse {
            token_type: "Bearer".into(),
            expires_in: EXPIRES_IN,
            ext_expires_in: EXPIRES_IN,
            access_token: sign(&access),
            id_token: Some(sign(&id)),
            scope: Some(g.scope.clone()),
        }
    }
}

fn missing(p: &str) -> EntraError {
    EntraError::missing(p)
}

/// 32 random bytes in base64url (authorization codes).
fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        assert!(redirect_uri_ok("http://127.0.0.1:8080/auth/callback"));
        assert!(redirect_uri_ok("https://app.example/cb?x=1"));
        assert!(!redirect_uri_ok("javascript:alert(1)"));
        assert!(!redirect_uri_ok("http:///x"));
        assert!(!redirect_uri_ok("https://a.example/cb#frag"));
        assert!(!redirect_uri_ok("https://user@evil.example/"));
        assert!(!redirect_uri_ok("/relative"));
    }

    #[test]
    fn delegated_resources() {
        assert_eq!(resource_of_delegated("openid profile"), GRAPH_RESOURCE);
        assert_eq!(
            resource_of_delegated("openid api://callrecords/.default"),
            "api://callrecords"
        );
        assert_eq!(
            resource_of_delegated("openid profile https://graph.microsoft.com/.default"),
            GRAPH_RESOURCE
        );
        assert_eq!(
            resource_of_delegated("openid api://x/CallRecords.Read offline_access"),
            "api://x"
        );
    }
}
