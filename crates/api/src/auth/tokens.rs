//! Static bearer tokens (`--auth static --tokens-file FILE`) for small deployments.
//!
//! The file holds one token a line: the token's SHA-256 (hex), its tenant, and its roles (comma-separated),
//! separated by white space; `#` starts a comment. Only hashes are stored, so the file is not a secret
//! worth stealing. A token's application id is `static:` and the first 12 hex digits of its hash.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::{AuthError, Principal};

/// The tokens of a tokens file.
#[derive(Clone, Default)]
pub struct StaticTokens {
    by_hash: HashMap<[u8; 32], Principal>,
}

impl std::fmt::Debug for StaticTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticTokens")
            .field("tokens", &self.by_hash.len())
            .finish()
    }
}

/// A line of a tokens file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tokens file line {line}: {message}")]
pub struct TokensFileError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The SHA-256 of `token` in lower-case hex (what a tokens file holds).
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl StaticTokens {
    /// Reads a tokens file's text.
    pub fn parse(text: &str) -> Result<Self, TokensFileError> {
        let mut by_hash = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let err = |message: &str| TokensFileError {
                line: i + 1,
                message: message.to_owned(),
            };
            let mut parts = line.split_whitespace();
            let (Some(hash), Some(tenant), roles, None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(err("want: SHA256-HEX TENANT [ROLE,ROLE,…]"));
            };
            let key =
                hex32(hash).ok_or_else(|| err("the first field is not 64 hex digits (SHA-256)"))?;
            let roles: Vec<String> = roles
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect();
            let principal = Principal {
                tenant: tenant.to_owned(),
                app_id: format!("static:{}", &hash[..12].to_ascii_lowercase()),
                roles,
            };
            if by_hash.insert(key, principal).is_some() {
                return Err(err("the same token hash appears twice"));
            }
        }
        Ok(StaticTokens { by_hash })
    }

    /// How many tokens are known.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether no token is known.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The principal of `token`.
    pub fn lookup(&self, token: &str) -> Result<Principal, AuthError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_hash
            .get(&digest)
            .cloned()
            .ok_or(AuthError::UnknownToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_file_and_looks_tokens_up() {
        let text = format!(
            "# comment\n\n{} tenant-a CallRecords.Read.All,CallRecords.Ingest\n{}  tenant-b # no roles\n",
            token_hash("alpha"),
            token_hash("beta").to_uppercase()
        );
        let t = StaticTokens::parse(&text).unwrap();
        assert_eq!(t.len(), 2);
        let a = t.lookup("alpha").unwrap();
        assert_eq!(a.tenant, "tenant-a");
        assert_eq!(a.roles, ["CallRecords.Read.All", "CallRecords.Ingest"]);
        assert!(a.app_id.starts_with("static:"));
        let b = t.lookup("beta").unwrap();
        assert_eq!(b.tenant, "tenant-b");
        assert!(b.roles.is_empty());
        assert_eq!(t.lookup("gamma"), Err(AuthError::UnknownToken));
        assert_eq!(t.lookup(""), Err(AuthError::UnknownToken));
    }

    #[test]
    fn refuses_bad_lines() {
        assert_eq!(StaticTokens::parse("abc t r").unwrap_err().line, 1);
        assert_eq!(
            StaticTokens::parse(&format!("\n{}", token_hash("x")))
                .unwrap_err()
                .line,
            2
        );
        let h = token_hash("x");
        assert!(StaticTokens::parse(&format!("{h} t r extra")).is_err());
        assert!(StaticTokens::parse(&format!("{h} t r\n{h} u r")).is_err());
    }
}
