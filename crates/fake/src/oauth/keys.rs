//! The fake's token-signing key and registered client certificates.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20::ChaCha20Rng;
use chacha20::rand_core::SeedableRng;
use jsonwebtoken::{DecodingKey, EncodingKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{PrivateKey, PublicKey};
use serde_json::{Value, json};
use sha1::Digest;

/// A key or certificate could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("RSA key generation failed: {0}")]
    Generate(String),
    #[error("no PEM CERTIFICATE block found")]
    NoCertificate,
    #[error("the certificate is not valid base64 DER")]
    BadBase64,
    #[error("the certificate's DER structure could not be read")]
    BadDer,
    #[error("the certificate's public key is not an RSA key: {0}")]
    NotRsa(String),
}

fn trimmed(bytes: &[u8]) -> Vec<u8> {
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    bytes[first..].to_vec()
}

/// The RSA key the fake signs access tokens with (RS256), and its JWK.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    n: Vec<u8>,
    e: Vec<u8>,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A 2048-bit key derived from `seed` (ChaCha20 seeded with the seed, then RSA key generation):
    /// the same seed gives the same key on every start, so tokens survive a restart without storing
    /// a private key. Takes a noticeable fraction of a second (more in debug builds): make it once.
    pub fn from_seed(seed: u64) -> Result<Self, KeyError> {
        let mut rng = ChaCha20Rng::seed_from_u64(crate::rng::mix(seed ^ 0x4f41_5554_484b_4559));
        let key = PrivateKey::new(&mut rng, 2048).map_err(|e| KeyError::Generate(e.to_string()))?;
        Self::from_rsa(&key)
    }

    /// Wraps an existing RSA private key.
    pub fn from_rsa(key: &PrivateKey) -> Result<Self, KeyError> {
        let der = key
            .to_pkcs1_der()
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let n = trimmed(&key.n().to_be_bytes());
        let e = trimmed(&key.e().to_be_bytes());
        // Like Entra's kids: the base64url SHA-1 of something unique to the key (here n ‖ e).
        let mut h = sha1::Sha1::new();
        h.update(&n);
        h.update(&e);
        let kid = URL_SAFE_NO_PAD.encode(h.finalize());
        Ok(SigningKey {
            kid,
            decoding: DecodingKey::from_rsa_raw_components(&n, &e),
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            n,
            e,
        })
    }

    /// The `kid` header of issued tokens (also their `x5t`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The key as one JWKS entry (Entra's shape, without `x5c`: the fake has no certificate).
    pub fn jwk(&self, issuer: &str) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": URL_SAFE_NO_PAD.encode(&self.n),
            "e": URL_SAFE_NO_PAD.encode(&self.e),
            "issuer": issuer,
        })
    }
}

/// A certificate registered for a client: its thumbprints and public key.
#[derive(Clone)]
pub struct RegisteredCertificate {
    /// base64url(SHA-1(DER)): the `x5t` header value.
    pub x5t: String,
    /// base64url(SHA-256(DER)): the `x5t#S256` header value.
    pub x5t_s256: String,
    /// Upper-case hex SHA-1 thumbprint (as the portal shows it; some clients send it as `kid`).
    pub thumbprint_hex: String,
    pub(crate) decoding: DecodingKey,
}

impl std::fmt::Debug for RegisteredCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredCertificate")
            .field("x5t", &self.x5t)
            .field("thumbprint_hex", &self.thumbprint_hex)
            .finish_non_exhaustive()
    }
}

impl RegisteredCertificate {
    /// Reads the first `CERTIFICATE` block of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let der = pem_certificate_der(pem)?;
        Self::from_der(&der)
    }

    /// Reads a DER X.509 certificate with an RSA public key.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = certificate_spki(der).ok_or(KeyError::BadDer)?;
        let key =
            PublicKey::from_public_key_der(spki).map_err(|e| KeyError::NotRsa(e.to_string()))?;
        let n = trimmed(&key.n().to_be_bytes());
        let e = trimmed(&key.e().to_be_bytes());
        let sha1 = sha1::Sha1::digest(der);
        let sha256 = sha2::Sha256::digest(der);
        Ok(RegisteredCertificate {
            x5t: URL_SAFE_NO_PAD.encode(sha1),
            x5t_s256: URL_SAFE_NO_PAD.encode(sha256),
            thumbprint_hex: sha1.iter().map(|b| format!("{b:02X}")).collect(),
            decoding: DecodingKey::from_rsa_raw_components(&n, &e),
        })
    }
}

