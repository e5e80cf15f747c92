//! Prometheus metrics. One registry per daemon (not the global default), so tests can run many
//! daemons in one process and each `/metrics` shows only its own.
//!
//! Labels are bounded by design: document types, results and reject reasons come from small fixed
//! sets in ofd-proto; there is deliberately no per-register (RN/FN) label, because millions of
//! registers would explode the series count. Per-register state is served by the admin API.

use std::collections::HashMap;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::codec::Protocol;

/// Latency buckets from 100 µs to 10 s: an acknowledgement on a healthy disk takes about a
/// millisecond; seconds mean trouble worth seeing in the histogram, not in the +Inf bucket.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

pub struct Metrics {
    pub registry: Registry,
    /// `{doc_type, result}`: result ∈ accepted, duplicate, rejected, refused, conflict, encrypted.
    pub documents: IntCounterVec,
    /// `{reason}`: frames that broke framing (no acknowledgement possible) or timed out.
    pub frames_rejected: IntCounterVec,
    /// `{protocol}`: complete frames received (FN–OFD messages, KKM–OFD requests).
    pub frames: IntCounterVec,
    /// `{protocol}`: frame complete → answer written, per protocol.
    pub answer_latency: HistogramVec,
    /// The `{protocol}` series above, resolved once (no label lookup per frame).
    per_protocol: [(IntCounter, Histogram); 2],
    /// One synced RocksDB write batch.
    pub store_commit: Histogram,
    pub store_batch_size: Histogram,
    pub connections_open: IntGauge,
    /// `{outcome}`: closed, timeout, slowloris, framing, refused_limit, refused_ip_limit, error,
    /// shutdown, store_unavailable (refused while the store is degraded), store_error.
    pub connections_total: IntCounterVec,
    /// `{state}`: green, yellow, red — refreshed at every scrape from the store's liveness index.
    pub liveness: IntGaugeVec,
    /// `{kind}`: registers whose FN reports untransmitted documents, key expiry soon/urgent,
    /// memory nearly full, an overdue acknowledgement.
    pub fn_trouble: IntGaugeVec,
    pub bytes_received: IntCounter,
    /// Accepted documents not yet exported (outbox head − exporter cursor).
    pub export_lag: IntGauge,
    /// Replicated mode: 1 while JetStream takes this node's writes, 0 while it cannot (then
    /// nothing is acknowledged and `/readyz` answers 503). Always 1 in local mode.
    pub cluster_ready: IntGauge,
    /// `{result}` = acked | duplicate | in_process | failed | refused: replicated publishes of
    /// answered documents and KZ exchanges (in_process: the same id was being stored by another
    /// publish; refused: not even sent while replication was unavailable).
    pub cluster_publishes: IntCounterVec,
    /// Replicated mode: the position in the cluster's registry stream this node has applied
    /// (the same on every node once each has caught up; 0 in local mode).
    pub cluster_registry_position: IntGauge,
    /// Replicated mode: messages of the stream this node has not copied into its view yet.
    pub cluster_view_lag: IntGauge,
    /// Replicated mode: changes of the KZ stream not copied here yet.
    pub cluster_kz_lag: IntGauge,
    /// `{command, result}`: Kazakh (KKM–OFD) requests by command and result code name.
    pub kz_requests: IntCounterVec,
    /// `{event}`: what Kazakh exchanges did (tickets, shifts, money placements, offline periods,
    /// token rotations).
    pub kz_events: IntCounterVec,
    /// Notifications found and delivered, by channel and result.
    pub notifications: IntCounterVec,
    /// `{kind}`: the notifier's ticks: `pass` (it looked and delivered) or `standby` (another
    /// cluster node holds the notifier's lease).
    pub notifier_runs: IntCounterVec,
    /// 1 while the store accepts writes, 0 while it is degraded.
    pub store_healthy: IntGauge,
    /// `{reason}`: documents (and audit records) that could not be stored: no_space, io_error,
    /// corruption, other.
    pub store_write_failures: IntCounterVec,
    /// Free and total bytes of the data directory's file system, refreshed at every scrape.
    pub store_disk_free: IntGauge,
    pub store_disk_size: IntGauge,
    /// Free bytes a degraded store waits for before it resumes (compare with
    /// `ofd_store_disk_free_bytes`); 0 while healthy or degraded for another cause.
    pub store_free_needed: IntGauge,
    /// `{listener}`: HTTP connections open now (admin, later portal).
    pub http_connections_open: IntGaugeVec,
    /// `{listener}`: HTTP connections closed at once because the listener was at its cap.
    pub http_connections_refused: IntCounterVec,
    /// `{listener, kind}`: HTTP timeouts — header (headers not complete in time: slowloris),
    /// request (408: not answered in time, a slow body included), idle (kept-alive connection
    /// closed after its idle time).
    pub http_timeouts: IntCounterVec,
}

