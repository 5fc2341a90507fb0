//! The OpenAPI 3 document of the routes outside Graph's namespace that tools integrate with:
//! `/analytics/v1/...` and `/ingest/{kind}`, served at `GET /analytics/v1/openapi.json`.
//!
//! Generated from the code: every operation comes from the `#[utoipa::path]` attribute of its handler,
//! and the routers of [`crate::analytics`] and [`crate::ingest`] are built from the SAME registrations
//! (`utoipa_axum::routes!`), so a route cannot be served without being documented. The value lists that
//! live in code rather than in attributes are filled in from that code here: `groupBy` from
//! [`GroupKey::ALL`], `kind` from [`crate::analytics::SUMMARY_KINDS`], the ingest `{kind}` from
//! [`crate::ingest::kinds`], and the summary's example is a real (empty) summary serialized by the
//! quality crate.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use callrecords_quality::{Counts, GroupKey};
use serde_json::{Value, json};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// Graph's error body, as every non-2xx answer of these routes carries it.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // a schema only: the body is built by crate::error
pub struct GraphError {
    error: GraphErrorDetail,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
struct GraphErrorDetail {
    /// e.g. `BadRequest`, `itemNotFound`, `serviceUnavailable`.
    code: String,
    message: String,
    #[schema(rename = "innerError")]
    inner_error: GraphInnerError,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
struct GraphInnerError {
    #[schema(rename = "request-id")]
    request_id: String,
    date: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "callrecords analytics and ingest",
        description = "CQD call-quality analytics (`/analytics/v1`) and record ingest (`/ingest`) of \
                       callrecords. Graph's own read API (`/v1.0`, `/beta`) is described by its \
                       `$metadata`, not here.",
    ),
    components(schemas(GraphError)),
    tags(
        (name = "analytics", description = "CQD summaries, stream rows, buildings, missing subnets."),
        (name = "ingest", description = "Storing call records and log rows."),
    )
)]
struct ApiDoc;

/// The analytics and ingest routes with their operations (the router half is what [`crate::app`] serves).
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::analytics::api_routes())
        .merge(crate::ingest::api_routes())
}

fn set_enum(op: &mut Value, param: &str, values: &[String]) {
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    for p in params.iter_mut().filter(|p| p["name"] == param) {
        p["schema"] = json!({"type": "string", "enum": values});
    }
}

/// The document, as JSON.
pub fn document() -> Value {
    let (_, api) = api_routes().split_for_parts();
    let mut doc = serde_json::to_value(&api).unwrap_or_default();
    let paths = &mut doc["paths"];
    let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let group_keys = names(&GroupKey::ALL.map(GroupKey::name));
    let summary = &mut paths["/analytics/v1/summary"]["get"];
    set_enum(summary, "groupBy", &group_keys);
    set_enum(summary, "kind", &names(&crate::analytics::SUMMARY_KINDS));
    if let Ok(example) = serde_json::to_value(Counts::default().summary(None, None)) {
        summary["responses"]["200"]["content"]["application/json"]["example"] = example;
    }
    let streams = &mut paths["/analytics/v1/streams"]["get"];
    set_enum(
        streams,
        "kind",
        &names(&["audio", "video", "vbss", "appSharing", "other"]),
    );
    set_enum(streams, "class", &names(&["good", "poor", "unclassified"]));
    set_enum(
        &mut paths["/ingest/{kind}"]["post"],
        "kind",
        &crate::ingest::kinds(),
    );
    add_security(&mut doc);
    doc
}

/// The bearer scheme, and on every operation the access table ([`crate::auth::access_of`]) protects: its
/// roles, and the 401 and 403 answers in Graph's error shape. From the same table the server enforces, so
/// the document cannot say a route is open when it is not.
fn add_security(doc: &mut Value) {
    use crate::auth::{Access, access_of};
    doc["components"]["securitySchemes"]["bearer"] = json!({
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "`serve --auth jwt`: an access token of the configured issuer (Entra ID, or                         `serve --fake`'s token endpoint) whose `roles` hold one of the operation's roles                         and whose `tid` is the tenant it sees. `serve --auth static`: a token of the                         tokens file. Without `--auth` (loopback only) no token is asked for.",
    });
    let error =
        json!({"application/json": {"schema": {"$ref": "#/components/schemas/GraphError"}}});
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let Ok(m) = axum::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            else {
                continue;
            };
            let access = access_of(&m, path);
            if access == Access::Public {
                continue;
            }
            let roles = access.roles();
            op["security"] = json!([{"bearer": roles}]);
            op["responses"]["401"] = json!({
                "description": "No valid bearer token: missing, expired or not yet valid, wrong issuer or                                 audience, unknown key, bad signature (`InvalidAuthenticationToken`).",
                "headers": {"WWW-Authenticate": {
                    "description": "`Bearer realm=\"callrecords\"`",
                    "schema": {"type": "string"},
                }},
                "content": error.clone(),
            });
            let role_list = roles
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(" or ");
            op["responses"]["403"] = json!({
                "description": if roles.is_empty() {
                    "The token is not allowed here (`accessDenied`).".to_owned()
                } else {
                    format!("The token's roles hold none of {role_list} (`accessDenied`).")
                },
                "content": error.clone(),
            });
        }
    }
}

/// `GET /analytics/v1/openapi.json`.
#[utoipa::path(get, path = "/analytics/v1/openapi.json", tag = "analytics",
    responses((status = 200, description = "This OpenAPI document.", body = Object)))]
pub(crate) async fn openapi_json() -> Response {
    static DOC: OnceLock<String> = OnceLock::new();
    let body = DOC.get_or_init(|| document().to_string()).clone();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
