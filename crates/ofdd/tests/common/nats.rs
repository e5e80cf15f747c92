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

/// A free loopback port below the kernel's ephemeral range, for a server that is stopped and
/// started again on the same port: a port from `free_port()` is ephemeral, and while the server
/// is down the kernel may hand it out as the source port of any outgoing connection (the
/// exporter's own reconnects included), so the restart could find it taken.
pub fn restartable_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    assert!(
        low > 11_000,
        "ephemeral ports start at {low}: no room below them"
    );
    let mut x = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
    for _ in 0..1000 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let port = 10_000 + ((x >> 33) % u64::from(low - 10_000)) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 10000 and {low}");
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
        let mut server = NatsServer { child };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("nats-server exited ({status}) instead of listening on {addr}");
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {addr} within 60 s"
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
