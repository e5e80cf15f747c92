//! The deployment kit in `deploy/` is code too, and these tests keep it honest.
//!
//! Configuration that nothing checks rots silently: an alert on a metric that was renamed never
//! fires, a dashboard panel on a typo stays empty, an example config with a stale key stops the
//! daemon at the next restart. So every file in `deploy/` is checked against the real thing:
//!
//! - Prometheus configuration and alert rules with `promtool` (syntax, and the rule unit tests in
//!   `alerts.test.yml`, which prove each alert fires on a bad series and stays silent on a good one);
//! - every metric an alert or a dashboard panel queries against what a live daemon exports, and
//!   every `ofd_*` metric the daemon exports against the dashboard (no metric without a panel);
//! - the dashboard's queries through the PromQL parser;
//! - `deploy/ofdd.toml` through `ofdd check-config`, and against the built-in defaults it claims;
//! - the systemd unit's hardening, and `systemd-analyze verify`;
//! - the container health probe against a live daemon, a failing server and a closed port.
//!
//! `promtool` and `systemd-analyze` are required (Debian packages `prometheus` and `systemd`,
//! installed by `scripts/setup.sh`): a missing tool fails the test with instructions rather than
//! skipping it (`systemd-analyze` may be skipped, counted, under `OFDD_TEST_ALLOW_SKIP=1`: see
//! `common/tools.rs`).

