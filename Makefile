# Two commands do all set-up on a fresh Debian machine (as root):
#   make run    build and run the daemon on the embedded default (RocksDB under ./data)
#   make test   run the whole test suite, then check that a bare clone builds and tests alone
#               (a test that cannot run fails; see scripts/test.sh for OFDD_TEST_ALLOW_SKIP)
#   make fuzz   run every cargo-fuzz target for FUZZ_SECONDS each and keep the corpus minimised
# Everything is built in release mode: RocksDB takes ~10 minutes to compile on 2 cores, and one
# profile means it is compiled once for tests, benches and the daemon alike.

CARGO ?= cargo
DATA ?= ./data

.PHONY: setup run test fuzz fuzz-seeds bench fmt clippy

setup:
	@./scripts/setup.sh

run: setup
	$(CARGO) run --release -p ofdd -- serve --data $(DATA)

test: setup
	CARGO=$(CARGO) ./scripts/test.sh

fuzz: setup
	./scripts/fuzz.sh

fuzz-seeds:
	$(CARGO) run --release -p ofd-proto --example write_fuzz_seeds
	$(CARGO) run --release -p ofd-kz --example write_kz_fuzz_seeds

bench: setup
	$(CARGO) bench -p ofd-benches

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --release --all-targets -- -D warnings
