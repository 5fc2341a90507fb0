#![forbid(unsafe_code)]
//! `serve --fake`: the storage-free parts of a stateful Microsoft Graph call-records emulator.
//!
//! * [`clock`]: a fake clock (`--start`, `--speed`, `advance`), persistable.
//! * [`tenant`]: the deterministic schedule of each fake tenant's records (arrivals, availability
//!   latency, later versions, 30-day retention) and log rows, with realistic records from
//!   `callrecords_synth`.
//! * [`throttle`]: Graph's sliding-window limits (429 + `Retry-After`) and injected 503/504 faults.
//! * [`oauth`]: Entra-ID-like client-credentials token issuance (secrets and certificate
//!   assertions), JWKS and OpenID configuration, and access-token validation for the Graph routes.
//! * [`config`]: [`FakeConfig`], the command-line options and their defaults.
//!
//! Nothing here touches storage or the network; times are passed in, so everything is testable.

pub mod clock;
pub mod config;
pub mod graph_error;
pub mod oauth;
mod rng;
pub mod tenant;
pub mod throttle;

pub use clock::{ClockState, FakeClock};
pub use config::FakeConfig;
pub use graph_error::GraphError;
pub use tenant::{FakeEvent, TenantSchedule};
pub use throttle::{Decision, Fault, Faults, Throttle, ThrottleKey};