#[path = "common/tools.rs"]
mod tools;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use ofd_proto::builder::{DocSpec, KktIdentity, build_message};
use ofd_proto::doctype::DocType;
use ofdd::config::Config;
use ofdd::daemon::Daemon;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---- paths and tools -----------------------------------------------------------------------------

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn deploy(path: &str) -> PathBuf {
    repo_root().join("deploy").join(path)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

fn promtool() -> PathBuf {
    find_in_path("promtool").unwrap_or_else(|| {
        panic!(
            "promtool is not installed, so the Prometheus configuration cannot be checked. \
             Install it with `apt-get install prometheus` (or run scripts/setup.sh)."
        )
    })
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn describe(out: &Output) -> String {
    format!(
        "exit: {}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_success(what: &str, out: &Output) {
    assert!(out.status.success(), "{what} failed\n{}", describe(out));
    println!(
        "{what}: ok\n{}",
        String::from_utf8_lossy(&out.stdout).trim_end()
    );
}

// ---- reading the kit's files -----------------------------------------------------------------------

/// One alerting rule of `alerts.yml`, read line by line (the file is ours and keeps to a plain
/// subset of YAML: `expr` is a one-line scalar or a `|` block).
#[derive(Debug)]
struct AlertRule {
    name: String,
    expr: String,
    lines: Vec<String>,
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn alert_rules(text: &str) -> Vec<AlertRule> {
    let lines: Vec<&str> = text.lines().collect();
    let mut rules: Vec<AlertRule> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            rules.push(AlertRule {
                name: name.trim().to_string(),
                expr: String::new(),
                lines: Vec::new(),
            });
        } else if trimmed.starts_with("- name:") || trimmed.starts_with("- record:") {
            // A new group or a recording rule ends the current alert.
            rules.push(AlertRule {
                name: String::new(),
                expr: String::new(),
                lines: Vec::new(),
            });
        }
        if let Some(rule) = rules.last_mut() {
            rule.lines.push(line.to_string());
            if let Some(value) = trimmed.strip_prefix("expr:") {
                let value = value.trim();
                if value.starts_with('|') || value.starts_with('>') {
                    let base = indent_of(line);
                    let mut block = Vec::new();
                    while i + 1 < lines.len()
                        && (lines[i + 1].trim().is_empty() || indent_of(lines[i + 1]) > base)
                    {
                        i += 1;
                        block.push(lines[i].trim());
                        rule.lines.push(lines[i].to_string());
                    }
                    rule.expr = block.join(" ").trim().to_string();
                } else {
                    assert!(
                        !value.starts_with('"') && !value.starts_with('\''),
                        "alert {}: write expr unquoted or as a | block, so it reads as PromQL: {value}",
                        rule.name
                    );
                    rule.expr = value.to_string();
                }
            }
        }
        i += 1;
    }
    rules.retain(|r| !r.name.is_empty());
    rules
}

fn dashboard() -> Value {
    let path = deploy("grafana/dashboards/ofdd.json");
    serde_json::from_str(&read(&path))
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// Every panel, including those nested in collapsed rows.
fn panels(dash: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            if let Some(children) = p.get("panels") {
                walk(children, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dash["panels"], &mut out);
    out
}

/// Every `expr` of the dashboard (panel targets) plus the metric queries of its variables.
fn dashboard_queries(dash: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(dash) {
        let title = p["title"].as_str().unwrap_or("?").to_string();
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = t["expr"].as_str() {
                out.push((title.clone(), expr.to_string()));
            }
        }
    }
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        let query = v["query"]["query"]
            .as_str()
            .or_else(|| v["query"].as_str())
            .unwrap_or("");
        if let Some(inner) = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
        {
            // label_values(metric{...}, label): the part before the last comma is a selector.
            if let Some((selector, _label)) = inner.rsplit_once(',') {
                out.push((
                    format!("variable {}", v["name"]),
                    selector.trim().to_string(),
                ));
            }
        }
    }
    out
}

/// Grafana's variables replaced by values PromQL accepts, for the parser and the name scan.
fn substitute_grafana_variables(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
        .replace("$instance", ".*")
        .replace("$job", "ofdd")
}

// ---- PromQL metric names ---------------------------------------------------------------------------

/// Metric names a PromQL expression reads. Skips strings, label matchers (`{…}`), ranges (`[…]`),
/// label lists after `by`/`without`/`on`/`ignoring`/`group_left`/`group_right`, function and
/// aggregation names (anything followed by `(`), keywords and numbers.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "atan2",
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
        "limitk",
        "limit_ratio",
    ];
    const LABEL_LISTS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_to = |from: usize, close: char| -> usize {
        let mut j = from;
        while j < chars.len() && chars[j] != close {
            if chars[j] == '"' || chars[j] == '\'' || chars[j] == '`' {
                let q = chars[j];
                j += 1;
                while j < chars.len() && chars[j] != q {
                    if chars[j] == '\\' {
                        j += 1;
                    }
                    j += 1;
                }
            }
            j += 1;
        }
        j + 1
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            // skip_to treats the opening quote as the start of a string and stops after the close.
            let mut j = i + 1;
            while j < chars.len() && chars[j] != c {
                if chars[j] == '\\' {
                    j += 1;
                }
                j += 1;
            }
            i = j + 1;
        } else if c == '{' {
            i = skip_to(i + 1, '}');
        } else if c == '[' {
            i = skip_to(i + 1, ']');
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_')
            {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let followed_by_paren = chars.get(next) == Some(&'(');
            if LABEL_LISTS.contains(&word.as_str()) {
                if followed_by_paren {
                    i = skip_to(next + 1, ')');
                }
            } else if !followed_by_paren && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str())
            {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Metric families a scrape exposes, from its `# TYPE` lines, each with the series names it
/// exposes (a histogram also `_bucket`/`_sum`/`_count`, a summary `_sum`/`_count`).
fn exported_families(scrape: &str) -> BTreeMap<String, Vec<String>> {
    let mut families = BTreeMap::new();
    for line in scrape.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            let suffixes: &[&str] = match kind {
                "histogram" => &["", "_bucket", "_sum", "_count"],
                "summary" => &["", "_sum", "_count"],
                _ => &[""],
            };
            families.insert(
                name.to_string(),
                suffixes.iter().map(|s| format!("{name}{s}")).collect(),
            );
        }
    }
    families
}

/// Series Prometheus makes up itself for every target; no exporter ever exposes them.
const SYNTHETIC: &[&str] = &[
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_series_added",
    "scrape_samples_post_metric_relabeling",
];

// ---- a live daemon -----------------------------------------------------------------------------------

struct Live {
    daemon: Daemon,
    _dir: tempfile::TempDir,
}

async fn start_daemon() -> Live {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        admin_listen: "127.0.0.1:0".parse().expect("address"),
        portal_listen: "127.0.0.1:0".parse().expect("address"),
        data: dir.path().join("data"),
        ..Config::default()
    };
    let daemon = Daemon::start(config).await.expect("the daemon starts");
    Live { daemon, _dir: dir }
}

async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let url = format!("http://{addr}{path}");
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut resp = agent
            .get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("GET {url} body: {e}"));
        (status, body)
    })
    .await
    .expect("the HTTP thread")
}

