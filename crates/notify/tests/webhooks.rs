//! Handshake and delivery against real HTTP receivers on 127.0.0.1:0.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use bytes::Bytes;

use callrecords_notify::SubscriptionError;
use callrecords_notify::deliver::Deliverer;
use callrecords_notify::guard::WebhookGuard;
use callrecords_notify::handshake::{self, HandshakeError};
use callrecords_notify::payload::{self, ChangeNotification, ChangeType, Notification};
use callrecords_notify::policy::{
    AttemptResult, DeliveryPolicy, DeliverySchedule, Next, RetryAfter,
};
use callrecords_notify::signing::WebhookSecret;
use callrecords_notify::subscription::{Subscription, SubscriptionCreate};

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn echo(headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> impl IntoResponse {
    if headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        != Some("text/plain; charset=utf-8")
    {
        return (StatusCode::BAD_REQUEST, String::new());
    }
    (
        StatusCode::OK,
        q.get("validationToken").cloned().unwrap_or_default(),
    )
}

async fn serve() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/good", post(echo))
        .route(
            "/raw",
            post(|uri: axum::http::Uri| async move {
                let q = uri.query().unwrap_or_default().to_owned();
                q.split('&')
                    .find_map(|p| p.strip_prefix("validationToken="))
                    .unwrap_or_default()
                    .to_owned()
            }),
        )
        .route("/wrong", post(|| async { "not the token" }))
        .route(
            "/500",
            post(|q: Query<HashMap<String, String>>| async move {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    q.0.get("validationToken").cloned().unwrap_or_default(),
                )
            }),
        )
        .route(
            "/json",
            post(|q: Query<HashMap<String, String>>| async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    q.0.get("validationToken").cloned().unwrap_or_default(),
                )
            }),
        )
        .route(
            "/slow",
            post(
                |headers: HeaderMap, q: Query<HashMap<String, String>>| async move {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    echo(headers, q).await
                },
            ),
        )
        .route(
            "/redirect",
            post(|| async {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, "/good")],
                )
            }),
        )
        .route(
            "/hook",
            post(
                |State(seen): State<Seen>, headers: HeaderMap, body: Bytes| async move {
                    seen.lock().unwrap().push((headers, body));
                    StatusCode::ACCEPTED
                },
            ),
        )
        .route(
            "/busy",
            post(|| async {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "120")],
                )
            }),
        )
        .route(
            "/down",
            post(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT")],
                )
            }),
        )
        .route("/gone", post(|| async { StatusCode::GONE }))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), seen)
}

fn deliverer(timeout_ms: u64) -> Deliverer {
    Deliverer::new(WebhookGuard::default(), Duration::from_millis(timeout_ms)).unwrap()
}

/// Handshake timeout in the tests (production: 10 s); generous for a busy 2-core machine, far
/// below the 5 s the slow receiver sleeps.
const T: Duration = Duration::from_millis(1000);

