//! Graph's error body (spec §13): `{"error":{"code","message","innerError":{"request-id","date"}}}`.

use jiff::Timestamp;
use serde_json::{Value, json};

/// One Graph error: an HTTP status, a `code` and a `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub status: http::StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl GraphError {
    pub fn new(status: http::StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code,
            message: message.into(),
        }
    }

    /// The JSON body, with `innerError` carrying `request-id` and `date` (as Graph does; the
    /// `client-request-id` is repeated when the client sent one).
    pub fn body(
        &self,
        request_id: &str,
        client_request_id: Option<&str>,
        date: Timestamp,
    ) -> Value {
        let mut inner = json!({
            "date": date.strftime("%Y-%m-%dT%H:%M:%S").to_string(),
            "request-id": request_id,
        });
        if let (Some(c), Some(obj)) = (client_request_id, inner.as_object_mut()) {
            obj.insert("client-request-id".into(), Value::String(c.into()));
        }
        json!({"error": {"code": self.code, "message": self.message, "innerError": inner}})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_shape() {
        let e = GraphError::new(http::StatusCode::NOT_FOUND, "itemNotFound", "gone");
        let t: Timestamp = "2026-12-01T10:00:00.123Z".parse().unwrap();
        let b = e.body("r-1", Some("c-1"), t);
        assert_eq!(
            b,
            json!({"error": {"code": "itemNotFound", "message": "gone", "innerError": {
                "date": "2026-12-01T10:00:00", "request-id": "r-1", "client-request-id": "c-1"}}})
        );
        let b = e.body("r-1", None, t);
        assert!(b["error"]["innerError"].get("client-request-id").is_none());
    }
}
