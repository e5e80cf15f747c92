//! The `ofdd` command line as an operator uses it: the real binary, real files, a real daemon.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

fn ofdd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ofdd"));
    c.env_remove("OFDD_ADMIN_TOKEN").env_remove("OFDD_API");
    c
}

/// `ofdd decode FILE [ARGS]` with `bytes` in FILE.
fn decode_file(dir: &std::path::Path, bytes: &[u8], args: &[&str]) -> std::process::Output {
    let path = dir.join("input.bin");
    std::fs::write(&path, bytes).unwrap();
    ofdd().arg("decode").args(args).arg(&path).output().unwrap()
}

/// The JSON `ofdd decode` prints for `bytes`, asserting success.
fn decoded(dir: &std::path::Path, bytes: &[u8], args: &[&str]) -> serde_json::Value {
    let out = decode_file(dir, bytes, args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn decode_prints_fns_json_of_the_real_vector() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("msg.bin");
    std::fs::write(&path, real_vector()).unwrap();
    let out = ofdd().arg("decode").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["container"]["fd"], 1);
    assert_eq!(
        v["document"]["fiscalReportCorrection"]["kktRegId"],
        "0000000005008570"
    );
    assert_eq!(v["trailer"], "8106a55ae10c4d750000");

    // Hex text on stdin works too.
    let hex: String = real_vector().iter().map(|b| format!("{b:02x}")).collect();
    let mut child = ofdd()
        .args(["decode", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(hex.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The very same document as from the binary file.
    let from_stdin: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "decode - printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(from_stdin, v);
}

#[test]
fn decode_prints_the_captured_operator_answers_and_the_ffd12_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let (request, ack14) = ffd12_vector();
    // A production operator's answer, container only (as the capture kept it).
    let v = decoded(dir.path(), ack14, &[]);
    assert_eq!(v["kind"], "acknowledgement");
    assert_eq!(v["session"], serde_json::Value::Null);
    assert_eq!(v["container"]["message_type"], "0x5a");
    let a = &v["ack"];
    assert_eq!(a["fn"], "9999078902013267");
    assert_eq!(a["fd"], 1);
    assert_eq!(a["time"], 0x66E6_C930);
    assert_eq!(a["code"], 14);
    assert_eq!(a["operator_inn"], "7704211201");
    assert_eq!(
        a["tags"],
        serde_json::json!([1017, 1078, 1041, 1040, 1012, 1068])
    );
    assert_eq!(a["fpo"].as_str().unwrap().len(), 16);
    assert_eq!(a["message_mac"].as_str().unwrap().len(), 12);

    // The FFD 1.2 request it answered: ФЛК names what the 1.2 table misses.
    let out = decode_file(dir.path(), request, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1048, 1009"), "{err}");
    let v = decoded(dir.path(), request, &["--no-validate"]);
    assert_eq!(v["kind"], "request");
    assert!(v["document"]["fiscalReportCorrection"]["messageFiscalSign"].is_u64());
}

#[test]
fn decode_detects_a_kkm_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut kkm = ofd_kz::builder::Kkm::new(22_656, 777);
    let time = ofd_kz::time::LocalDateTime::from_unix(1_700_000_000, 5 * 3600);
    let frame = kkm.frame(&ofd_kz::builder::TicketSpec::sample(1, time).request());
    let v = decoded(dir.path(), &frame, &[]);
    assert_eq!(v["kind"], "kkm");
    assert_eq!(v["header"]["id"], 22_656);
    assert_eq!(v["header"]["token"], 777);
    let req = v["as_request"]["decoded"].as_str().unwrap();
    assert!(req.contains("ticket: Some("), "{req}");
    // A truncated one is refused with the KKM–OFD reason.
    let out = decode_file(dir.path(), &frame[..frame.len() - 1], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated KKM–OFD message"));
}

#[test]
fn decode_rejects_bad_input_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut broken = real_vector().to_vec();
    broken[100] ^= 0x55; // inside the document: the container CRC no longer matches
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("garbage", b"hello, world".to_vec(), "invalid message"),
        ("truncated", real_vector()[..200].to_vec(), "truncated"),
        ("crc", broken, "CRC"),
    ];
    for (name, bytes, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = ofdd().arg("decode").arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    let out = ofdd().args(["decode", "/no/such/file"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open"));
}

#[test]
fn check_config_reports_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[operator]\ninn = \"1234567890\"\n").unwrap();
    let out = ofdd()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("operator.inn"));
    let out = ofdd()
        .args(["serve", "--data", "/proc/forbidden/place"])
        .env("OFDD_LISTEN", "127.0.0.1:0")
        .env("OFDD_ADMIN_LISTEN", "127.0.0.1:0")
        .env("OFDD_PORTAL_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("data directory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kkt_commands_drive_the_admin_api() {
    let t = TestDaemon::start().await;
    let api = t.admin().base;
    let kkt = Kkt::new(801);
    let (rn, serial, inn, fn_s) = (
        kkt.rn_str(),
        String::from_utf8_lossy(&kkt.id.kkt_serial).to_string(),
        String::from_utf8_lossy(&kkt.id.user_inn).to_string(),
        kkt.fn_str(),
    );
    let run = move |args: Vec<String>| {
        let api = api.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                ofdd()
                    .arg("kkt")
                    .args(["--api", &api, "--token", TOKEN])
                    .args(&args)
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let args = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let out = run(args(&[
        "register",
        "--rn",
        &rn,
        "--serial",
        &serial,
        "--fn",
        &fn_s,
        "--inn",
        &inn,
        "--name",
        "ООО Тест",
        "--connection",
        "sim",
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["rn"], rn);

    let out = run(args(&["list", "--name", "тест"])).await;
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["items"][0]["rn"], rn);

    let out = run(args(&["deregister", &rn])).await;
    assert!(out.status.success());
    let out = run(args(&["status", &rn])).await;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["liveness"], "deregistered");

    // A refused call exits 1 with the API's reason.
    let out = run(args(&["show", "0000000000000000"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in the registry"));
    t.stop().await;
}

/// `ofdd kz …` as an operator uses it against a running daemon: register a KKM (system ID and
/// token printed), the KKM sells over TCP with them, tickets come out as CSV, a new token is
/// created, the KKM is blocked (its next request gets 15), and a refused call exits 1 with the
/// API's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kz_commands_drive_the_admin_api() {
    use common::kz::{KzLink, code};
    use ofd_kz::builder::{self, Kkm, TicketSpec};
    use ofd_kz::time::LocalDateTime;

    let t = TestDaemon::start().await;
    let api = t.admin().base;
    let run = move |args: Vec<&'static str>, id: Option<u32>| {
        let api = api.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let mut c = ofdd();
                c.arg("kz")
                    .args(["--api", &api, "--token", TOKEN])
                    .args(&args);
                if let Some(id) = id {
                    c.arg(id.to_string());
                }
                c.output().unwrap()
            })
            .await
            .unwrap()
        }
    };
    let json_of = |out: &std::process::Output| -> serde_json::Value {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let registered = json_of(
        &run(
            vec![
                "register",
                "--registration-number",
                "010100054321",
                "--serial",
                "SN-CLI",
                "--iin-bin",
                "990740002243",
                "--name",
                "ТОО «Ромашка»",
                "--pos-address",
                "Астана, ул. Кенесары, 2",
                "--connection",
                "sim",
            ],
            None,
        )
        .await,
    );
    let id = registered["system_id"].as_u64().unwrap() as u32;
    let mut kkm = Kkm::new(id, registered["token"].as_u64().unwrap() as u32);

    let mut link = KzLink::connect(&t).await;
    let time = LocalDateTime::from_unix(u64::from(now()), 5 * 3600);
    for i in 0..2 {
        let (_, r, _) = link
            .call(&mut kkm, &TicketSpec::sample(i, time).request())
            .await;
        assert_eq!(code(&r), 0);
    }
    let out = run(vec!["tickets", "--csv", "--shift", "1"], Some(id)).await;
    assert!(out.status.success());
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.starts_with("ticket_number,shift,"), "{csv}");
    assert_eq!(csv.lines().count(), 3, "{csv}");
    let listed = json_of(&run(vec!["list"], None).await);
    assert_eq!(listed["items"][0]["system_id"], id);

    // A new token: the old one is refused (2), the new one served.
    let new = json_of(&run(vec!["token"], Some(id)).await);
    let token = new["token"].as_u64().unwrap() as u32;
    assert_ne!(token, kkm.token);
    let (_, r, _) = link.call(&mut kkm, &builder::info()).await;
    assert_eq!(code(&r), 2);
    kkm.token = token;
    let (_, r, _) = link.call(&mut kkm, &builder::info()).await;
    assert_eq!(code(&r), 0);

    // Blocked: 15 until unblocked.
    let shown = json_of(&run(vec!["block"], Some(id)).await);
    assert_eq!(shown["status"], "blocked");
    let (_, r, _) = link.call(&mut kkm, &builder::info()).await;
    assert_eq!(code(&r), 15);
    json_of(&run(vec!["unblock"], Some(id)).await);
    let (_, r, _) = link.call(&mut kkm, &builder::info()).await;
    assert_eq!(code(&r), 0);
    let shown = json_of(&run(vec!["show"], Some(id)).await);
    assert_eq!(
        (
            shown["status"].as_str(),
            shown["next_ticket_number"].as_u64()
        ),
        (Some("registered"), Some(3))
    );

    let out = run(vec!["show"], Some(id + 1000)).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("404") && err.contains(&(id + 1000).to_string()),
        "{err}"
    );
    t.stop().await;
}