#[tokio::test]
async fn handshake_outcomes() {
    let (base, _) = serve().await;
    let d = deliverer(5_000);
    let token = handshake::generate_token();

    handshake::validate(&d, &format!("{base}/good"), &token, T)
        .await
        .unwrap();
    handshake::validate(&d, &format!("{base}/good?tenant=a&x=1"), &token, T)
        .await
        .unwrap();

    let err = |r: Result<(), HandshakeError>| r.unwrap_err();
    let e = err(handshake::validate(&d, &format!("{base}/raw"), &token, T).await);
    assert_eq!(e, HandshakeError::WrongBody, "an encoded token fails");
    let e = err(handshake::validate(&d, &format!("{base}/wrong"), &token, T).await);
    assert_eq!(e, HandshakeError::WrongBody);
    assert_eq!(
        e.to_subscription_error(),
        SubscriptionError::ValidationFailed
    );
    let e = err(handshake::validate(&d, &format!("{base}/500"), &token, T).await);
    assert_eq!(e, HandshakeError::Status(500));
    let e = err(handshake::validate(&d, &format!("{base}/json"), &token, T).await);
    assert_eq!(
        e,
        HandshakeError::ContentType(Some("application/json".into()))
    );
    let e = err(handshake::validate(&d, &format!("{base}/redirect"), &token, T).await);
    assert_eq!(e, HandshakeError::Status(307), "redirects are not followed");
    let e = err(handshake::validate(&d, &format!("{base}/missing"), &token, T).await);
    assert!(matches!(e, HandshakeError::Status(404 | 405)));

    let started = std::time::Instant::now();
    let e = err(handshake::validate(&d, &format!("{base}/slow"), &token, T).await);
    assert_eq!(e, HandshakeError::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(4));
    let s = e.to_subscription_error();
    assert_eq!((s.status(), s.code()), (400, "InvalidRequest"));
    assert_eq!(s.message(), "Subscription validation request timed out.");

    let e = err(handshake::validate(&d, "http://example.com/hook", &token, T).await);
    assert!(matches!(e, HandshakeError::Refused(_)));
    let e = err(handshake::validate(&d, "https://192.168.0.10/hook", &token, T).await);
    assert!(matches!(e, HandshakeError::Refused(_)));

    // A closed port: transport failure, reported as ValidationError.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}/x", l.local_addr().unwrap());
    drop(l);
    let e = err(handshake::validate(&d, &closed, &token, T).await);
    assert!(matches!(e, HandshakeError::Transport(_)), "{e:?}");
    assert_eq!(
        e.to_subscription_error(),
        SubscriptionError::ValidationFailed
    );
}

fn subscription(url: &str) -> Subscription {
    let body = SubscriptionCreate::from_json(include_bytes!(
        "fixtures/concepts__changenotifications-for-callrecords__request-1.json"
    ))
    .unwrap();
    let now = "2023-02-25T02:00:00Z".parse().unwrap();
    let mut s = callrecords_notify::subscription::validate_create(
        &body,
        &callrecords_notify::subscription::CreateContext {
            now,
            new_id: "0d9d0ac2-5e3b-4a8e-9d0f-9a1b2c3d4e5f",
            application_id: "app",
            creator_id: None,
            existing: &[],
        },
    )
    .unwrap();
    s.notification_url = url.to_owned();
    s
}

#[tokio::test]
async fn delivery_signed_and_unsigned() {
    let (base, seen) = serve().await;
    let d = deliverer(2_000);
    let url = format!("{base}/hook?tenant=x");
    let sub = subscription(&url);
    let items: Vec<(String, Notification)> = (0..3)
        .map(|i| {
            (
                url.clone(),
                ChangeNotification::new(
                    &sub,
                    "tenant-1",
                    &format!("rec-{i}"),
                    1,
                    ChangeType::Created,
                )
                .into(),
            )
        })
        .collect();
    let batches = payload::batches(items, payload::MAX_BATCH);
    assert_eq!(batches.len(), 1);
    let batch = &batches[0];
    let body = Bytes::from(batch.body());

    let out = d.post(&batch.key, body.clone(), None).await;
    assert_eq!(
        out.result,
        AttemptResult::Status {
            status: 202,
            retry_after: None
        }
    );
    let mut sched = DeliverySchedule::new(DeliveryPolicy::graph(), jiff::Timestamp::now(), 1);
    assert_eq!(
        sched.on_result(&out, jiff::Timestamp::now()),
        Next::Delivered
    );

    let secret = WebhookSecret::from_bytes(&[42; 32]).unwrap();
    let ts = jiff::Timestamp::now().as_second();
    let sig = secret.headers(&batch.message_id(), ts, &body);
    let out = d.post(&batch.key, body.clone(), Some(&sig)).await;
    assert_eq!(
        out.result,
        AttemptResult::Status {
            status: 202,
            retry_after: None
        }
    );

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let (h0, b0) = &seen[0];
    assert_eq!(b0, &body);
    assert_eq!(h0[header::CONTENT_TYPE], "application/json; charset=utf-8");
    assert!(h0.get("webhook-signature").is_none());
    let v: serde_json::Value = serde_json::from_slice(b0).unwrap();
    assert_eq!(v["value"].as_array().unwrap().len(), 3);
    assert_eq!(
        v["value"][0]["resource"],
        "communications/callRecords/rec-0"
    );
    assert_eq!(v["value"][0]["clientState"], "{Secret client state}");
    let (h1, b1) = &seen[1];
    let get = |n: &str| h1[n].to_str().unwrap().to_owned();
    assert_eq!(get("webhook-id"), batch.message_id());
    assert!(secret.verify(
        &get("webhook-id"),
        &get("webhook-timestamp"),
        b1,
        &get("webhook-signature"),
        ts,
        300
    ));
}

