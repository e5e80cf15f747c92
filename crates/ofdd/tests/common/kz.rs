//! A Kazakh KKM's side of the KKM–OFD protocol for tests: a link that reads whole answers and
//! registration through the admin API.

use std::net::SocketAddr;
use std::time::Duration;

use ofd_kz::Header;
use ofd_kz::builder::Kkm;
use ofd_kz::codec::decode_response;
use ofd_kz::kkm;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Admin, TestDaemon};

/// A KKM's link: one connection, whole answers.
pub struct KzLink {
    pub stream: TcpStream,
}

impl KzLink {
    pub async fn connect(t: &TestDaemon) -> KzLink {
        KzLink::connect_to(t.ingest_addr()).await
    }

    pub async fn connect_to(addr: SocketAddr) -> KzLink {
        KzLink {
            stream: TcpStream::connect(addr).await.unwrap(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.stream.write_all(bytes).await.unwrap();
        self.read().await.expect("an answer")
    }

    pub async fn read(&mut self) -> Option<Vec<u8>> {
        let fut = async {
            let mut head = [0u8; 18];
            self.stream.read_exact(&mut head).await.ok()?;
            let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
            let mut frame = head.to_vec();
            frame.resize(size.max(18), 0);
            self.stream.read_exact(&mut frame[18..]).await.ok()?;
            Some(frame)
        };
        tokio::time::timeout(Duration::from_secs(10), fut)
            .await
            .ok()
            .flatten()
    }

    /// Frame, send, check the echo, adopt a new token; the decoded answer.
    pub async fn call(
        &mut self,
        kkm: &mut Kkm,
        req: &kkm::Request,
    ) -> (Header, kkm::Response, Vec<u8>) {
        let bytes = self.send(&kkm.frame(req)).await;
        let (h, resp) = decode_response(&bytes).expect("a well-formed answer");
        assert_eq!((h.id, h.reqnum), (kkm.id, kkm.reqnum));
        assert_eq!(resp.command, req.command);
        kkm.accept(&h);
        (h, resp, bytes)
    }

    pub async fn closed_by_server(&mut self) -> bool {
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

pub fn code(resp: &kkm::Response) -> u32 {
    resp.result.result_code
}

pub async fn register(t: &TestDaemon, serial: &str) -> Kkm {
    register_via(&t.admin(), serial).await
}

/// Register a KKM through the admin API; its system ID and first token.
pub async fn register_via(admin: &Admin, serial: &str) -> Kkm {
    let a = admin
        .post(
            "/api/v1/kz/kkm",
            json!({
                "registration_number": "010100012345",
                "serial": serial,
                "iin_bin": "990740002243",
                "name": "ТОО «Ромашка»",
                "pos_address": "Алматы, пр. Абая, 1",
                "model": "SoftKKM",
                "year": 2024,
                "connection": "sim",
            }),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text());
    let v = a.json();
    Kkm::new(
        v["system_id"].as_u64().unwrap() as u32,
        v["token"].as_u64().unwrap() as u32,
    )
}