/// The HTTP series of one listener, resolved once (see [`Metrics::http_listener`]).
#[derive(Clone)]
pub struct HttpListenerMetrics {
    pub open: IntGauge,
    pub refused: IntCounter,
    pub header_timeouts: IntCounter,
    pub request_timeouts: IntCounter,
    pub idle_timeouts: IntCounter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let documents = IntCounterVec::new(
            Opts::new(
                "ofd_documents_total",
                "Fiscal documents processed, by document type and result",
            ),
            &["doc_type", "result"],
        )
        .expect("valid metric");
        let frames_rejected = IntCounterVec::new(
            Opts::new(
                "ofd_frames_rejected_total",
                "Messages rejected before an acknowledgement was possible",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let frames = IntCounterVec::new(
            Opts::new(
                "ofd_frames_total",
                "Complete frames received, by protocol (fn: FN–OFD, kz: KKM–OFD of Kazakhstan)",
            ),
            &["protocol"],
        )
        .expect("valid metric");
        let answer_latency = HistogramVec::new(
            HistogramOpts::new(
                "ofd_answer_latency_seconds",
                "Time from a complete frame to its answer written to the socket, by protocol",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["protocol"],
        )
        .expect("valid metric");
        let per_protocol = [Protocol::Fn, Protocol::Kz].map(|p| {
            (
                frames.with_label_values(&[p.label()]),
                answer_latency.with_label_values(&[p.label()]),
            )
        });
        let store_commit = Histogram::with_opts(
            HistogramOpts::new(
                "ofd_store_commit_seconds",
                "Duration of one synced store write batch",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("valid metric");
        let store_batch_size = Histogram::with_opts(
            HistogramOpts::new(
                "ofd_store_batch_documents",
                "Documents per synced store write batch",
            )
            .buckets(vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
            ]),
        )
        .expect("valid metric");
        let connections_open =
            IntGauge::new("ofd_connections_open", "Register connections open now")
                .expect("valid metric");
        let connections_total = IntCounterVec::new(
            Opts::new(
                "ofd_connections_total",
                "Register connections ended, by outcome",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let liveness = IntGaugeVec::new(
            Opts::new(
                "ofd_kkt_liveness",
                "Registers by liveness: green (document within 24 h), yellow (silent 24 h to 3 days), red (silent over 3 days)",
            ),
            &["state"],
        )
        .expect("valid metric");
        let fn_trouble = IntGaugeVec::new(
            Opts::new(
                "ofd_kkt_fn_trouble",
                "Registers whose fiscal drive reports trouble in its latest document",
            ),
            &["kind"],
        )
        .expect("valid metric");
        let bytes_received = IntCounter::new(
            "ofd_received_bytes_total",
            "Bytes received on register connections",
        )
        .expect("valid metric");
        let export_lag = IntGauge::new(
            "ofd_export_lag",
            "Accepted documents not yet exported downstream",
        )
        .expect("valid metric");
        let cluster_ready = IntGauge::new(
            "ofd_cluster_ready",
            "1 while replicated writes are acknowledged by JetStream (always 1 in local mode)",
        )
        .expect("valid metric");
        cluster_ready.set(1);
        let cluster_publishes = IntCounterVec::new(
            Opts::new(
                "ofd_cluster_publishes_total",
                "Replicated publishes before an answer, by result (acked, duplicate, in_process, failed, refused)",
            ),
            &["result"],
        )
        .expect("valid metric");
        // Every result exists from the start, so a rate over it is never "no data".
        for result in ["acked", "duplicate", "in_process", "failed", "refused"] {
            cluster_publishes.with_label_values(&[result]);
        }
        let cluster_registry_position = IntGauge::new(
            "ofd_cluster_registry_position",
            "Position in the cluster's registry stream this node has applied (0 in local mode)",
        )
        .expect("valid metric");
        let cluster_view_lag = IntGauge::new(
            "ofd_cluster_view_lag",
            "Messages of the cluster's stream this node has not copied into its own store yet (0 in local mode)",
        )
        .expect("valid metric");
        let cluster_kz_lag = IntGauge::new(
            "ofd_cluster_kz_lag",
            "Changes of Kazakh registers in the cluster's KZ stream this node has not copied into its own store yet (0 in local mode)",
        )
        .expect("valid metric");
        let kz_requests = IntCounterVec::new(
            Opts::new(
                "ofd_kz_requests_total",
                "Kazakh KKM–OFD requests answered, by command and result code",
            ),
            &["command", "result"],
        )
        .expect("valid metric");
        let kz_events = IntCounterVec::new(
            Opts::new(
                "ofd_kz_events_total",
                "What Kazakh exchanges did: tickets, shifts, money placements, offline periods, token rotations",
            ),
            &["event"],
        )
        .expect("valid metric");

        let notifications = IntCounterVec::new(
            Opts::new(
                "ofd_notifications_total",
                "Notifications to organisations: found (event), and delivery by channel (email, webhook) and result",
            ),
            &["channel", "result"],
        )
        .expect("valid metric");
        let notifier_runs = IntCounterVec::new(
            Opts::new(
                "ofd_notifier_runs_total",
                "Notifier ticks: completed passes over the organisations that set up notifications (pass), or skipped because another cluster node holds the notifier's lease (standby)",
            ),
            &["kind"],
        )
        .expect("valid metric");

        let store_healthy = IntGauge::new(
            "ofd_store_healthy",
            "1 while the store accepts writes, 0 while it is degraded (disk full, I/O errors, damage)",
        )
        .expect("valid metric");
        let store_write_failures = IntCounterVec::new(
            Opts::new(
                "ofd_store_write_failures_total",
                "Documents and audit records that could not be stored, by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let store_disk_free = IntGauge::new(
            "ofd_store_disk_free_bytes",
            "Free bytes on the data directory's file system",
        )
        .expect("valid metric");
        let store_disk_size = IntGauge::new(
            "ofd_store_disk_size_bytes",
            "Size in bytes of the data directory's file system",
        )
        .expect("valid metric");
        let store_free_needed = IntGauge::new(
            "ofd_store_needed_free_bytes",
            "Free bytes a degraded store waits for on its file system before it resumes (0: not waiting for space)",
        )
        .expect("valid metric");

        let http_connections_open = IntGaugeVec::new(
            Opts::new(
                "ofd_http_connections_open",
                "HTTP connections open now, by listener",
            ),
            &["listener"],
        )
        .expect("valid metric");
        let http_connections_refused = IntCounterVec::new(
            Opts::new(
                "ofd_http_connections_refused_total",
                "HTTP connections closed at once because the listener was at its connection cap",
            ),
            &["listener"],
        )
        .expect("valid metric");
        let http_timeouts = IntCounterVec::new(
            Opts::new(
                "ofd_http_timeouts_total",
                "HTTP timeouts by listener and kind: header (headers too slow), request (408), idle (keep-alive)",
            ),
            &["listener", "kind"],
        )
        .expect("valid metric");

        for c in [
            Box::new(documents.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(frames_rejected.clone()),
            Box::new(AckLatencyTotal::new(answer_latency.clone())),
            Box::new(frames.clone()),
            Box::new(answer_latency.clone()),
            Box::new(store_commit.clone()),
            Box::new(store_batch_size.clone()),
            Box::new(connections_open.clone()),
            Box::new(connections_total.clone()),
            Box::new(liveness.clone()),
            Box::new(fn_trouble.clone()),
            Box::new(bytes_received.clone()),
            Box::new(export_lag.clone()),
            Box::new(cluster_ready.clone()),
            Box::new(cluster_publishes.clone()),
            Box::new(cluster_registry_position.clone()),
            Box::new(cluster_view_lag.clone()),
            Box::new(cluster_kz_lag.clone()),
            Box::new(kz_requests.clone()),
            Box::new(kz_events.clone()),
            Box::new(notifications.clone()),
            Box::new(notifier_runs.clone()),
            Box::new(store_healthy.clone()),
            Box::new(store_write_failures.clone()),
            Box::new(store_disk_free.clone()),
            Box::new(store_disk_size.clone()),
            Box::new(store_free_needed.clone()),
            Box::new(http_connections_open.clone()),
            Box::new(http_connections_refused.clone()),
            Box::new(http_timeouts.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process collector registers once");

        // Make every state and kind visible from the first scrape, so alerts and dashboards never
        // see a missing series where they should see zero.
        for state in ["green", "yellow", "red"] {
            liveness.with_label_values(&[state]).set(0);
        }
        // Kazakh series exist from the first scrape too (the dashboard reads them).
        kz_requests.with_label_values(&["ticket", "ok"]).inc_by(0);
        for (channel, result) in [
            ("event", "found"),
            ("email", "sent"),
            ("email", "failed"),
            ("webhook", "sent"),
            ("webhook", "failed"),
        ] {
            notifications
                .with_label_values(&[channel, result])
                .inc_by(0);
        }
        for kind in ["pass", "standby"] {
            notifier_runs.with_label_values(&[kind]).inc_by(0);
        }
        for event in ["ticket", "shift_closed", "offline_period", "token_rotated"] {
            kz_events.with_label_values(&[event]).inc_by(0);
        }
        for kind in [
            "untransmitted",
            "key_expiry_soon",
            "key_expiry_urgent",
            "memory_nearly_full",
            "ack_overdue",
        ] {
            fn_trouble.with_label_values(&[kind]).set(0);
        }
        store_healthy.set(1);
        for reason in ofd_store::DegradedReason::ALL {
            store_write_failures.with_label_values(&[reason.as_str()]);
        }

        Metrics {
            registry,
            documents,
            frames_rejected,
            frames,
            answer_latency,
            per_protocol,
            store_commit,
            store_batch_size,
            connections_open,
            connections_total,
            liveness,
            fn_trouble,
            bytes_received,
            export_lag,
            cluster_ready,
            cluster_registry_position,
            cluster_view_lag,
            cluster_kz_lag,
            cluster_publishes,
            kz_requests,
            kz_events,
            notifications,
            notifier_runs,
            store_healthy,
            store_write_failures,
            store_disk_free,
            store_disk_size,
            store_free_needed,
            http_connections_open,
            http_connections_refused,
            http_timeouts,
        }
    }

    /// The series of the HTTP listener `listener` (a fixed name: `admin`, `portal`), created at
    /// zero so dashboards see them from the first scrape.
    pub fn http_listener(&self, listener: &str) -> HttpListenerMetrics {
        let timeouts = |kind: &str| {
            let c = self.http_timeouts.with_label_values(&[listener, kind]);
            c.inc_by(0);
            c
        };
        let refused = self.http_connections_refused.with_label_values(&[listener]);
        refused.inc_by(0);
        HttpListenerMetrics {
            open: self.http_connections_open.with_label_values(&[listener]),
            refused,
            header_timeouts: timeouts("header"),
            request_timeouts: timeouts("request"),
            idle_timeouts: timeouts("idle"),
        }
    }

    /// Counts a complete frame of `protocol`.
    pub fn frame(&self, protocol: Protocol) {
        self.per_protocol[protocol as usize].0.inc();
    }

    /// Records an answer written `secs` after its frame was complete (one observation: the
    /// all-protocol `ofd_ack_latency_seconds` is summed from these at scrape time).
    pub fn answered(&self, protocol: Protocol, secs: f64) {
        self.per_protocol[protocol as usize].1.observe(secs);
    }

    /// Prometheus text exposition of everything registered.
    pub fn render(&self) -> String {
        let mut buf = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encoding metrics into memory cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

/// `ofd_ack_latency_seconds`, frame complete → answer written for both protocols: the
/// per-protocol `ofd_answer_latency_seconds` series summed when scraped, so the hot path observes
/// each answer once and the two can never disagree.
struct AckLatencyTotal {
    source: HistogramVec,
    desc: Desc,
}

impl AckLatencyTotal {
    fn new(source: HistogramVec) -> AckLatencyTotal {
        let desc = Desc::new(
            "ofd_ack_latency_seconds".into(),
            "Time from a complete frame to its acknowledgement written to the socket".into(),
            Vec::new(),
            HashMap::new(),
        )
        .expect("valid metric");
        AckLatencyTotal { source, desc }
    }
}

impl Collector for AckLatencyTotal {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut total = proto::Histogram::default();
        let (mut count, mut sum) = (0u64, 0.0f64);
        let mut buckets: Vec<proto::Bucket> = Vec::new();
        for family in self.source.collect() {
            for m in family.get_metric() {
                let h = m.get_histogram();
                count += h.get_sample_count();
                sum += h.get_sample_sum();
                if buckets.is_empty() {
                    buckets = h.get_bucket().to_vec();
                } else {
                    // Same buckets for every series of one vector.
                    for (b, add) in buckets.iter_mut().zip(h.get_bucket()) {
                        b.set_cumulative_count(b.cumulative_count() + add.cumulative_count());
                    }
                }
            }
        }
        total.set_sample_count(count);
        total.set_sample_sum(sum);
        total.set_bucket(buckets);
        let mut metric = proto::Metric::default();
        metric.set_histogram(total);
        let mut family = MetricFamily::default();
        family.set_name(self.desc.fq_name.clone());
        family.set_help(self.desc.help.clone());
        family.set_field_type(proto::MetricType::HISTOGRAM);
        family.set_metric(vec![metric]);
        vec![family]
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_all_protocol_latency_is_the_sum_of_the_per_protocol_series() {
        let m = Metrics::new();
        m.answered(Protocol::Fn, 0.0003);
        m.answered(Protocol::Fn, 0.2);
        m.answered(Protocol::Kz, 0.0003);
        let text = m.render();
        for line in [
            "ofd_ack_latency_seconds_count 3",
            "ofd_ack_latency_seconds_bucket{le=\"0.0005\"} 2",
            "ofd_ack_latency_seconds_bucket{le=\"0.25\"} 3",
            "ofd_ack_latency_seconds_bucket{le=\"+Inf\"} 3",
            "ofd_answer_latency_seconds_count{protocol=\"fn\"} 2",
            "ofd_answer_latency_seconds_count{protocol=\"kz\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(text.contains("# TYPE ofd_ack_latency_seconds histogram"));
    }
}