#[tokio::test]
async fn delivery_outcomes() {
    let (base, _) = serve().await;
    let d = deliverer(1000);
    let body = Bytes::from_static(br#"{"value":[]}"#);

    let out = d.post(&format!("{base}/busy"), body.clone(), None).await;
    assert_eq!(
        out.result,
        AttemptResult::Status {
            status: 429,
            retry_after: Some(RetryAfter::Seconds(120))
        }
    );
    let now = jiff::Timestamp::now();
    let mut reliable = DeliverySchedule::new(
        DeliveryPolicy::reliable(jiff::SignedDuration::from_hours(72)),
        now,
        1,
    );
    assert_eq!(
        reliable.on_result(&out, now),
        Next::RetryAt(now + jiff::SignedDuration::from_secs(120))
    );

    let out = d.post(&format!("{base}/down"), body.clone(), None).await;
    assert_eq!(
        out.result,
        AttemptResult::Status {
            status: 503,
            retry_after: Some(RetryAfter::At("2015-10-21T07:28:00Z".parse().unwrap()))
        }
    );

    let out = d.post(&format!("{base}/gone"), body.clone(), None).await;
    assert_eq!(
        out.result,
        AttemptResult::Status {
            status: 410,
            retry_after: None
        }
    );

    let out = d
        .post(&format!("{base}/redirect"), body.clone(), None)
        .await;
    assert_eq!(
        out.result,
        AttemptResult::Status {
            status: 307,
            retry_after: None
        }
    );

    let started = std::time::Instant::now();
    let out = d.post(&format!("{base}/slow"), body.clone(), None).await;
    assert_eq!(out.result, AttemptResult::TimedOut);
    assert!(
        out.elapsed >= Duration::from_millis(1000) && started.elapsed() < Duration::from_secs(4)
    );

    let out = d.post("https://10.1.2.3/hook", body.clone(), None).await;
    assert!(matches!(out.result, AttemptResult::Refused(_)));
    let out = d.post("http://example.com/hook", body.clone(), None).await;
    assert!(matches!(out.result, AttemptResult::Refused(_)));

    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}/x", l.local_addr().unwrap());
    drop(l);
    let out = d.post(&closed, body.clone(), None).await;
    assert!(matches!(out.result, AttemptResult::Failed(_)), "{out:?}");
}

#[tokio::test]
async fn host_names_go_through_the_guarded_resolver() {
    // Names are resolved by the guard's resolver inside reqwest (the address rule itself is
    // unit-tested in guard.rs); "localhost" resolves to loopback and is allowed.
    let (base, _) = serve().await;
    let port = base.rsplit(':').next().unwrap();
    let d = deliverer(2_000);
    let out = d
        .post(
            &format!("http://localhost:{port}/hook"),
            Bytes::from_static(b"{}"),
            None,
        )
        .await;
    assert!(
        matches!(out.result, AttemptResult::Status { status: 202, .. }),
        "{out:?}"
    );
    let out = d
        .post(
            "https://no-such-host.invalid/hook",
            Bytes::from_static(b"{}"),
            None,
        )
        .await;
    assert!(matches!(out.result, AttemptResult::Failed(_)), "{out:?}");
}