/// Send one valid receipt and wait for its acknowledgement, so the per-document metrics (the
/// labelled counter and the latency and store histograms) have series.
async fn send_receipt(ingest: SocketAddr) {
    let now = u32::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("time fits in u32");
    let mut msg = Vec::new();
    build_message(
        &KktIdentity::generate(7),
        &DocSpec::new(DocType::Receipt, 1, now - 60),
        &mut msg,
    )
    .expect("the builder makes a message");
    let mut stream = TcpStream::connect(ingest).await.expect("connect to ingest");
    stream.write_all(&msg).await.expect("send the receipt");
    let mut head = [0u8; 30];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut head))
        .await
        .expect("an acknowledgement within 10 s")
        .expect("read the acknowledgement header");
}

/// Send bytes that are no message at all, so a framing rejection is counted, and wait for the
/// daemon to close the connection.
async fn send_garbage(ingest: SocketAddr) {
    let mut stream = TcpStream::connect(ingest).await.expect("connect to ingest");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: not-a-register\r\n\r\n")
        .await
        .expect("send garbage");
    let mut buf = [0u8; 256];
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

// ---- Prometheus --------------------------------------------------------------------------------------

#[test]
fn prometheus_config_and_rules_pass_promtool() {
    let promtool = promtool();
    let out = run(Command::new(&promtool)
        .arg("check")
        .arg("config")
        .arg(deploy("prometheus/prometheus.yml")));
    assert_success(
        "promtool check config deploy/prometheus/prometheus.yml",
        &out,
    );
    let out = run(Command::new(&promtool)
        .arg("check")
        .arg("rules")
        .arg(deploy("prometheus/alerts.yml")));
    assert_success("promtool check rules deploy/prometheus/alerts.yml", &out);
    let out = run(Command::new(&promtool)
        .arg("test")
        .arg("rules")
        .arg(deploy("prometheus/alerts.test.yml")));
    assert_success(
        "promtool test rules deploy/prometheus/alerts.test.yml",
        &out,
    );
}

#[test]
fn every_alert_has_duration_severity_and_annotations() {
    let text = read(&deploy("prometheus/alerts.yml"));
    let rules = alert_rules(&text);
    let declared = text
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    assert_eq!(rules.len(), declared, "every `- alert:` must be read");
    assert!(
        rules.len() >= 10,
        "expected the full alert set, found {}",
        rules.len()
    );
    for rule in &rules {
        assert!(!rule.expr.is_empty(), "alert {} has no expr", rule.name);
        let has = |key: &str| rule.lines.iter().any(|l| l.trim_start().starts_with(key));
        for key in ["for:", "severity:", "summary:", "description:"] {
            assert!(has(key), "alert {} lacks `{key}`", rule.name);
        }
        let severity = rule
            .lines
            .iter()
            .find_map(|l| l.trim_start().strip_prefix("severity:"))
            .map(str::trim);
        assert!(
            matches!(severity, Some("critical" | "warning" | "info")),
            "alert {}: severity must be critical, warning or info, not {severity:?}",
            rule.name
        );
    }
    // The alerts the operator asked for, by what they query.
    let all_exprs: String = rules
        .iter()
        .map(|r| r.expr.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "up{job=\"ofdd\"} == 0",
        "ofd_kkt_liveness{state=\"red\"}",
        "ofd_kkt_fn_trouble{kind=\"untransmitted\"}",
        "ofd_kkt_fn_trouble{kind=\"memory_nearly_full\"}",
        "ofd_kkt_fn_trouble{kind=\"key_expiry_urgent\"}",
        "histogram_quantile(0.99, sum by (instance, le) (rate(ofd_ack_latency_seconds_bucket[5m]))) > 0.05",
        "ofd_documents_total{result=~\"rejected|refused\"}",
        "ofd_frames_rejected_total",
        "ofd_store_commit_seconds_bucket",
        "ofd_export_lag >",
    ] {
        assert!(all_exprs.contains(needle), "no alert queries `{needle}`");
    }
}

#[test]
fn prometheus_scrapes_the_admin_listener() {
    let text = read(&deploy("prometheus/prometheus.yml"));
    assert!(
        text.contains("job_name: ofdd"),
        "a scrape job named ofdd (the alerts select job=\"ofdd\")"
    );
    assert!(text.contains("metrics_path: /metrics"));
    assert!(
        text.contains("\"ofdd:9100\""),
        "the compose service's admin port"
    );
    assert!(
        text.lines().any(|l| l.trim() == "- alerts.yml"),
        "rule_files loads alerts.yml"
    );
}

// ---- Grafana -----------------------------------------------------------------------------------------

#[test]
fn dashboard_panels_all_have_queries_on_a_templated_datasource() {
    let dash = dashboard();
    let schema = dash["schemaVersion"].as_u64().expect("schemaVersion");
    assert!(
        (36..=41).contains(&schema),
        "schemaVersion {schema}: keep it near 39"
    );
    assert!(
        dash["uid"].as_str().is_some_and(|u| !u.is_empty()),
        "a stable uid, so links survive re-provisioning"
    );
    let vars: Vec<&str> = dash["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(
        vars.contains(&"datasource"),
        "a `datasource` variable, so the dashboard imports anywhere"
    );

    let mut ids = BTreeSet::new();
    let mut charts = 0;
    for p in panels(&dash) {
        let title = p["title"].as_str().unwrap_or("?");
        let id = p["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("panel {title:?} has no id"));
        assert!(ids.insert(id), "panel id {id} ({title:?}) is used twice");
        let grid = &p["gridPos"];
        for k in ["h", "w", "x", "y"] {
            assert!(grid[k].is_u64(), "panel {title:?} lacks gridPos.{k}");
        }
        if p["type"] == "row" {
            continue;
        }
        charts += 1;
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("panel {title:?} has no targets"));
        assert!(
            targets
                .iter()
                .any(|t| t["expr"].as_str().is_some_and(|e| !e.trim().is_empty())),
            "panel {title:?} has no target with a query"
        );
        for t in targets {
            let ds = t["datasource"]["uid"]
                .as_str()
                .or_else(|| p["datasource"]["uid"].as_str())
                .unwrap_or("");
            assert!(
                ds == "${datasource}" || ds == "${DS_PROMETHEUS}",
                "panel {title:?}: data source must be the template variable, not {ds:?}"
            );
        }
    }
    assert!(
        charts >= 12,
        "expected the full dashboard, found {charts} panels"
    );

    let queries: String = dashboard_queries(&dash)
        .into_iter()
        .map(|(_, e)| e)
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "ofd_kkt_liveness",
        "sum by (doc_type) (rate(ofd_documents_total",
        "sum by (result) (rate(ofd_documents_total",
        "histogram_quantile(0.5, sum by (le) (rate(ofd_ack_latency_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(ofd_ack_latency_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(ofd_store_commit_seconds_bucket",
        "ofd_store_batch_documents",
        "sum by (reason) (rate(ofd_frames_rejected_total",
        "ofd_connections_open",
        "sum by (outcome) (rate(ofd_connections_total",
        "ofd_kkt_fn_trouble",
        "ofd_export_lag",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "sum by (protocol) (rate(ofd_frames_total",
        "sum by (protocol, le) (rate(ofd_answer_latency_seconds_bucket",
    ] {
        assert!(
            queries.contains(needle),
            "no dashboard panel queries `{needle}`"
        );
    }
}

