//! `[cluster]`: how this node shares its documents with a NATS JetStream cluster.
//!
//! Without the section (or with `durability = "local"`) the node runs alone exactly as before:
//! an answer waits for the local synced commit only, and nothing here is even connected to.
//! With `durability = "replicated"` an answer also waits for the publish acknowledgement of an
//! R`stream_replicas` file stream (see [`crate::cluster`]), so a node that loses its disk has lost
//! nothing a register was told is safe.

use anyhow::{anyhow, ensure};
use async_nats::ServerAddr;
use serde::Deserialize;

/// What an acknowledgement waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The local synced commit (a single node; the disk is the only copy until exported).
    Local,
    /// The local synced commit and the JetStream acknowledgement of the replicated stream.
    Replicated,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// NATS servers of the JetStream cluster (`nats://host:port`, `tls://…`, `user:pass@`
    /// allowed). Several, so the node reconnects to another when one goes.
    pub nats: Vec<String>,
    /// This node's name, for logs and the NATS connection name.
    pub node: String,
    /// `local` or `replicated` (see [`Durability`]).
    pub durability: String,
    /// Replicas of the stream (3 on a three-server cluster); an existing stream must have this many.
    pub stream_replicas: usize,
    /// The replicated stream; by default the one `[export.nats]` exports to, so that downstream
    /// consumers of `<subject_prefix>.*` read one stream.
    pub stream: String,
    /// Subjects `<subject_prefix>.<doc type>` and `<subject_prefix>.kz.<command>`, as the export.
    pub subject_prefix: String,
    /// De-duplication window of the `FN:FD` message ids (used when creating the stream).
    pub duplicate_window_secs: u64,
    /// How long an answer waits for the stream's acknowledgement before the node counts JetStream
    /// as unable to take writes (and for connecting).
    pub ack_timeout_secs: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nats: Vec::new(),
            node: String::new(),
            durability: "local".into(),
            stream_replicas: 3,
            stream: "OFD".into(),
            subject_prefix: "ofd.documents".into(),
            duplicate_window_secs: 86_400,
            ack_timeout_secs: 5,
        }
    }
}

impl ClusterConfig {
    /// `durability`, parsed.
    pub fn durability(&self) -> anyhow::Result<Durability> {
        match self.durability.as_str() {
            "local" => Ok(Durability::Local),
            "replicated" => Ok(Durability::Replicated),
            other => Err(anyhow!(
                "cluster.durability {other:?}: expected \"local\" or \"replicated\""
            )),
        }
    }

    /// Whether answers wait for the replicated stream.
    pub fn replicated(&self) -> bool {
        matches!(self.durability(), Ok(Durability::Replicated))
    }

    /// Reject a section that could not work, with the key at fault.
    pub fn check(&self) -> anyhow::Result<()> {
        let durability = self.durability()?;
        ensure!(
            self.node.len() <= 64
                && self
                    .node
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')),
            "cluster.node {:?}: at most 64 letters, digits, '-' or '_'",
            self.node
        );
        ensure!(
            (1..=5).contains(&self.stream_replicas),
            "cluster.stream_replicas must be within 1..=5"
        );
        ensure!(
            !self.stream.is_empty()
                && self.stream.len() <= 255
                && !self
                    .stream
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\')),
            "cluster.stream {:?} is not a valid stream name (no spaces, '.', '*', '>', '/' or '\\')",
            self.stream
        );
        ensure!(
            self.subject_prefix.split('.').all(|t| !t.is_empty()
                && !t
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '*' | '>'))),
            "cluster.subject_prefix {:?} is not a plain subject (dot-separated non-empty tokens without spaces or wildcards)",
            self.subject_prefix
        );
        ensure!(
            self.duplicate_window_secs > 0,
            "cluster.duplicate_window_secs must be > 0"
        );
        ensure!(
            self.ack_timeout_secs > 0,
            "cluster.ack_timeout_secs must be > 0"
        );
        let servers = self.servers()?;
        if durability == Durability::Replicated {
            ensure!(
                !servers.is_empty(),
                "cluster.durability = \"replicated\" needs the NATS servers in cluster.nats"
            );
            ensure!(
                !self.node.is_empty(),
                "cluster.durability = \"replicated\" needs a node name in cluster.node"
            );
        }
        Ok(())
    }

    /// `cluster.nats`, parsed.
    pub fn servers(&self) -> anyhow::Result<Vec<ServerAddr>> {
        self.nats
            .iter()
            .map(|s| {
                s.trim()
                    .parse::<ServerAddr>()
                    .map_err(|e| anyhow!("cluster.nats: {s:?}: {e}"))
            })
            .collect()
    }

    /// Apply `OFDD_CLUSTER_NATS` (comma-separated), `OFDD_NODE` and `OFDD_DURABILITY`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(list) = get("OFDD_CLUSTER_NATS").filter(|v| !v.trim().is_empty()) {
            self.nats = split_list(&list);
        }
        if let Some(node) = get("OFDD_NODE").filter(|v| !v.is_empty()) {
            self.node = node;
        }
        if let Some(d) = get("OFDD_DURABILITY").filter(|v| !v.is_empty()) {
            self.durability = d;
        }
    }
}

/// `a, b,c` → `["a", "b", "c"]` (empty entries dropped).
pub fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replicated() -> ClusterConfig {
        ClusterConfig {
            nats: vec![
                "nats://127.0.0.1:4222".into(),
                "nats://10.0.0.2:4222".into(),
            ],
            node: "n1".into(),
            durability: "replicated".into(),
            ..ClusterConfig::default()
        }
    }

    #[test]
    fn the_default_is_a_lone_node() {
        let c = ClusterConfig::default();
        c.check().unwrap();
        assert_eq!(c.durability().unwrap(), Durability::Local);
        assert!(!c.replicated());
        replicated().check().unwrap();
        assert!(replicated().replicated());
    }

    #[test]
    fn every_bad_setting_names_its_key() {
        let bad = |f: fn(&mut ClusterConfig)| {
            let mut c = replicated();
            f(&mut c);
            format!("{:#}", c.check().unwrap_err())
        };
        assert!(bad(|c| c.durability = "quorum".into()).contains("cluster.durability"));
        assert!(bad(|c| c.nats.clear()).contains("cluster.nats"));
        assert!(bad(|c| c.nats = vec!["nats://h:port".into()]).contains("cluster.nats"));
        assert!(bad(|c| c.node.clear()).contains("cluster.node"));
        assert!(bad(|c| c.node = "n 1".into()).contains("cluster.node"));
        assert!(bad(|c| c.stream_replicas = 0).contains("cluster.stream_replicas"));
        assert!(bad(|c| c.stream = "a.b".into()).contains("cluster.stream"));
        assert!(bad(|c| c.subject_prefix = "a.>".into()).contains("cluster.subject_prefix"));
        assert!(bad(|c| c.ack_timeout_secs = 0).contains("cluster.ack_timeout_secs"));
    }

    #[test]
    fn environment_overrides() {
        let mut c = ClusterConfig::default();
        c.apply_env(|k| match k {
            "OFDD_CLUSTER_NATS" => Some(" nats://a:1, nats://b:2,,".into()),
            "OFDD_NODE" => Some("n2".into()),
            "OFDD_DURABILITY" => Some("replicated".into()),
            _ => None,
        });
        assert_eq!(c.nats, ["nats://a:1", "nats://b:2"]);
        assert_eq!(c.node, "n2");
        c.check().unwrap();
        assert!(c.replicated());
    }
}
