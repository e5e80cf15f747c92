//! A real `nats-server -js` for the export tests.
//!
//! `nats-server` is required (Debian package `nats-server`, installed by `scripts/setup.sh`): a
//! missing binary fails the test with instructions rather than skipping it.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn nats_server_binary() -> PathBuf {
    let from_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("nats-server"))
                .find(|p| p.is_file())
        })
        .unwrap_or_default();
    from_path
        .or_else(|| ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"].map(PathBuf::from).into_iter().find(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!(
                "nats-server is not installed, so the NATS exporter cannot be tested. Install it with \
                 `apt-get install nats-server` (or run scripts/setup.sh)."
            )
        })
}

/// A `nats-server -js` child process, killed when dropped (also when the test panics).
pub struct NatsServer {
    child: Child,
}

impl NatsServer {
    /// Start on `port` with JetStream storage in `store_dir`, and wait until it accepts connections.
    pub fn start(port: u16, store_dir: &Path) -> NatsServer {
        let bin = nats_server_binary();
        let child = Command::new(&bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let server = NatsServer { child };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {addr} within 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
