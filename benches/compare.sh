#!/usr/bin/env bash
# ofdd next to the project's null OFDs, measured in one run with the same ofd-load.
#
#   benches/compare.sh                 # every scenario, DURATION=10s each
#   DURATION=20s benches/compare.sh wired kz
#   LOAD_ARGS="--rate 25000" benches/compare.sh wired    # the same offered load for both
#
# Scenarios (names as arguments; all by default):
#   wired     FN–OFD, 256 registers on 256 persistent connections, closed loop
#   one-shot  FN–OFD, 64 connections, a new connection per document
#   kz        KKM–OFD tickets, 256 KKMs on 256 persistent connections (ofdd: registered through
#             the admin API; the null KZ OFD writes its own fleet file)
#
# Each scenario starts the server on a fresh data directory, runs ofd-load against it, and stops
# it; ofdd and its null counterpart alternate, so both see the same machine within minutes. The
# server's CPU is read from /proc/PID/stat around the load run (user + system, all threads), and
# split by thread name (where ofdd's time goes: workers, committer, syncer, flush, compaction);
# its disk writes from /proc/PID/io. The null OFDs frame, decide and answer but store nothing, so
# each ratio is what storage, durability and ofdd's own logic cost on this machine *now*. A busy
# machine lowers both sides: compare the ratios, not absolute figures from different runs.
#
# Needs release binaries:
#   cargo build --release -p ofdd -p ofd-load --examples --bins
set -euo pipefail

T=${CARGO_TARGET_DIR:-target}/release
# OFDD=/path/to/another/ofdd compares a candidate build (same null OFDs and load generator).
OFDD=${OFDD:-$T/ofdd}
DURATION=${DURATION:-10s}
# More ofd-load arguments for every run, e.g. LOAD_ARGS="--rate 25000": both servers then take the
# same offered load, so CPU per message compares like with like (closed loop, the faster server
# also takes more messages, and a store's per-message costs grow with the data it holds).
LOAD_ARGS=${LOAD_ARGS:-}
PORT=${PORT:-17777}
ADMIN=${ADMIN:-19100}
TOKEN=compare-token-0123456789
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(wired one-shot kz)
[ -x "$OFDD" ] || { echo "compare.sh: $OFDD missing; build with: cargo build --release -p ofdd -p ofd-load --examples --bins" >&2; exit 2; }
for bin in ofd-load examples/null_ofd examples/null_kz_ofd; do
  [ -x "$T/$bin" ] || { echo "compare.sh: $T/$bin missing; build with: cargo build --release -p ofdd -p ofd-load --examples --bins" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/ofdd-compare.XXXXXX)
PID=
stop() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  PID=
}
trap 'stop; rm -rf "$WORK"' EXIT
RESULTS="$WORK/results.jsonl"
: > "$RESULTS"

wait_port() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.05
  done
  echo "compare.sh: nothing listens on $1" >&2; exit 1
}

start_ofdd() {
  rm -rf "$WORK/db"
  printf '[limits]\nmax_connections_per_ip = 30000\n' > "$WORK/ofdd.toml"
  OFDD_ADMIN_TOKEN=$TOKEN RUST_LOG=warn "$OFDD" serve --config "$WORK/ofdd.toml" \
    --listen "127.0.0.1:$PORT" --admin-listen "127.0.0.1:$ADMIN" --portal-listen 127.0.0.1:0 --data "$WORK/db" \
    > "$WORK/server.log" 2>&1 &
  PID=$!
  wait_port "$PORT"; wait_port "$ADMIN"
}

