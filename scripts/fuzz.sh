#!/usr/bin/env bash
# `make fuzz`: runs every cargo-fuzz target (fuzz/fuzz_targets/) for FUZZ_SECONDS each (default
# 120), starting from the committed corpus (fuzz/corpus/<target>/), then minimises what it grew
# back into that directory: the seeds (seed-*, written by `make fuzz-seeds`) are always kept, and
# of the rest only the inputs that add coverage (libFuzzer's -merge=1). Commit the corpus
# afterwards; `make test` replays all of it.
#
# A crash stops nothing else: every target runs, the crash input is left in
# fuzz/artifacts/<target>/ and the script exits 1 at the end. Once fixed, keep the input as a
# regression case: `cp fuzz/artifacts/<target>/crash-* fuzz/regressions/<target>/` (`make test`
# replays fuzz/regressions/ too).
#
#   FUZZ_SECONDS=600 make fuzz          longer runs
#   FUZZ_TARGETS="kz pipeline" make fuzz  some targets only
#   FUZZ_NO_MINIMISE=1 make fuzz        leave the committed corpus alone
#
# Installs what it needs: cargo-fuzz (pinned below, from crates.io). cargo-fuzz asks for nightly
# compiler flags (-Zsanitizer=address, the default sanitizer here); when only a stable toolchain
# is installed, RUSTC_BOOTSTRAP=1 lets that same compiler accept them (the sanitizer runtimes ship
# with the standard library for x86_64-unknown-linux-gnu). The targets build in their own target
# directory (fuzz/target, or FUZZ_TARGET_DIR): their flags differ from the workspace's.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
CARGO_FUZZ_VERSION=0.13.2
seconds="${FUZZ_SECONDS:-120}"
targets="${FUZZ_TARGETS:-framing tlv flk ack pipeline kz}"

if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
  cargo install -q cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
if ! rustc --version | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$repo/fuzz/target}"
cd "$repo/fuzz"

work=$(mktemp -d /tmp/ofdd-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
crashed=()
rows=()
for t in $targets; do
  corpus="$repo/fuzz/corpus/$t"
  mkdir -p "$corpus" "$work/$t/grown" "$work/$t/min"
  before=$(find "$corpus" -type f | wc -l)
  echo "fuzz: $t for ${seconds} s from $before committed inputs" >&2
  cargo fuzz build -O "$t"
  status=0
  # New inputs go to grown/; the committed corpus is read, not written, during the run.
  cargo fuzz run -O "$t" "$work/$t/grown" "$corpus" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$work/$t/run.log" 2>&1 || status=$?
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::|ERROR|SUMMARY|Test unit written' "$work/$t/run.log" >&2 || true
  if [ "$status" -ne 0 ]; then
    crashed+=("$t")
    tail -40 "$work/$t/run.log" >&2
  fi
  after=$before
  if [ -z "${FUZZ_NO_MINIMISE:-}" ] && [ "$status" -eq 0 ]; then
    # The seeds first, then only what adds coverage to them.
    find "$corpus" -maxdepth 1 -type f -name 'seed-*' -exec cp {} "$work/$t/min/" \;
    cargo fuzz run -O "$t" "$work/$t/min" "$corpus" "$work/$t/grown" -- -merge=1 \
      >"$work/$t/merge.log" 2>&1 || { tail -20 "$work/$t/merge.log" >&2; exit 1; }
    find "$corpus" -maxdepth 1 -type f ! -name 'seed-*' -delete
    find "$work/$t/min" -maxdepth 1 -type f ! -name 'seed-*' -exec cp {} "$corpus/" \;
    after=$(find "$corpus" -type f | wc -l)
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/run.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t/run.log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$work/$t/run.log" | tail -1)
  rows+=("$(printf '%-9s %6ss %12s execs %8s/s  %-22s corpus %4s -> %4s' \
    "$t" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-cov: ?}" "$before" "$after")")
done

echo "fuzz: summary" >&2
printf '  %s\n' "${rows[@]}" >&2
if [ ${#crashed[@]} -gt 0 ]; then
  echo "fuzz: CRASH in ${crashed[*]}: inputs in fuzz/artifacts/<target>/ (see above)" >&2
  exit 1
fi
echo "fuzz: no crash; commit fuzz/corpus/ if it changed (git status fuzz/corpus)" >&2