/// Grafana accepts any string as a query and shows "no data" for a broken one. Running every
/// panel query through Prometheus' own parser (as recording rules in a scratch rule file) turns a
/// typo into a test failure.
#[test]
fn dashboard_queries_are_valid_promql() {
    let dash = dashboard();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (title, expr)) in dashboard_queries(&dash).iter().enumerate() {
        let expr = substitute_grafana_variables(expr);
        assert!(
            !expr.contains('$'),
            "panel {title:?}: an unknown Grafana variable in {expr}"
        );
        // JSON strings are valid YAML double-quoted scalars.
        let quoted = serde_json::to_string(&expr).expect("a string serialises");
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("dashboard-queries.yml");
    std::fs::write(&file, &rules).expect("write the scratch rule file");
    let out = run(Command::new(promtool())
        .arg("check")
        .arg("rules")
        .arg(&file));
    assert!(
        out.status.success(),
        "a dashboard query is not valid PromQL\n{}\n{rules}",
        describe(&out)
    );
}

#[test]
fn grafana_provisioning_points_at_the_dashboard() {
    let ds = read(&deploy("grafana/provisioning/datasources/prometheus.yml"));
    assert!(
        ds.contains("type: prometheus") && ds.contains("url: http://prometheus:9090"),
        "{ds}"
    );
    let provider = read(&deploy("grafana/provisioning/dashboards/ofdd.yml"));
    let compose = read(&deploy("docker-compose.yml"));
    let path = provider
        .lines()
        .find_map(|l| l.trim().strip_prefix("path:"))
        .map(str::trim)
        .expect("the dashboard provider names a path");
    assert!(
        compose.contains(&format!("./grafana/dashboards:{path}")),
        "compose must mount deploy/grafana/dashboards where the provider looks ({path})"
    );
}

