#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS (default 20) on the stable toolchain, seeded from the
# fixtures, then replays the kept regressions. A crash fails the run and is left in
# fuzz/artifacts/<target>/; copy it to fuzz/regressions/<target>/ to keep it as a test.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
export RUSTC_BOOTSTRAP=1
fuzz/seed.sh
cargo fuzz build # every target in one build, so each run below starts at once
for t in $(cargo fuzz list); do
  mkdir -p "fuzz/corpus/$t"
  echo "fuzz: $t for ${secs}s" >&2
  cargo fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- -max_total_time="$secs" -max_len=1048576 \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=0 >&2
done
