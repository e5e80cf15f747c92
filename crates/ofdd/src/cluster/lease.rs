//! A named lease in a replicated JetStream key-value bucket, so that work one node must do for
//! the whole cluster (the notifier's passes) is done by one node at a time.
//!
//! The bucket (`ofdd_leases`, R`stream_replicas`, file storage) keeps one revision per key and
//! expires a key `ttl` after its last write. A node *takes* the lease with `create` (which fails
//! while anyone holds it) and *keeps* it with `update` at the revision it last wrote
//! (compare-and-set: it fails once the key expired and another node took it). So a holder that
//! dies or is cut off loses the lease at most `ttl` later, and two nodes never both believe they
//! hold it for longer than the gap between one renewal failing and the holder noticing — the
//! holder checks before every pass. No consensus of ofdd's own: the bucket is a JetStream
//! stream and JetStream orders the writes.

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream::StorageType};
use bytes::Bytes;
use tracing::{info, warn};

const BUCKET: &str = "ofdd_leases";

pub struct Lease {
    kv: kv::Store,
    key: String,
    node: Bytes,
    /// The revision this node last wrote, while it holds the lease.
    revision: Option<u64>,
}

impl Lease {
    /// Opens (creating if needed) the lease bucket with keys that expire `ttl` after their
    /// last write.
    pub async fn open(
        js: &jetstream::Context,
        name: &str,
        node: &str,
        ttl: Duration,
        replicas: usize,
    ) -> anyhow::Result<Lease> {
        let kv = js
            .create_or_update_key_value(kv::Config {
                bucket: BUCKET.into(),
                description: "ofdd: which node does the cluster-wide work".into(),
                history: 1,
                max_age: ttl,
                num_replicas: replicas,
                storage: StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("lease bucket {BUCKET}: {e}"))?;
        Ok(Lease {
            kv,
            key: name.to_string(),
            node: Bytes::from(node.to_string()),
            revision: None,
        })
    }

    /// Renews the lease if this node holds it, or takes it if nobody does; whether this node
    /// holds it now. A failure to reach JetStream is "not held" (the safe answer).
    pub async fn hold(&mut self) -> bool {
        if let Some(rev) = self.revision {
            match self.kv.update(&self.key, self.node.clone(), rev).await {
                Ok(r) => {
                    self.revision = Some(r);
                    return true;
                }
                Err(e) => {
                    warn!(lease = %self.key, error = %e, "lease lost");
                    self.revision = None;
                }
            }
        }
        match self.kv.create(&self.key, self.node.clone()).await {
            Ok(r) => {
                info!(lease = %self.key, "lease taken: this node does the work now");
                self.revision = Some(r);
                true
            }
            Err(_) => false,
        }
    }
}