// ---- metrics against a live daemon -------------------------------------------------------------------

/// Every metric an alert or a panel reads exists in a live daemon's `/metrics`, and every
/// `ofd_*` metric the daemon exports has a dashboard panel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_dashboard_query_only_exported_metrics() {
    let live = start_daemon().await;
    send_receipt(live.daemon.ingest_addr).await;
    send_garbage(live.daemon.ingest_addr).await;

    let mut referenced: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rule in alert_rules(&read(&deploy("prometheus/alerts.yml"))) {
        for name in metric_names(&rule.expr) {
            referenced
                .entry(name)
                .or_default()
                .push(format!("alert {}", rule.name));
        }
    }
    let dash = dashboard();
    let mut on_dashboard = BTreeSet::new();
    for (title, expr) in dashboard_queries(&dash) {
        for name in metric_names(&substitute_grafana_variables(&expr)) {
            on_dashboard.insert(name.clone());
            referenced
                .entry(name)
                .or_default()
                .push(format!("panel {title:?}"));
        }
    }
    assert!(
        referenced.len() >= 12,
        "the scan found too few metric names: {referenced:?}"
    );

    // Counters with labels get their first series when first used; connection outcomes are
    // counted when the connection task ends, so poll briefly instead of racing it.
    let mut missing = Vec::new();
    let mut families = BTreeMap::new();
    for _ in 0..50 {
        let (status, scrape) = http_get(live.daemon.admin_addr, "/metrics").await;
        assert_eq!(status, 200, "/metrics answered {status}");
        families = exported_families(&scrape);
        let exported: BTreeSet<&String> = families.values().flatten().collect();
        missing = referenced
            .iter()
            .filter(|(name, _)| !exported.contains(name) && !SYNTHETIC.contains(&name.as_str()))
            .map(|(name, users)| format!("{name} (used by {})", users.join(", ")))
            .collect();
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    live.daemon.shutdown().await.expect("clean shutdown");
    assert!(
        missing.is_empty(),
        "queried but not exported by ofdd:\n  {}\nexported families: {:?}",
        missing.join("\n  "),
        families.keys().collect::<Vec<_>>()
    );

    let without_panel: Vec<&String> = families
        .iter()
        .filter(|(family, series)| {
            family.starts_with("ofd_") && !series.iter().any(|s| on_dashboard.contains(s))
        })
        .map(|(family, _)| family)
        .collect();
    assert!(
        without_panel.is_empty(),
        "exported by ofdd but on no dashboard panel: {without_panel:?}"
    );
}

