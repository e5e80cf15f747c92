//! Just enough of the W3C WebDriver protocol (JSON over HTTP to chromedriver) to drive the
//! portal like a person: open a page, type into a field, click, read text and the page source,
//! run a script (axe-core), take a screenshot.
//!
//! Why not the `fantoccini` crate: its dependency tree (url → idna → an older ICU with its own
//! proc macros) changes how the workspace's build-time dependencies resolve, which changes
//! RocksDB's build hash, so `cargo test` and `cargo build` would each compile RocksDB (another
//! 15 minutes on a 2-core CI machine) for the sake of one test. The protocol needs a dozen
//! endpoints; they are here, on the `ureq` client the tests already use.
#![allow(dead_code)]

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

/// The key WebDriver uses for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct WebDriver {
    base: String,
    session: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn call(method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
    let req = ureq::http::Request::builder().method(method).uri(url);
    let resp = match body {
        Some(b) => agent().run(
            req.header("Content-Type", "application/json")
                .body(serde_json::to_vec(&b).unwrap())
                .unwrap(),
        ),
        None => agent().run(req.body(Vec::<u8>::new()).unwrap()),
    };
    let mut resp = resp.map_err(|e| format!("{method} {url}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{url}: {e}: {text}"))?;
    if status >= 400 {
        return Err(format!("{method} {url}: {status} {}", v["value"]));
    }
    Ok(v["value"].clone())
}

/// Blocking calls run off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("WebDriver call")
}

impl WebDriver {
    /// A new browser session with these capabilities.
    pub async fn session(base: &str, capabilities: Value) -> Result<WebDriver, String> {
        let base = base.trim_end_matches('/').to_string();
        let url = format!("{base}/session");
        let v = blocking(move || {
            call(
                "POST",
                &url,
                Some(json!({"capabilities": {"alwaysMatch": capabilities}})),
            )
        })
        .await?;
        let session = v["sessionId"].as_str().ok_or("no session id")?.to_string();
        Ok(WebDriver { base, session })
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let method = method.to_string();
        blocking(move || call(&method, &url, body))
            .await
            .unwrap_or_else(|e| panic!("WebDriver: {e}"))
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url}))).await;
    }

    pub async fn current_url(&self) -> String {
        self.cmd("GET", "/url", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub async fn title(&self) -> String {
        self.cmd("GET", "/title", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub async fn source(&self) -> String {
        self.cmd("GET", "/source", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The first element matching a CSS selector (panics when there is none).
    pub async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    pub async fn clear(&self, el: &str) {
        self.cmd("POST", &format!("/element/{el}/clear"), Some(json!({})))
            .await;
    }

    pub async fn send_keys(&self, el: &str, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn click(&self, el: &str) {
        self.cmd("POST", &format!("/element/{el}/click"), Some(json!({})))
            .await;
    }

    pub async fn text(&self, el: &str) -> String {
        self.cmd("GET", &format!("/element/{el}/text"), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub async fn attribute(&self, el: &str, name: &str) -> Option<String> {
        self.cmd("GET", &format!("/element/{el}/attribute/{name}"), None)
            .await
            .as_str()
            .map(str::to_string)
    }

    /// Runs a script; `None` when the browser could not (a page being replaced, say).
    pub async fn try_execute(&self, script: &str) -> Option<Value> {
        let url = format!("{}/session/{}/execute/sync", self.base, self.session);
        let body = json!({"script": script, "args": []});
        blocking(move || call("POST", &url, Some(body))).await.ok()
    }

    pub async fn execute(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    pub async fn execute_async(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// The value of a cookie the browser holds for the current page.
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let v = self.cmd("GET", "/cookie", None).await;
        v.as_array()?
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["value"].as_str())
            .map(str::to_string)
    }

    pub async fn delete_cookies(&self) {
        self.cmd("DELETE", "/cookie", None).await;
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        let v = self.cmd("GET", "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .expect("a base64 PNG")
    }

    pub async fn close(self) {
        self.cmd("DELETE", "", None).await;
    }
}
