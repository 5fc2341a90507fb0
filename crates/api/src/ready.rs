//! `GET /readyz`: whether this node can serve, as a list of checks (200 when all pass, else 503):
//!
//! * `store`: the store answers ([`Store::health`]);
//! * `schema`: the database is at the schema version this binary migrates to ([`Store::schema_status`]):
//!   one migrated further by a newer binary while this one runs is not one it can serve;
//! * `sync`: no tenant's `callrecords sync` is stalled: each tenant's last successful sweep (or, before
//!   the first, its first sweep's start) is within the bound — [`crate::Config::sync_stall_after`] when
//!   set, else three times the interval `sync` saved; a tenant with neither (`sync --once`) is listed,
//!   not judged.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use callrecords_store::ReadScope;
use serde_json::{Value, json};

use crate::AppState;

/// A tenant's sync is stalled when its last successful sweep is older than this many intervals.
pub const STALL_INTERVALS: u32 = 3;

fn rfc3339(us: i64) -> Value {
    jiff::Timestamp::from_microsecond(us)
        .map(|t| json!(t.to_string()))
        .unwrap_or(Value::Null)
}

/// One tenant's sync check from its saved state.
fn sync_tenant(tenant: &str, state: &str, flag: Option<Duration>, now_us: i64) -> (bool, Value) {
    let st: Value = serde_json::from_str(state).unwrap_or_default();
    let ts = |k: &str| {
        st[k]
            .as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_microsecond())
    };
    let interval = st["intervalSecs"].as_u64().map(Duration::from_secs);
    let bound = flag.or_else(|| interval.map(|i| i * STALL_INTERVALS));
    let last = ts("lastSuccess");
    let reference = last.or_else(|| ts("since"));
    let (ok, judged) = match (bound, reference) {
        (None, _) => (true, false),
        (Some(b), Some(r)) => (
            now_us.saturating_sub(r) <= i64::try_from(b.as_micros()).unwrap_or(i64::MAX),
            true,
        ),
        // A bound but no sweep ever started: nothing to judge yet.
        (Some(_), None) => (true, false),
    };
    let mut v = json!({
        "tenant": tenant,
        "ok": ok,
        "checked": judged,
        "lastSuccess": last.map_or(Value::Null, rfc3339),
        "boundSeconds": bound.map(|b| b.as_secs()),
    });
    if !ok {
        v["message"] = json!("no successful sweep within the bound");
    }
    (ok, v)
}

/// `GET /readyz`.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let store = &state.store;
    let mut checks = Vec::new();
    let reachable = match store.health().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "readyz: store not reachable");
            false
        }
    };
    checks.push(json!({"name": "store", "ok": reachable}));
    let mut ready = reachable;
    if reachable {
        match store.schema_status().await {
            Ok(s) => {
                let mut c = json!({"name": "schema", "ok": s.is_current(), "found": s.found, "expected": s.expected});
                if s.found > s.expected {
                    c["message"] = json!("the database was migrated by a newer callrecords");
                } else if s.found < s.expected {
                    c["message"] = json!("the database is behind this binary's schema");
                }
                ready &= s.is_current();
                checks.push(c);
            }
            Err(e) => {
                tracing::warn!(error = %e, "readyz: schema version unreadable");
                ready = false;
                checks.push(json!({"name": "schema", "ok": false}));
            }
        }
        match store.list_sync_states(&ReadScope::All).await {
            Ok(rows) => {
                let now = jiff::Timestamp::now().as_microsecond();
                let mut all_ok = true;
                let tenants: Vec<Value> = rows
                    .iter()
                    .map(|r| {
                        let (ok, v) =
                            sync_tenant(&r.tenant, &r.state, state.config.sync_stall_after, now);
                        all_ok &= ok;
                        v
                    })
                    .collect();
                ready &= all_ok;
                checks.push(json!({"name": "sync", "ok": all_ok, "tenants": tenants}));
            }
            Err(e) => {
                tracing::warn!(error = %e, "readyz: sync states unreadable");
                ready = false;
                checks.push(json!({"name": "sync", "ok": false}));
            }
        }
    } else {
        for name in ["schema", "sync"] {
            checks.push(json!({"name": name, "ok": false, "message": "not checked: the store is not reachable"}));
        }
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({"status": if ready { "ready" } else { "not ready" }, "checks": checks});
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000;

    fn at(h: i64) -> String {
        jiff::Timestamp::from_microsecond(h * H)
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_sync_is_stalled_past_three_intervals_or_the_flag() {
        let now = 100 * H;
        let state = |last: Option<i64>, since: i64, interval: Option<u64>| {
            let mut v = json!({"since": at(since), "intervalSecs": interval});
            if let Some(l) = last {
                v["lastSuccess"] = json!(at(l));
            }
            v.to_string()
        };
        // Interval 1 h: within 3 h is fine, beyond is stalled.
        assert!(sync_tenant("t", &state(Some(98), 0, Some(3600)), None, now).0);
        assert!(!sync_tenant("t", &state(Some(96), 0, Some(3600)), None, now).0);
        // Never a success: judged from the first sweep's start.
        assert!(sync_tenant("t", &state(None, 99, Some(3600)), None, now).0);
        assert!(!sync_tenant("t", &state(None, 90, Some(3600)), None, now).0);
        // The flag overrides the interval.
        assert!(
            sync_tenant(
                "t",
                &state(Some(90), 0, Some(3600)),
                Some(Duration::from_secs(11 * 3600)),
                now
            )
            .0
        );
        assert!(
            !sync_tenant(
                "t",
                &state(Some(98), 0, Some(3600)),
                Some(Duration::from_secs(3600)),
                now
            )
            .0
        );
        // `sync --once` (no interval) and no flag: listed, not judged.
        let (ok, v) = sync_tenant("t", &state(Some(0), 0, None), None, now);
        assert!(ok);
        assert_eq!(v["checked"], false);
        // An unreadable state is not judged either.
        assert!(sync_tenant("t", "not json", None, now).0);
    }
}
