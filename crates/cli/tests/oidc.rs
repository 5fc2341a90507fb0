//! The dashboard's OpenID Connect sign-in against the real binary: `serve --auth jwt --oidc-…` signing in
//! at a second process, `serve --fake` (its authorize and token endpoints), and `serve --fake
//! --oidc-client-id` signing in against itself. A small cookie jar here keeps each cookie with its path
//! and drops it on `Max-Age=0`, as a browser would; redirects are followed by hand, so each hop is seen.

mod common;

use std::collections::HashMap;

use common::spawn;

const TENANT: &str = "dc368399-474c-4d40-900c-6265431fd81f";

/// Cookies by name: (value, path).
#[derive(Default)]
struct Jar(HashMap<String, (String, String)>);

impl Jar {
    fn take(&mut self, resp: &reqwest::Response) {
        for v in resp.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let mut parts = v.split(';').map(str::trim);
            let (name, value) = parts.next().unwrap().split_once('=').unwrap();
            let mut path = "/".to_owned();
            let mut gone = false;
            for a in parts {
                if let Some(p) = a.strip_prefix("Path=") {
                    path = p.to_owned();
                }
                if a == "Max-Age=0" {
                    gone = true;
                }
            }
            if gone {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), (value.to_owned(), path));
            }
        }
    }

    fn header(&self, url: &str) -> String {
        let path = url
            .split_once("://")
            .map(|(_, r)| &r[r.find('/').unwrap_or(r.len())..])
            .unwrap_or(url);
        self.0
            .iter()
            .filter(|(_, (_, p))| path.starts_with(p.as_str()))
            .map(|(k, (v, _))| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

struct Browser {
    http: reqwest::Client,
    jar: Jar,
}

impl Browser {
    fn new() -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: Jar::default(),
        }
    }

    async fn send(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .http
            .request(method.parse().unwrap(), url)
            .header("cookie", self.jar.header(url));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        self.jar.take(&resp);
        resp
    }

    /// GET `url`, following redirects (relative ones against `base`): the final answer and every URL
    /// visited.
    async fn follow(&mut self, base: &str, url: &str) -> (reqwest::Response, Vec<String>) {
        let mut url = url.to_owned();
        let mut seen = vec![url.clone()];
        for _ in 0..10 {
            let resp = self.send("GET", &url, &[]).await;
            if !resp.status().is_redirection() {
                return (resp, seen);
            }
            let loc = resp.headers()["location"].to_str().unwrap().to_owned();
            url = if loc.starts_with('/') {
                format!("{base}{loc}")
            } else {
                loc
            };
            seen.push(url.clone());
        }
        panic!("redirect loop: {seen:?}");
    }
}

/// Signs in at `base` (whose identity provider is at `idp`), then reads data, checks the CSRF defence and
/// signs out.
async fn sign_in_and_use(base: &str, idp: &str) {
    let mut b = Browser::new();
    // The dashboard's page is public; its data wants a sign-in.
    assert_eq!(b.send("GET", &format!("{base}/"), &[]).await.status(), 200);
    assert_eq!(
        b.send("GET", &format!("{base}/dashboard/app.js"), &[])
            .await
            .status(),
        200
    );
    assert_eq!(
        b.send("GET", &format!("{base}/analytics/v1/calls"), &[])
            .await
            .status(),
        401
    );
    let (done, seen) = b
        .follow(base, &format!("{base}/auth/login?return=/%23/calls"))
        .await;
    assert_eq!(done.status(), 200, "{seen:?}");
    assert!(
        seen[1].starts_with(&format!("{idp}/{TENANT}/oauth2/v2.0/authorize?")),
        "{seen:?}"
    );
    assert!(
        seen[2].starts_with(&format!("{base}/auth/callback?code=")),
        "{seen:?}"
    );
    assert_eq!(seen.last().unwrap(), &format!("{base}/#/calls"));
    assert!(b.jar.0.contains_key("callrecords_session"));
    assert!(
        !b.jar.0.contains_key("callrecords_login"),
        "the sign-in cookie is spent"
    );

    let me = b.send("GET", &format!("{base}/auth/me"), &[]).await;
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = serde_json::from_str(&me.text().await.unwrap()).unwrap();
    assert_eq!(me["signedIn"], true);
    assert_eq!(me["tenantId"], TENANT);
    assert_eq!(me["user"]["name"], "Test Admin");
    let csrf = me["csrfToken"].as_str().unwrap().to_owned();

    let calls = b
        .send("GET", &format!("{base}/analytics/v1/calls"), &[])
        .await;
    assert_eq!(calls.status(), 200);
    let graph = b
        .send(
            "GET",
            &format!("{base}/v1.0/communications/callRecords"),
            &[],
        )
        .await;
    assert_eq!(graph.status(), 200);

    // A cross-site form post with the cookie: 403, whatever the body.
    let r = b
        .send(
            "PUT",
            &format!("{base}/analytics/v1/buildings"),
            &[
                ("origin", "https://evil.example"),
                ("content-type", "text/csv"),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = b
        .send(
            "POST",
            &format!("{base}/auth/logout"),
            &[("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(r.status(), 204);
    assert!(!b.jar.0.contains_key("callrecords_session"));
    assert_eq!(
        b.send("GET", &format!("{base}/analytics/v1/calls"), &[])
            .await
            .status(),
        401
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_signs_the_dashboard_in_at_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let idp_dir = dir.path().join("idp");
    let api_dir = dir.path().join("api");
    let idp = spawn(
        &["serve", "--fake", "--tenant", TENANT, "--speed", "0"],
        &idp_dir,
        "/healthz",
    );
    let idp_base = format!("http://127.0.0.1:{}", idp.1);
    let issuer = format!("{idp_base}/{{tenantid}}/v2.0");
    let jwks = format!("{idp_base}/{TENANT}/discovery/v2.0/keys");
    let discovery = format!("{idp_base}/{TENANT}/v2.0");
    let api = spawn(
        &[
            "serve",
            "--auth",
            "jwt",
            "--jwt-issuer",
            &issuer,
            "--jwt-audience",
            "api://callrecords",
            "--jwks-url",
            &jwks,
            "--oidc-client-id",
            "fake-client",
            "--oidc-client-secret",
            "fake-secret",
            "--oidc-issuer",
            &discovery,
        ],
        &api_dir,
        "/healthz",
    );
    sign_in_and_use(&format!("http://127.0.0.1:{}", api.1), &idp_base).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_fake_signs_its_dashboard_in_against_itself() {
    let dir = tempfile::tempdir().unwrap();
    let s = spawn(
        &[
            "serve",
            "--fake",
            "--tenant",
            TENANT,
            "--speed",
            "0",
            "--oidc-client-id",
            "fake-client",
        ],
        dir.path(),
        "/healthz",
    );
    let base = format!("http://127.0.0.1:{}", s.1);
    sign_in_and_use(&base, &base).await;
}

#[test]
fn sign_in_options_without_a_client_id_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::bin()
        .args([
            "serve",
            "--oidc-issuer",
            "http://idp.test",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--oidc-client-id"), "{err}");
    // Sign-in needs --auth jwt.
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 t CallRecords.Read.All\n",
    )
    .unwrap();
    let out = common::bin()
        .args(["serve", "--auth", "static", "--tokens-file"])
        .arg(&tokens)
        .args(["--oidc-client-id", "x", "--oidc-issuer", "http://idp.test"])
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--auth jwt"), "{err}");
}
