//! Parse + validate throughput: `parse_message` → `document()` → `validate` on the real
//! 466-byte vector and on built receipts (50 items), reported in bytes/s.
//!
//! Run: `cargo bench -p ofd-benches --bench parse`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ofd_proto::builder::{DocSpec, KktIdentity, build_message};
use ofd_proto::decide::{Decision, FnStanding, Policy, decide};
use ofd_proto::doctype::DocType;
use ofd_proto::framing::{FrameLimits, check_frame};
use ofd_proto::message::parse_message;
use ofd_proto::validate::{ValidationConfig, validate};

const VECTOR: &[u8] =
    include_bytes!("../../proto-spec/vectors/fiscal-report-correction-fn9999078900005488-fd1.bin");

fn parse_validate(raw: &[u8], cfg: &ValidationConfig, now: u32) -> u32 {
    let m = parse_message(raw).expect("valid message");
    validate(&m, cfg, now).expect("passes ФЛК").fd_number
}

fn bench(c: &mut Criterion) {
    let cfg = ValidationConfig::default();
    let mut receipt = Vec::new();
    let spec = DocSpec {
        items: 50,
        ..DocSpec::new(DocType::Receipt, 4242, 1_700_000_000)
    };
    build_message(&KktIdentity::generate(7), &spec, &mut receipt).expect("builds");

    let mut g = c.benchmark_group("parse_validate");
    g.throughput(Throughput::Bytes(VECTOR.len() as u64));
    g.bench_function("real_vector_466B", |b| {
        b.iter(|| parse_validate(black_box(VECTOR), &cfg, 1_488_541_080))
    });
    g.throughput(Throughput::Bytes(receipt.len() as u64));
    g.bench_function(format!("receipt_50_items_{}B", receipt.len()), |b| {
        b.iter(|| parse_validate(black_box(&receipt), &cfg, 1_700_000_000))
    });
    g.finish();

    // The daemon's whole decision: parse, control, admission, the answer's address.
    let policy = Policy::default();
    let limits = FrameLimits::default();
    let standing = FnStanding::Registered { encrypted: false };
    let mut g = c.benchmark_group("decide");
    g.throughput(Throughput::Bytes(VECTOR.len() as u64));
    g.bench_function("real_vector_466B", |b| {
        b.iter(|| {
            matches!(
                decide(
                    black_box(VECTOR),
                    &limits,
                    |_| standing,
                    &policy,
                    1_488_541_080
                ),
                Decision::Accept { .. }
            )
        })
    });
    g.throughput(Throughput::Bytes(receipt.len() as u64));
    g.bench_function(format!("receipt_50_items_{}B", receipt.len()), |b| {
        b.iter(|| {
            matches!(
                decide(
                    black_box(&receipt),
                    &limits,
                    |_| standing,
                    &policy,
                    1_700_000_000
                ),
                Decision::Accept { .. }
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group("parse_only");
    g.throughput(Throughput::Bytes(VECTOR.len() as u64));
    g.bench_function("real_vector_466B", |b| {
        b.iter(|| parse_message(black_box(VECTOR)).map(|m| m.container.fd_number))
    });
    g.throughput(Throughput::Bytes(receipt.len() as u64));
    g.bench_function("receipt_50_items", |b| {
        b.iter(|| parse_message(black_box(&receipt)).map(|m| m.container.fd_number))
    });
    g.finish();

    let mut g = c.benchmark_group("frame_check");
    g.throughput(Throughput::Bytes(VECTOR.len() as u64));
    let limits = FrameLimits::default();
    g.bench_function("real_vector_466B", |b| {
        b.iter(|| check_frame(black_box(VECTOR), &limits))
    });
    g.finish();

    let mut g = c.benchmark_group("build");
    g.throughput(Throughput::Elements(1));
    let id = KktIdentity::generate(7);
    let mut out = Vec::with_capacity(8192);
    g.bench_function("receipt_50_items", |b| {
        b.iter(|| {
            out.clear();
            build_message(&id, black_box(&spec), &mut out).expect("builds");
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
