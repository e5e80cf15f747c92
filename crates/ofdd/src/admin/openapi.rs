//! `GET /api/v1/openapi.json`: the OpenAPI 3.0 description of the JSON API, generated from the
//! route table (`routes.rs`) the router itself is built from, so the two cannot disagree.

use axum::Json;
use serde_json::{Map, Value, json};

use super::routes::{Body, api_routes};

/// The document (built once; it depends only on the code).
pub fn spec() -> Value {
    let mut paths = Map::new();
    for r in api_routes() {
        let full = format!("/api/v1{}", r.path);
        let mut params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
            })
            .collect();
        params.extend(r.query.iter().map(|(name, ty, desc)| {
            let schema = if *ty == "integer" {
                json!({ "type": "integer", "minimum": 0 })
            } else {
                json!({ "type": ty })
            };
            json!({ "name": name, "in": "query", "required": false, "description": desc, "schema": schema })
        }));
        let ok_content = match r.returns {
            Body::Json => json!({ "application/json": { "schema": { "type": "object" } } }),
            Body::JsonOrCsv => json!({
                "application/json": { "schema": { "type": "object" } },
                "text/csv": { "schema": { "type": "string" } },
            }),
            Body::Bytes => {
                json!({ "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } })
            }
            Body::Empty => Value::Null,
        };
        let mut ok = json!({ "description": "success" });
        if !ok_content.is_null() {
            ok["content"] = ok_content;
        }
        let mut op = json!({
            "summary": r.summary,
            "tags": [r.tag],
            "operationId": format!("{}{}", r.method.to_lowercase(), r.path.replace(['/', '{', '}', '-'], "_")),
            "parameters": params,
            "responses": {
                r.ok.to_string(): ok,
                "default": {
                    "description": "an error: 4xx with the reason (and the field at fault), 503 while the store cannot write",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
                },
            },
        });
        if r.public {
            op["security"] = json!([]);
        }
        if let Some(body) = r.body {
            op["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": body() } },
            });
        }
        let item = paths
            .entry(full)
            .or_insert_with(|| Value::Object(Map::new()));
        item[r.method.to_lowercase()] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "ofdd API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The fiscal data operator's JSON API: registers, documents, Kazakh KKMs, accounts and tenancy. Every tenant sees only its own registers; another tenant's object is 404.",
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }, { "session": [] }],
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "the operator's root token, or an organisation's API key (ofk_…)" },
                "session": { "type": "apiKey", "in": "cookie", "name": super::principal::SESSION_COOKIE },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": { "type": "string" }, "field": { "type": "string" } },
                },
            },
        },
        "paths": paths,
    })
}

pub async fn document() -> Json<Value> {
    static SPEC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    Json(SPEC.get_or_init(spec).clone())
}