#[test]
fn metric_name_scan_sees_through_promql_syntax() {
    let names = metric_names(
        r#"sum by (instance, le) (rate(foo_bucket{a="b}", c=~"x|y"}[5m] offset 1h)) / on (instance) group_left (state) bar > 0.5 and count without (x) (baz:rule) > bool 1e3"#,
    );
    assert_eq!(
        names,
        ["bar", "baz:rule", "foo_bucket"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    assert_eq!(
        metric_names(r#"up{job="ofdd"} == 0"#),
        BTreeSet::from(["up".to_string()])
    );
    assert_eq!(
        metric_names("histogram_quantile(0.99, sum(rate(odf_typo_bucket[1m])) by (le))"),
        BTreeSet::from(["odf_typo_bucket".to_string()])
    );
}

// ---- example configuration ---------------------------------------------------------------------------

fn check_config(path: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ofdd"));
    cmd.arg("check-config").arg("--config").arg(path);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OFDD_") {
            cmd.env_remove(key);
        }
    }
    run(&mut cmd)
}

/// `section.key → value` from the pretty `Debug` print of the effective configuration that
/// `check-config` writes, e.g. `limits.idle_timeout_secs → 120`.
fn effective_settings(debug: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut sections: Vec<(usize, String)> = Vec::new();
    let mut lines = debug.lines();
    while let Some(line) = lines.next() {
        let indent = indent_of(line);
        let trimmed = line.trim();
        let Some((key, value)) = trimmed.split_once(": ") else {
            continue;
        };
        if !key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        sections.retain(|(level, _)| *level < indent);
        let path: Vec<&str> = sections
            .iter()
            .map(|(_, s)| s.as_str())
            .chain([key])
            .collect();
        let path = path.join(".");
        if value.ends_with('{') {
            sections.push((indent, key.to_string()));
        } else if value.ends_with('[') || value.ends_with('(') {
            // A multi-line value (Some(…), a list): gather it up to its closing line.
            let mut whole = value.to_string();
            for inner in lines.by_ref() {
                whole.push_str(inner.trim());
                if indent_of(inner) == indent {
                    break;
                }
            }
            out.insert(path, whole);
        } else {
            out.insert(path, value.trim_end_matches(',').to_string());
        }
    }
    out
}

#[test]
fn example_config_passes_check_config() {
    let out = check_config(&deploy("ofdd.toml"));
    assert_success("ofdd check-config --config deploy/ofdd.toml", &out);
}

/// The example claims to show every option at its default: hold it to that. A new option in
/// `Config` (or `ValidationConfig`) that the example does not document fails here.
#[test]
fn example_config_documents_every_option_at_its_default() {
    let example_path = deploy("ofdd.toml");
    let example_out = check_config(&example_path);
    assert!(example_out.status.success(), "{}", describe(&example_out));
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").expect("write an empty config");
    let default_out = check_config(&empty);
    assert!(default_out.status.success(), "{}", describe(&default_out));

    let example = effective_settings(&String::from_utf8_lossy(&example_out.stdout));
    let defaults = effective_settings(&String::from_utf8_lossy(&default_out.stdout));
    assert!(
        defaults.len() >= 20,
        "too few settings read from check-config's output: {defaults:?}"
    );
    assert_eq!(
        example.keys().collect::<Vec<_>>(),
        defaults.keys().collect::<Vec<_>>()
    );
    // The one deliberate difference: the example is for production, where data lives here.
    const DELIBERATE: &[(&str, &str)] = &[("data", "\"/var/lib/ofdd\"")];
    for (key, default) in &defaults {
        let shown = &example[key];
        match DELIBERATE.iter().find(|(k, _)| k == key) {
            Some((_, v)) => assert_eq!(shown, v, "{key}"),
            None => assert_eq!(
                shown, default,
                "deploy/ofdd.toml sets {key} to {shown}, but the default is {default}"
            ),
        }
    }

    // Every option appears in its section, set or commented out, right under a comment that
    // states its default as `Default: <value>` (quotes aside; an option without a default says
    // `Default: unset`).
    let text = read(&example_path);
    let mut section = String::new();
    let mut comment = String::new();
    let mut documented: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
            section = format!("{name}.");
            comment.clear();
            continue;
        }
        let uncommented = t.trim_start_matches('#').trim();
        let key = uncommented.split_once(" = ").map(|(k, _)| k).filter(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
        if let Some(key) = key {
            documented.insert(format!("{section}{key}"), std::mem::take(&mut comment));
        } else if t.starts_with('#') {
            comment.push(' ');
            comment.push_str(uncommented);
        } else if t.is_empty() {
            comment.clear();
        }
    }
    let normalise = |s: &str| {
        s.replace('"', "")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (key, default) in &defaults {
        let comment = documented
            .get(key)
            .unwrap_or_else(|| panic!("deploy/ofdd.toml does not mention option `{key}`"));
        let value = if default == "None" {
            "unset".to_string()
        } else {
            normalise(default)
        };
        let claim = format!("Default: {value}");
        assert!(
            normalise(comment).contains(&claim),
            "deploy/ofdd.toml: the comment above `{key}` must state `{claim}`; it reads:{comment}"
        );
    }
}

// ---- systemd -----------------------------------------------------------------------------------------

fn unit_settings(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || t.starts_with(';') || t.starts_with('[') {
            continue;
        }
        if let Some((k, v)) = t.split_once('=') {
            out.entry(k.trim().to_string())
                .or_default()
                .push(v.trim().to_string());
        }
    }
    out
}

