#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with Rust: installs the reference tools,
# builds the fixtures with them, runs every test (a missing fixture or tool is a failure here),
# then fuzzes every parser briefly (FUZZ_SECONDS per target, default 12: over 30 targets share the CI budget).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-tools.sh
DISKIMG_QEMU=$(scripts/qemu-system.sh)
export DISKIMG_QEMU
tests/fixtures/make-fixtures.sh
DISKIMG_REQUIRE_FIXTURES=1 cargo test --workspace --locked
scripts/fuzz.sh "${FUZZ_SECONDS:-12}"
echo "test.sh: all passed" >&2
