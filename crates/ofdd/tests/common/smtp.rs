//! A real SMTP server on loopback for the tests that send mail: aiosmtpd (installed by
//! `scripts/setup.sh`), printing every message it receives; the test reads them as they come.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct SmtpServer {
    pub port: u16,
    child: std::process::Child,
    /// Everything the server printed so far (the received mail).
    out: Arc<Mutex<String>>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let port = super::free_port();
        let mut child = std::process::Command::new("python3")
            .args([
                "-u",
                "-m",
                "aiosmtpd",
                "-n",
                "-c",
                "aiosmtpd.handlers.Debugging",
                "-l",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 -m aiosmtpd (scripts/setup.sh installs aiosmtpd)");
        let stdout = child.stdout.take().expect("stdout");
        let out = Arc::new(Mutex::new(String::new()));
        let sink = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut o = sink.lock().unwrap();
                o.push_str(&line);
                o.push('\n');
            }
        });
        let mut server = SmtpServer { port, child, out };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                let mut err = String::new();
                std::io::Read::read_to_string(server.child.stderr.as_mut().unwrap(), &mut err).ok();
                panic!("aiosmtpd exited ({status}): {err} — run scripts/setup.sh");
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The received mail so far, quoted-printable soft breaks and `=3D` undone.
    pub fn mail(&self) -> String {
        self.out
            .lock()
            .unwrap()
            .replace("=\n", "")
            .replace("=3D", "=")
    }

    /// Waits (up to `within`) until the received mail satisfies `f`.
    pub async fn wait_for(&self, within: Duration, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let m = self.mail();
            if f(&m) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "the expected mail never arrived:\n{m}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn config(&self) -> ofdd::config::SmtpConfig {
        ofdd::config::SmtpConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            from: "ОФД <noreply@ofd.test>".into(),
            timeout_secs: 10,
        }
    }
}
