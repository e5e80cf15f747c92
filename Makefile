# Two commands do all set-up on a fresh Debian machine (as root):
#   make run    build and run the daemon on the embedded default (RocksDB under ./data)
#   make test   run the whole test suite, then check that a bare clone builds and tests alone
# Everything is built in release mode: RocksDB takes ~10 minutes to compile on 2 cores, and one
# profile means it is compiled once for tests, benches and the daemon alike.

CARGO ?= cargo
DATA ?= ./data

.PHONY: setup run test bench fmt clippy

setup:
	@./scripts/setup.sh

run: setup
	$(CARGO) run --release -p ofdd -- serve --data $(DATA)

test: setup
	$(CARGO) test --workspace --release
	./scripts/standalone-check.sh

bench: setup
	$(CARGO) bench -p ofd-benches

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --release --all-targets -- -D warnings
