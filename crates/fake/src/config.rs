//! `serve --fake [--seed S] [--tenant ID ...] [--rate N] [--speed X] [--start DATE]
//! [--client ID:SECRET ...] [--no-throttle] [--fault-rate P]` as a plain struct with its defaults.

use jiff::Timestamp;

use crate::clock::{ClockError, FakeClock};
use crate::tenant::{ScheduleError, TenantSchedule};
use crate::throttle::{Faults, Throttle};

/// The client registered when no `--client` is given.
pub const DEFAULT_CLIENT_ID: &str = "fake-client";
/// Its secret.
pub const DEFAULT_CLIENT_SECRET: &str = "fake-secret";

/// A `--client ID:SECRET` registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretClient {
    pub client_id: String,
    pub secret: String,
}

/// A client authenticating with a certificate (a PEM `CERTIFICATE` registered for its client id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateClient {
    pub client_id: String,
    pub certificate_pem: String,
}

/// A bad option value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("--client wants ID:SECRET (both non-empty), got {0:?}")]
    BadClient(String),
    #[error(
        "--start wants a date (2026-01-05) or an RFC 3339 instant (2026-01-05T08:00:00Z), got {0:?}"
    )]
    BadStart(String),
    #[error("--rate must be between 0 and {max} calls per minute, got {0}", max = crate::tenant::MAX_RATE)]
    BadRate(f64),
    #[error("--speed must be between 0 and {max}, got {0}", max = crate::clock::MAX_SPEED)]
    BadSpeed(f64),
    #[error("--fault-rate must be between 0 and 1, got {0}")]
    BadFaultRate(f64),
    #[error("--tenant must be a non-empty id without '/', got {0:?}")]
    BadTenant(String),
    #[error("at least one tenant is needed")]
    NoTenant,
}

/// The fake's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeConfig {
    /// `--seed` (default 0): every generated record, key and fault derives from it.
    pub seed: u64,
    /// `--tenant` (repeatable; default: the tenant of Microsoft's examples).
    pub tenants: Vec<String>,
    /// `--rate`: calls per fake minute per tenant (default 2).
    pub rate: f64,
    /// `--speed`: fake seconds per real second (default 1).
    pub speed: f64,
    /// `--start`: the fake time at first start (default: now).
    pub start: Option<Timestamp>,
    /// `--client` (repeatable; default `fake-client:fake-secret`).
    pub clients: Vec<SecretClient>,
    /// Certificate clients (not on the command line above; registered by the caller).
    pub certificate_clients: Vec<CertificateClient>,
    /// `--no-throttle`.
    pub no_throttle: bool,
    /// `--fault-rate` (default 0).
    pub fault_rate: f64,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            seed: 0,
            tenants: vec![callrecords_synth::DEFAULT_TENANT_ID.to_string()],
            rate: 2.0,
            speed: 1.0,
            start: None,
            clients: vec![SecretClient {
                client_id: DEFAULT_CLIENT_ID.into(),
                secret: DEFAULT_CLIENT_SECRET.into(),
            }],
            certificate_clients: Vec::new(),
            no_throttle: false,
            fault_rate: 0.0,
        }
    }
}

impl FakeConfig {
    /// Checks every value (the CLI calls this once after parsing).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tenants.is_empty() {
            return Err(ConfigError::NoTenant);
        }
        for t in &self.tenants {
            parse_tenant(t)?;
        }
        if !(self.rate.is_finite() && (0.0..=crate::tenant::MAX_RATE).contains(&self.rate)) {
            return Err(ConfigError::BadRate(self.rate));
        }
        if !(self.speed.is_finite() && (0.0..=crate::clock::MAX_SPEED).contains(&self.speed)) {
            return Err(ConfigError::BadSpeed(self.speed));
        }
        if !(self.fault_rate.is_finite() && (0.0..=1.0).contains(&self.fault_rate)) {
            return Err(ConfigError::BadFaultRate(self.fault_rate));
        }
        for c in &self.clients {
            if c.client_id.is_empty() || c.secret.is_empty() {
                return Err(ConfigError::BadClient(format!(
                    "{}:{}",
                    c.client_id, c.secret
                )));
            }
        }
        Ok(())
    }
}

impl FakeConfig {
    /// One schedule per `--tenant`, in order.
    pub fn schedules(&self) -> Result<Vec<TenantSchedule>, ScheduleError> {
        self.tenants
            .iter()
            .map(|t| TenantSchedule::new(self.seed, t, self.rate))
            .collect()
    }

    /// A new clock (first start): `--start` (default `real_now`) at `real_now`, running at `--speed`.
    /// On a restart, resume from the persisted [`ClockState`](crate::ClockState) instead.
    pub fn clock(&self, real_now: Timestamp) -> Result<FakeClock, ClockError> {
        FakeClock::new(self.start, self.speed, real_now)
    }

