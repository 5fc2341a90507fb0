#![forbid(unsafe_code)]
//! `callrecords sync`: pulls a tenant's call records and PSTN logs from Microsoft Graph (or anything that
//! speaks its contract) into the store, losing nothing and staying inside Graph's throttling limits.
//!
//! | module | owns |
//! |---|---|
//! | [`auth`] | client-credentials tokens (secret or certificate assertion), cached, refreshed on 401 |
//! | [`budget`] | client-side request budgets per spec §12 |
//! | [`client`] | one GET with budgets, token, retries (Retry-After, backoff + jitter) and counters |
//! | [`sweep`] | list windows, nested paging, complete records, PSTN functions, the durable cursor |
//! | [`push`] | change notifications: the upstream subscription (create, renew, recreate, reauthorize) and draining the inbox `serve`'s receiver fills |
//! | [`state`] | the per-tenant state kept in the store |

pub mod auth;
pub mod budget;
pub mod client;
pub mod push;
pub mod state;
pub mod sweep;

pub use auth::{AuthError, Credential, TokenSource};
pub use budget::{Budgets, Limits};
pub use client::{FetchError, GraphClient, RetryPolicy};
pub use push::{PushOptions, PushRound};
pub use state::{PushState, SweepReport, TenantState};
pub use sweep::{SweepError, SweepOptions, SweepProgress, Syncer};

/// The HTTP client every part uses: rustls, no redirects, no proxy from the environment.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(15))
        .user_agent(concat!("callrecords-sync/", env!("CARGO_PKG_VERSION")))
        .build()
}