start_null() { # $1: null_ofd | null_kz_ofd, then its extra arguments
  local name=$1; shift
  "$T/examples/$name" "127.0.0.1:$PORT" "$@" > "$WORK/server.log" 2>&1 &
  PID=$!
  wait_port "$PORT"
}

ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
# CPU ticks per thread name ("name ticks" lines): ofdd's tokio workers are "ofdd", the store's
# committer and syncer "ofd-store-commi(t)" and "ofd-store-sync", RocksDB's flush and compaction
# pools "rocksdb:high" and "rocksdb:low". A thread that ended during the run is not counted here
# (the process total above still has it).
thread_ticks() {
  for t in /proc/"$PID"/task/*; do
    awk -v n="$(tr ' ' _ < "$t/comm")" '{print n, $14 + $15}' "$t/stat" 2>/dev/null || true
  done | awk '{a[$1] += $2} END {for (k in a) print k, a[k]}'
}
written() { awk '/^write_bytes/ {print $2}' "/proc/$PID/io"; }

# measure SCENARIO SERVER ofd-load-arguments…: one load run against the running server.
measure() {
  local scenario=$1 server=$2; shift 2
  local cpu0 io0 out cpu1 io1 rss thr0 thr1
  cpu0=$(ticks); io0=$(written); thr0=$(thread_ticks)
  # shellcheck disable=SC2086 # LOAD_ARGS is a list of words on purpose
  out=$("$T/ofd-load" --target "127.0.0.1:$PORT" --duration "$DURATION" --json -q "$@" $LOAD_ARGS)
  cpu1=$(ticks); io1=$(written); thr1=$(thread_ticks)
  rss=$(awk '/^VmHWM/ {print $2}' "/proc/$PID/status")
  python3 - "$scenario" "$server" "$out" "$cpu0" "$cpu1" "$(getconf CLK_TCK)" "$io0" "$io1" "$rss" \
    "$thr0" "$thr1" >> "$RESULTS" <<'EOF'
import json, sys
scenario, server, out, cpu0, cpu1, hz, io0, io1, rss, thr0, thr1 = sys.argv[1:]
d = json.loads(out)
n = max(d.get("documents", 0), 1)
per_thread = lambda t: {k: int(v) for k, v in (l.split() for l in t.splitlines() if l.strip())}
t0, t1 = per_thread(thr0), per_thread(thr1)
print(json.dumps({
    "scenario": scenario, "server": server, "per_s": d["docs_per_s"],
    "p50_ms": d["p50_ms"], "p99_ms": d["p99_ms"], "errors": d["errors"]["total"], "n": n,
    "cpu_us": (int(cpu1) - int(cpu0)) / int(hz) * 1e6 / n,
    "threads_us": {k: round((v - t0.get(k, 0)) / int(hz) * 1e6 / n, 2)
                   for k, v in sorted(t1.items()) if v > t0.get(k, 0)},
    "disk_b": (int(io1) - int(io0)) / n, "rss_mib": int(rss) / 1024,
}))
EOF
  tail -n 1 "$RESULTS" >&2
}

for s in "${SCENARIOS[@]}"; do
  case $s in
    wired)
      args=(--profile wired --registers 256 --connections 256)
      start_ofdd; measure wired ofdd "${args[@]}"; stop
      start_null null_ofd; measure wired null "${args[@]}"; stop ;;
    one-shot)
      args=(--profile one-shot --registers 64 --connections 64)
      start_ofdd; measure one-shot ofdd "${args[@]}"; stop
      start_null null_ofd; measure one-shot null "${args[@]}"; stop ;;
    kz)
      start_ofdd
      measure kz ofdd --protocol kz --register-via "http://127.0.0.1:$ADMIN" --admin-token "$TOKEN" --registers 256
      stop
      start_null null_kz_ofd "$WORK/kz-fleet.jsonl" 256
      measure kz null --protocol kz --kz-fleet "$WORK/kz-fleet.jsonl"
      stop ;;
    *) echo "compare.sh: unknown scenario $s (wired, one-shot, kz)" >&2; exit 2 ;;
  esac
done

python3 - "$RESULTS" "$DURATION" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {(r["scenario"], r["server"]): r for r in rows}
print(f"\nofdd next to the null OFD, same ofd-load, {sys.argv[2]} per run, one run each\n")
print("| scenario | server | per s | p50 ms | p99 ms | errors | CPU µs/msg | disk B/msg | peak RSS MiB |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['scenario']} | {r['server']} | {r['per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
          f"| {r['errors']} | {r['cpu_us']:.1f} | {r['disk_b']:.0f} | {r['rss_mib']:.0f} |")
print("\nCPU µs per message by thread (ofdd: `ofdd` = tokio workers, `ofd-store-*` = committer and")
print("syncer, `rocksdb:high` / `rocksdb:low` = flush and compaction)\n")
for r in rows:
    split = ", ".join(f"{k} {v:.1f}" for k, v in r.get("threads_us", {}).items())
    print(f"- {r['scenario']} {r['server']}: {split}")
print("\n| scenario | throughput ofdd/null | p99 ofdd/null | CPU per message ofdd/null |")
print("|---|---|---|---|")
for s in dict.fromkeys(r["scenario"] for r in rows):
    o, n = by.get((s, "ofdd")), by.get((s, "null"))
    if o and n:
        ratio = lambda a, b: a / b if b else float("nan")
        print(f"| {s} | {ratio(o['per_s'], n['per_s']):.2f}× | {ratio(o['p99_ms'], n['p99_ms']):.2f}× "
              f"| {ratio(o['cpu_us'], n['cpu_us']):.2f}× |")
EOF