    /// The throttle (`--no-throttle` → admits everything).
    pub fn throttle(&self) -> Throttle {
        if self.no_throttle {
            Throttle::disabled()
        } else {
            Throttle::default()
        }
    }

    /// The fault injector for `--fault-rate`.
    pub fn faults(&self) -> Faults {
        Faults::new(self.seed, self.fault_rate)
    }
}

/// Parses `--client ID:SECRET` (the secret may contain `:`).
pub fn parse_client(s: &str) -> Result<SecretClient, ConfigError> {
    match s.split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => Ok(SecretClient {
            client_id: id.to_string(),
            secret: secret.to_string(),
        }),
        _ => Err(ConfigError::BadClient(s.to_string())),
    }
}

/// Parses `--start`: a date (midnight UTC) or an RFC 3339 instant.
pub fn parse_start(s: &str) -> Result<Timestamp, ConfigError> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    s.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| format!("{d}T00:00:00Z").parse::<Timestamp>().ok())
        .ok_or_else(|| ConfigError::BadStart(s.to_string()))
}

/// Checks `--tenant`.
pub fn parse_tenant(s: &str) -> Result<String, ConfigError> {
    if s.is_empty() || s.contains('/') || s.chars().any(char::is_whitespace) {
        return Err(ConfigError::BadTenant(s.to_string()));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = FakeConfig::default();
        assert_eq!(c.seed, 0);
        assert_eq!(
            c.tenants,
            vec![callrecords_synth::DEFAULT_TENANT_ID.to_string()]
        );
        assert_eq!(c.rate, 2.0);
        assert_eq!(c.speed, 1.0);
        assert_eq!(c.start, None);
        assert_eq!(
            c.clients,
            vec![parse_client("fake-client:fake-secret").unwrap()]
        );
        assert!(!c.no_throttle);
        assert_eq!(c.fault_rate, 0.0);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn builds_the_parts() {
        let now: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let c = FakeConfig {
            tenants: vec!["a".into(), "b".into()],
            start: Some("2026-01-05T00:00:00Z".parse().unwrap()),
            speed: 60.0,
            no_throttle: true,
            fault_rate: 1.0,
            ..FakeConfig::default()
        };
        let s = c.schedules().unwrap();
        assert_eq!(
            s.iter().map(|s| s.tenant_id()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let clock = c.clock(now).unwrap();
        assert_eq!(clock.fake_now(now), c.start.unwrap());
        assert_eq!(clock.speed(), 60.0);
        let mut th = c.throttle();
        let key = crate::ThrottleKey {
            tenant: "a".into(),
            app: "x".into(),
            kind: crate::throttle::RequestKind::ListCallRecords,
        };
        for _ in 0..100 {
            assert_eq!(th.check(key.clone(), now), crate::Decision::Allowed);
        }
        assert!(c.faults().decide().is_some());
        assert!(FakeConfig::default().faults().decide().is_none());
        let mut th = FakeConfig::default().throttle();
        for _ in 0..40 {
            th.check(key.clone(), now);
        }
        assert_ne!(th.check(key, now), crate::Decision::Allowed);
        let bad = FakeConfig {
            rate: -1.0,
            ..FakeConfig::default()
        };
        assert!(bad.schedules().is_err());
    }

    #[test]
    fn clients() {
        assert_eq!(
            parse_client("app:s3:cr:et").unwrap(),
            SecretClient {
                client_id: "app".into(),
                secret: "s3:cr:et".into()
            }
        );
        for bad in ["", "app", "app:", ":secret"] {
            assert!(parse_client(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn start() {
        assert_eq!(
            parse_start("2026-01-05").unwrap(),
            "2026-01-05T00:00:00Z".parse().unwrap()
        );
        assert_eq!(
            parse_start("2026-01-05T08:00:00+02:00").unwrap(),
            "2026-01-05T06:00:00Z".parse().unwrap()
        );
        assert!(parse_start("yesterday").is_err());
        assert!(parse_start("2026-13-01").is_err());
    }

    #[test]
    fn validation() {
        let ok = FakeConfig::default();
        let cases = [
            FakeConfig {
                tenants: vec![],
                ..ok.clone()
            },
            FakeConfig {
                tenants: vec!["a/b".into()],
                ..ok.clone()
            },
            FakeConfig {
                rate: -1.0,
                ..ok.clone()
            },
            FakeConfig {
                rate: f64::NAN,
                ..ok.clone()
            },
            FakeConfig {
                speed: f64::INFINITY,
                ..ok.clone()
            },
            FakeConfig {
                fault_rate: 1.5,
                ..ok.clone()
            },
            FakeConfig {
                clients: vec![SecretClient {
                    client_id: "x".into(),
                    secret: String::new(),
                }],
                ..ok.clone()
            },
        ];
        for c in cases {
            assert!(c.validate().is_err(), "{c:?}");
        }
        assert!(parse_tenant("contoso.onmicrosoft.com").is_ok());
    }
}