#[test]
fn systemd_unit_is_hardened() {
    let text = read(&deploy("ofdd.service"));
    let unit = unit_settings(&text);
    let one = |key: &str| -> &str {
        let values = unit
            .get(key)
            .unwrap_or_else(|| panic!("ofdd.service lacks {key}="));
        values.last().map(String::as_str).unwrap_or("")
    };
    for (key, want) in [
        ("User", "ofdd"),
        ("DynamicUser", "no"),
        ("StateDirectory", "ofdd"),
        ("ConfigurationDirectory", "ofdd"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("CapabilityBoundingSet", ""),
        ("Restart", "on-failure"),
        ("RestartSec", "2"),
        ("TimeoutStopSec", "60"),
        ("KillSignal", "SIGTERM"),
        ("EnvironmentFile", "-/etc/ofdd/ofdd.env"),
        (
            "ExecStart",
            "/usr/local/bin/ofdd serve --config /etc/ofdd/ofdd.toml --data /var/lib/ofdd",
        ),
    ] {
        assert_eq!(one(key), want, "ofdd.service {key}=");
    }
    assert_eq!(
        unit["SystemCallFilter"].first().map(String::as_str),
        Some("@system-service")
    );
    assert!(
        !unit.contains_key("AmbientCapabilities") || one("AmbientCapabilities").is_empty(),
        "no capabilities at all"
    );

    // One descriptor per connected register: the limit must cover the configured connection cap.
    let nofile: u64 = one("LimitNOFILE").parse().expect("LimitNOFILE is a number");
    assert_eq!(nofile, 1_048_576);
    let example: Config = toml::from_str(&read(&deploy("ofdd.toml"))).expect("the example parses");
    assert!(
        nofile > example.limits.max_connections as u64 + 1024,
        "LimitNOFILE {nofile} leaves no room above limits.max_connections {}",
        example.limits.max_connections
    );
    // Without CAP_NET_BIND_SERVICE the ingest and admin ports must be unprivileged.
    assert!(example.listen.port() >= 1024 && example.admin_listen.port() >= 1024);
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let Some(analyze) = tools::require_tool("systemd-analyze") else {
        return;
    };
    // verify checks that ExecStart exists: point it at the binary under test.
    let text =
        read(&deploy("ofdd.service")).replace("/usr/local/bin/ofdd", env!("CARGO_BIN_EXE_ofdd"));
    let dir = tempfile::tempdir().expect("temp dir");
    let unit = dir.path().join("ofdd.service");
    std::fs::write(&unit, text).expect("write the unit copy");
    let out = run(Command::new(analyze).arg("verify").arg(&unit));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // verify exits 0 on unknown keys and merely warns: any remark about our unit is a failure.
    let remarks: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("ofdd.service"))
        .collect();
    assert!(
        out.status.success() && remarks.is_empty(),
        "systemd-analyze verify:\n{}",
        describe(&out)
    );
    println!("systemd-analyze verify deploy/ofdd.service: ok");
}

// ---- container -----------------------------------------------------------------------------------