fn pem_certificate_der(pem: &str) -> Result<Vec<u8>, KeyError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem.find(BEGIN).ok_or(KeyError::NoCertificate)? + BEGIN.len();
    let len = pem[start..].find(END).ok_or(KeyError::NoCertificate)?;
    let b64: String = pem[start..start + len]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(b64).map_err(|_| KeyError::BadBase64)
}

/// One DER element: its tag, the whole element, its content, and what follows it.
#[derive(Debug, PartialEq, Eq)]
struct Tlv<'a> {
    tag: u8,
    whole: &'a [u8],
    content: &'a [u8],
    rest: &'a [u8],
}

/// Reads one DER element (single-byte tags, definite lengths only).
fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, rest) = input.split_first()?;
    let (&l0, rest) = rest.split_first()?;
    let (len, rest) = if l0 < 0x80 {
        (usize::from(l0), rest)
    } else {
        let k = usize::from(l0 & 0x7f);
        if k == 0 || k > 4 || rest.len() < k {
            return None;
        }
        let len = rest[..k]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        (len, &rest[k..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    Some(Tlv {
        tag,
        whole: &input[..header + len],
        content: &rest[..len],
        rest: &rest[len..],
    })
}

/// The SubjectPublicKeyInfo element of an X.509 certificate.
fn certificate_spki(der: &[u8]) -> Option<&[u8]> {
    let cert = tlv(der).filter(|t| t.tag == 0x30)?;
    let tbs = tlv(cert.content).filter(|t| t.tag == 0x30)?;
    let mut rest = tbs.content;
    let first = tlv(rest)?;
    if first.tag == 0xa0 {
        rest = first.rest; // [0] version
    }
    // serialNumber, signature, issuer, validity, subject
    for want in [0x02, 0x30, 0x30, 0x30, 0x30] {
        let t = tlv(rest).filter(|t| t.tag == want)?;
        rest = t.rest;
    }
    tlv(rest).filter(|t| t.tag == 0x30).map(|t| t.whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = include_str!("../../testdata/client-cert.pem");

    #[test]
    fn reads_a_certificate() {
        let c = RegisteredCertificate::from_pem(CERT).unwrap();
        assert_eq!(c.x5t.len(), 27);
        assert_eq!(c.x5t_s256.len(), 43);
        assert_eq!(c.thumbprint_hex.len(), 40);
        assert_eq!(
            c.thumbprint_hex,
            include_str!("../../testdata/client-cert.sha1")
                .trim()
                .to_uppercase()
        );
    }

    #[test]
    fn rejects_bad_certificates() {
        assert_eq!(
            RegisteredCertificate::from_pem("").unwrap_err(),
            KeyError::NoCertificate
        );
        assert_eq!(
            RegisteredCertificate::from_pem(
                "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----"
            )
            .unwrap_err(),
            KeyError::BadBase64
        );
        assert_eq!(
            RegisteredCertificate::from_pem(
                "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----"
            )
            .unwrap_err(),
            KeyError::BadDer
        );
        assert!(RegisteredCertificate::from_der(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(RegisteredCertificate::from_der(&[]).is_err());
    }

    #[test]
    fn tlv_lengths() {
        assert_eq!(
            tlv(&[0x02, 0x01, 0x05]).map(|t| t.content),
            Some(&[5u8][..])
        );
        assert_eq!(
            tlv(&[0x02, 0x81, 0x01, 0x05, 0x07]).map(|t| (t.whole.len(), t.rest)),
            Some((4, &[7u8][..]))
        );
        assert_eq!(tlv(&[0x02, 0x02, 0x05]), None);
        assert_eq!(tlv(&[0x02, 0x80]), None);
    }
}
