#!/usr/bin/env bash
# One end-to-end load figure: a fresh `ofdd serve` on a fresh data directory, one `ofd-load`
# run against it, and the daemon's own cost per document read from /proc around the run.
#
#   benches/e2e.sh [ofd-load arguments…]
#   benches/e2e.sh --profile wired --registers 256 --connections 256 --duration 15s --seed 5001
#
# Prints one line: docs/s, p50/p99/p99.9 ms, errors, ofdd CPU µs per document (user+system,
# all threads: tokio workers, committer, syncer, RocksDB flush and compaction), disk bytes
# written per document, fsyncs (synced commits) and documents per fsync, and peak RSS.
# Needs release binaries: `cargo build --release -p ofdd -p ofd-load`.
set -euo pipefail

T=${CARGO_TARGET_DIR:-target}/release
PORT=${PORT:-17777}
ADMIN=${ADMIN:-19100}
DATA=$(mktemp -d /tmp/ofdd-e2e.XXXXXX)
PID=
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$DATA" "$DATA.toml" "$DATA.log"' EXIT

printf '[limits]\nmax_connections_per_ip = 30000\n' > "$DATA.toml"
OFDD_ADMIN_TOKEN=bench-token-0123456789 RUST_LOG=warn "$T/ofdd" serve --config "$DATA.toml" \
  --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN" --portal-listen 127.0.0.1:0 --data "$DATA/db" \
  > "$DATA.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  curl -sf "127.0.0.1:$ADMIN/healthz" > /dev/null 2>&1 && break
  kill -0 "$PID" 2>/dev/null || { cat "$DATA.log" >&2; exit 1; }
  sleep 0.1
done

ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
written() { awk '/^write_bytes/ {print $2}' "/proc/$PID/io"; }
metric() { curl -s "127.0.0.1:$ADMIN/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

CPU0=$(ticks); IO0=$(written)
OUT=$("$T/ofd-load" --target "127.0.0.1:$PORT" --json -q "$@")
CPU1=$(ticks); IO1=$(written)
HZ=$(getconf CLK_TCK)
RSS=$(awk '/^VmHWM/ {print $2}' "/proc/$PID/status")
COMMITS=$(metric ofd_store_commit_seconds_count)
DOCS=$(metric ofd_store_batch_documents_sum)

python3 - "$OUT" "$CPU0" "$CPU1" "$HZ" "$IO0" "$IO1" "$RSS" "${COMMITS:-0}" "${DOCS:-0}" <<'EOF'
import json, sys
out, cpu0, cpu1, hz, io0, io1, rss, commits, docs = sys.argv[1:]
d = json.loads(out)
n = max(d.get("documents", 0), 1)
cpu_us = (int(cpu1) - int(cpu0)) / int(hz) * 1e6 / n
disk = (int(io1) - int(io0)) / n
commits, docs = float(commits), float(docs)
per = docs / commits if commits else 0
print(f"{d['docs_per_s']:.0f} docs/s  p50 {d['p50_ms']:.1f} ms  p99 {d['p99_ms']:.1f} ms  "
      f"p99.9 {d.get('p999_ms', float('nan')):.1f} ms  errors {d['errors']['total']}  "
      f"acked {n}  reconnects {d.get('reconnects', 0)}  ofdd {cpu_us:.1f} µs CPU/doc  {disk:.0f} B written/doc  "
      f"{per:.0f} docs/commit  peak RSS {int(rss) / 1024:.0f} MiB")
EOF
