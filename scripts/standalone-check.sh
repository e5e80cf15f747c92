#!/usr/bin/env bash
# Does the repository stand alone? Clones HEAD into an empty temporary directory (no siblings, so
# no folder beside the checkout can be reached), then:
#   1. looks for text that points outside the repository (a sibling folder, this machine's paths);
#   2. compiles every target of the clone (tests, benches, examples: an `include_bytes!` of a
#      missing file fails here);
#   3. runs ofd-proto's tests in the clone (they read the real vectors).
# Part of `make test`. Reuses the caller's target directory for dependencies (RocksDB is not
# rebuilt). Cargo hashes a workspace crate by its path *relative to the workspace*, so the clone's
# crates would land on the caller's own artifacts and the caller's next build would recompile the
# whole workspace; a profile override that only the clone uses (one codegen unit fewer for the
# workspace's own crates) gives them other hashes, and the caller's build stays warm.
set -euo pipefail
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
tmp=$(mktemp -d /tmp/ofdd-standalone.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
git clone -q --no-local "$repo" "$tmp/ofdd"
cd "$tmp/ofdd"
echo "standalone: cloned $(git rev-parse --short HEAD) into $tmp/ofdd"

# Text (not binary vectors or the fuzz corpus) that reaches outside the clone.
if refs=$(git grep -n -I -E '\.\./(\.\./)*shared/|/work/(main|shared)' -- . ':!fuzz/corpus' ':!scripts/standalone-check.sh'); then
  echo "standalone: FAILED: these lines point outside the repository:" >&2
  echo "$refs" >&2
  exit 1
fi
own=()
for krate in ofd-proto ofd-kz ofd-store ofd-portal ofdd ofd-load ofd-benches; do
  own+=(--config "profile.release.package.$krate.codegen-units=15")
done
cargo check -q "${own[@]}" --workspace --release --all-targets
if ! cargo test -q "${own[@]}" --release -p ofd-proto >"$tmp/proto-tests.log" 2>&1; then
  cat "$tmp/proto-tests.log" >&2
  echo "standalone: FAILED: ofd-proto's tests fail in the clone" >&2
  exit 1
fi
echo "standalone: ok (clone builds every target and passes ofd-proto's tests on its own)"
