//! A null OFD: frames every message, parses its headers and answers a signed acknowledgement
//! (code 0) — and stores nothing, validates nothing, syncs nothing.
//!
//! It exists to measure the ceiling of a machine and of ofd-load itself: run ofd-load against
//! it with the same arguments as against ofdd, and the difference between the two figures is
//! what the daemon's validation, storage and fsync cost. On a 2-core machine with ofd-load on
//! the same cores this ceiling is set by loopback TCP and wakeups on both sides, not by any
//! OFD logic.
//!
//! ```text
//! cargo run --release -p ofd-load --example null_ofd -- 127.0.0.1:17778
//! ofd-load --target 127.0.0.1:17778 --profile wired --registers 256 --duration 15s
//! ```
//!
//! A broken frame closes its connection (the same rule as ofdd); nothing here panics on input.

use std::time::{SystemTime, UNIX_EPOCH};

use ofd_proto::ack::{AckTarget, ResponseCode, encode_ack};
use ofd_proto::framing::{FrameLimits, Framing, check_frame};
use ofd_proto::sign::HmacSigner;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const OPERATOR_INN: &[u8] = b"7704358518";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:17778".into());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("null OFD listening on {addr} (acknowledges everything, stores nothing)");
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(serve(stream));
    }
}

async fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let signer = HmacSigner::new(b"null-ofd");
    let limits = FrameLimits::default();
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut out = Vec::with_capacity(1024);
    loop {
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        out.clear();
        let mut used = 0;
        while let Some(rest) = buf.get(used..) {
            let len = match check_frame(rest, &limits) {
                Ok(Framing::Complete { len }) => len,
                Ok(Framing::Incomplete { .. }) => break,
                Err(_) => return,
            };
            let Some(frame) = rest.get(..len) else { return };
            let Some(target) = AckTarget::from_frame(frame) else {
                return;
            };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
            if encode_ack(
                &target,
                ResponseCode::Accepted,
                OPERATOR_INN,
                now,
                frame,
                &signer,
                &mut out,
            )
            .is_err()
            {
                return;
            }
            used += len;
        }
        buf.drain(..used);
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
    }
}
