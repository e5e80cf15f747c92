#!/usr/bin/env bash
# Refresh docs/screenshots/ from the browser test (crates/ofdd/tests/browser.rs), which takes a
# screenshot of each main page of the portal in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
OFDD_SCREENSHOTS="$PWD/docs/screenshots" cargo test --release --workspace --test browser -- --nocapture
ls -l docs/screenshots
