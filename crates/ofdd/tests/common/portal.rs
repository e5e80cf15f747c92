//! A browser without JavaScript for the portal's tests: keeps cookies, submits forms with
//! their own CSRF token, signs in; and staff's making of an organisation with a signed-in user.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Admin, TestDaemon};

pub const PASSWORD: &str = "a long enough password";

pub struct Page {
    pub status: u16,
    pub headers: BTreeMap<String, Vec<String>>,
    pub body: String,
    /// The body's bytes (downloads).
    pub bytes: Vec<u8>,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.first())
            .map_or("", String::as_str)
    }
}

/// A browser without JavaScript: keeps cookies, follows nothing by itself.
#[derive(Clone)]
pub struct Browser {
    pub base: String,
    pub cookies: BTreeMap<String, String>,
    pub accept_language: Option<String>,
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        Browser {
            base: base.to_string(),
            cookies: BTreeMap::new(),
            accept_language: None,
        }
    }

    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        form: Option<Vec<(String, String)>>,
    ) -> Page {
        let url = format!("{}{}", self.base, path);
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let lang = self.accept_language.clone();
        let method = method.to_string();
        let page = tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .max_redirects_will_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build()
                .into();
            let mut req = ureq::http::Request::builder()
                .method(method.as_str())
                .uri(&url);
            if !cookie.is_empty() {
                req = req.header("Cookie", cookie);
            }
            if let Some(l) = lang {
                req = req.header("Accept-Language", l);
            }
            let resp = match form {
                Some(fields) => {
                    let body = fields
                        .iter()
                        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                        .collect::<Vec<_>>()
                        .join("&");
                    agent.run(
                        req.header("Content-Type", "application/x-www-form-urlencoded")
                            .body(body.into_bytes())
                            .unwrap(),
                    )
                }
                None => agent.run(req.body(Vec::<u8>::new()).unwrap()),
            };
            let mut resp = resp.expect("HTTP request");
            let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (k, v) in resp.headers() {
                headers
                    .entry(k.as_str().to_string())
                    .or_default()
                    .push(v.to_str().unwrap_or("").to_string());
            }
            let body = resp
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_vec()
                .unwrap_or_default();
            Page {
                status: resp.status().as_u16(),
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                bytes: body,
            }
        })
        .await
        .unwrap();
        for c in page.headers.get("set-cookie").into_iter().flatten() {
            let first = c.split(';').next().unwrap_or("");
            if let Some((k, v)) = first.split_once('=') {
                if v.is_empty() || c.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.call("GET", path, None).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let form = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.call("POST", path, Some(form)).await
    }

    /// Opens a page with a form and submits it with the form's own CSRF token.
    pub async fn submit(&mut self, page_path: &str, action: &str, form: &[(&str, &str)]) -> Page {
        let p = self.get(page_path).await;
        assert_eq!(p.status, 200, "{page_path}: {}", p.body);
        let csrf =
            hidden(&p.body, "csrf").unwrap_or_else(|| panic!("no CSRF field on {page_path}"));
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(form);
        self.post(action, &all).await
    }

    pub async fn sign_in(&mut self, login: &str) {
        let r = self
            .submit(
                "/login",
                "/login",
                &[
                    ("login", login),
                    ("password", PASSWORD),
                    ("next", "/monitoring"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "sign-in of {login}: {}", r.body);
        assert_eq!(r.header("location"), "/monitoring");
        assert!(self.cookies.contains_key("ofdd_session"));
    }
}

pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The value of a hidden input named `name`.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker)? + marker.len();
    Some(html[at..].split('"').next()?.to_string())
}

/// The text inside the element with `id`.
pub fn by_id(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let at = html.find(&marker)?;
    let rest = &html[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find('<')?;
    Some(rest[start..start + end].replace("&amp;", "&"))
}

pub async fn api(admin: &Admin, method: &str, path: &str, body: Value) -> Value {
    let r = admin.request(method, path, Some(body)).await;
    assert!(r.status < 300, "{method} {path}: {} {}", r.status, r.text());
    r.json()
}

/// Staff creates an organisation with an admin; the admin's link is set through the portal.
pub async fn taxpayer(t: &TestDaemon, portal: &str, inn: &str, login: &str, role: &str) -> Browser {
    let admin = t.admin();
    if admin
        .get(&format!("/api/v1/organisations/{inn}"))
        .await
        .status
        == 404
    {
        api(
            &admin,
            "POST",
            "/api/v1/organisations",
            json!({"inn": inn, "name": format!("Org {inn}"), "kind": "taxpayer"}),
        )
        .await;
    }
    let user = api(
        &admin,
        "POST",
        &format!("/api/v1/organisations/{inn}/users"),
        json!({"login": login, "name": login, "role": role}),
    )
    .await;
    let url = user["set_password"]["url"]
        .as_str()
        .expect("the link is shown once without SMTP");
    let path = &url[url
        .find("/set-password")
        .expect("the link leads to the portal")..];
    let mut b = Browser::new(portal);
    let r = b
        .submit(
            path,
            "/set-password",
            &[
                ("token", &hidden_token(path)),
                ("password", PASSWORD),
                ("repeat", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    b.sign_in(login).await;
    b
}

pub fn hidden_token(path: &str) -> String {
    path.split("token=").nth(1).unwrap_or("").to_string()
}

/// The text of one part of a zip file (an `.xlsx` is one), read by Python's standard library.
pub fn zip_part(bytes: &[u8], part: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file.zip");
    std::fs::write(&path, bytes).unwrap();
    let python = super::tools::require_tool("python3").expect("python3 reads the workbook");
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]).decode())",
        ])
        .arg(&path)
        .arg(part)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "reading {part}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