#[test]
fn dockerfile_builds_a_non_root_image_from_existing_files() {
    let text = read(&deploy("Dockerfile"));
    // Join continuation lines, drop comments.
    let joined = text.replace("\\\n", " ");
    let instructions: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let has = |want: &str| {
        instructions
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == want)
    };
    for want in [
        "FROM rust:1-bookworm AS builder",
        "FROM debian:bookworm-slim",
        "USER 10001:10001",
        "VOLUME /var/lib/ofdd",
        "EXPOSE 7777 9100 8080",
        "ENTRYPOINT [\"ofdd\", \"serve\"]",
    ] {
        assert!(has(want), "Dockerfile lacks `{want}`");
    }
    assert!(
        instructions
            .iter()
            .any(|l| l.starts_with("HEALTHCHECK") && l.contains("ofdd-healthcheck"))
    );
    assert!(joined.contains("cargo build --release --locked -p ofdd"));
    assert!(joined.contains("libclang-dev clang"));
    assert!(joined.contains("--uid 10001"));
    assert!(
        joined.contains("OFDD_ADMIN_LISTEN=0.0.0.0:9100")
            && joined.contains("OFDD_CONFIG=/etc/ofdd/ofdd.toml")
    );
    // Runtime stage installs nothing but CA certificates.
    let runtime = joined
        .split("FROM debian:bookworm-slim")
        .nth(1)
        .expect("a runtime stage");
    let installs: Vec<&str> = runtime
        .split("apt-get install")
        .skip(1)
        .filter_map(|s| s.split("&&").next())
        .flat_map(|s| s.split_whitespace())
        .filter(|w| !w.starts_with('-'))
        .collect();
    assert_eq!(
        installs,
        ["ca-certificates"],
        "the runtime image installs only ca-certificates"
    );
    // Every COPY source from the build context exists (the context is the repository root).
    for line in &instructions {
        let Some(args) = line.strip_prefix("COPY ") else {
            continue;
        };
        if args.contains("--from=") {
            continue;
        }
        let words: Vec<&str> = args.split_whitespace().collect();
        for src in &words[..words.len() - 1] {
            if *src != "." {
                assert!(
                    repo_root().join(src).exists(),
                    "Dockerfile copies {src}, which does not exist"
                );
            }
        }
    }
    let ignore = read(&repo_root().join(".dockerignore"));
    for entry in ["target/", "data/", "fuzz/target/"] {
        assert!(
            ignore.lines().any(|l| l.trim() == entry),
            ".dockerignore must exclude {entry}"
        );
    }
}

#[test]
fn compose_mounts_only_files_that_exist() {
    let text = read(&deploy("docker-compose.yml"));
    let mut mounts = 0;
    for line in text.lines() {
        let t = line.trim().trim_start_matches("- ").trim_matches('"');
        if let Some(rest) = t.strip_prefix("./") {
            let src = rest.split(':').next().unwrap_or(rest);
            assert!(
                deploy(src).exists(),
                "docker-compose.yml mounts ./{src}, which does not exist in deploy/"
            );
            mounts += 1;
        }
    }
    assert!(
        mounts >= 6,
        "expected the config, rules and Grafana mounts, found {mounts}"
    );
    for service in ["ofdd:", "prometheus:", "grafana:", "nats:"] {
        assert!(
            text.lines().any(|l| l == format!("  {service}")),
            "compose lacks the {service} service"
        );
    }
    assert!(text.contains("dockerfile: deploy/Dockerfile") && text.contains("context: .."));
    assert!(
        text.contains("image: nats:2") && text.contains("\"-js\""),
        "NATS with JetStream"
    );
}

/// The container's HEALTHCHECK script, run against a live daemon, a server that answers 503
/// and a port nobody listens on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_healthcheck_follows_the_daemon() {
    assert!(
        find_in_path("bash").is_some(),
        "bash is required to run deploy/healthcheck.sh"
    );
    let probe = |addr: String| async move {
        let script = deploy("healthcheck.sh");
        tokio::task::spawn_blocking(move || {
            run(Command::new("bash")
                .arg(script)
                .env("OFDD_ADMIN_LISTEN", addr))
        })
        .await
        .expect("the probe thread")
    };

    let live = start_daemon().await;
    let admin = live.daemon.admin_addr;
    let (status, _) = http_get(admin, "/healthz").await;
    assert_eq!(status, 200, "/healthz");
    let out = probe(admin.to_string()).await;
    assert!(
        out.status.success(),
        "healthy daemon reported unhealthy\n{}",
        describe(&out)
    );
    // The image sets the wildcard address; the probe must still reach the daemon.
    let out = probe(format!("0.0.0.0:{}", admin.port())).await;
    assert!(
        out.status.success(),
        "wildcard address: daemon not reached\n{}",
        describe(&out)
    );
    live.daemon.shutdown().await.expect("clean shutdown");
    let out = probe(admin.to_string()).await;
    assert!(
        !out.status.success(),
        "a stopped daemon reported healthy\n{}",
        describe(&out)
    );

    let sick = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sick_addr = sick.local_addr().expect("address");
    let server = tokio::spawn(async move {
        if let Ok((mut s, _)) = sick.accept().await {
            // Read the whole request head, as an HTTP server would, then refuse.
            let mut request = Vec::new();
            let mut buf = [0u8; 512];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let out = probe(sick_addr.to_string()).await;
    assert!(
        !out.status.success(),
        "a 503 was reported healthy\n{}",
        describe(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("503"),
        "{}",
        describe(&out)
    );
    server.await.expect("the fake server");
}
