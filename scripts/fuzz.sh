#!/usr/bin/env bash
# Fuzzes every decoder of bytes dstore reads from disk or from users (see fuzz/Cargo.toml):
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Runs each target (default: all) for SECONDS (default 600), one after the other, and prints the
# run time and executions of each. Installs cargo-fuzz if missing. Needs no nightly toolchain:
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, ...) to rustc, which the stable
# toolchain accepts with RUSTC_BOOTSTRAP=1. Builds release with debug assertions and overflow
# checks, and AddressSanitizer. Inputs grow in fuzz/corpus-grown/<target> (seeded from the
# committed fuzz/corpus/<target> and fuzz/regressions/<target>, and kept between runs); crashes
# go to fuzz/artifacts/<target>/. Both are git-ignored. Not run by CI: the committed inputs run
# in `cargo test` (crates/dstore-format/tests/fuzz_corpus.rs, crates/dstore/src/pin.rs).
#
# Reproduce a crash: scripts/fuzz.sh is not needed, run
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${1:-600}"
shift || true
case "$duration" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 1 ;;
esac

# A target directory of its own: sanitizer flags would otherwise invalidate the main build.
export CARGO_TARGET_DIR="${DSTORE_FUZZ_TARGET_DIR:-$HOME/.cache/dstore/fuzz-target}"
export RUSTC_BOOTSTRAP=1
# shellcheck source=env.sh
source scripts/env.sh # libclang, RocksDB linking (ROCKSDB_LIB_DIR)
export CARGO_TARGET_DIR="${DSTORE_FUZZ_TARGET_DIR:-$HOME/.cache/dstore/fuzz-target}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi

echo "fuzz: building ${targets[*]}" >&2
# The default build: release, with debug assertions and overflow checks, and AddressSanitizer.
nice -n 10 cargo fuzz build --fuzz-dir fuzz >&2

# AddressSanitizer's default 256 MB quarantine of freed memory (and the allocation stacks it
# keeps) made the peak RSS of the manifest target creep past libFuzzer's 2 GB limit after ~8M
# runs, with 26 MB live: a false out-of-memory. A small quarantine still catches
# use-after-free soon after the free; -malloc_limit_mb below still reports any single
# allocation over 512 MB (from inputs of at most 4 KB, a real bug).
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=16:malloc_context_size=0}"

summary=()
failed=0
for t in "${targets[@]}"; do
  grown="fuzz/corpus-grown/$t"
  mkdir -p "$grown" "fuzz/artifacts/$t"
  seeds=("fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && seeds+=("fuzz/regressions/$t")
  log="fuzz/artifacts/$t/last-run.log"
  echo "fuzz: $t for ${duration}s (log: $log)" >&2
  start=$(date +%s)
  status=ok
  # One process, no -fork/-jobs: the machine is shared. Niced for the same reason.
  if ! nice -n 10 cargo fuzz run --fuzz-dir fuzz "$t" "$grown" "${seeds[@]}" -- \
      -max_total_time="$duration" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
      >"$log" 2>&1; then
    status=FAILED
    failed=1
  fi
  secs=$(( $(date +%s) - start ))
  # libFuzzer's own count and time ("Done N runs in S second(s)"), without the build.
  # (A crashed run has no final stats: `|| true` keeps `set -e` from ending the loop.)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1 || true)
  fuzzed=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' | tail -n 1 || true)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1 || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
  line=$(printf '%-9s %-6s %5ss fuzzing (%ss wall) %12s execs %8s/s  %s  corpus %s' \
    "$t" "$status" "${fuzzed:-?}" "$secs" "${execs:-?}" "${rate:-?}" "${cov:-}" \
    "$(find "$grown" -type f | wc -l)")
  echo "$line"
  summary+=("$line")
  if [ "$status" = FAILED ]; then
    grep -m 5 -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" >&2 || true
  fi
done

echo
echo "fuzz: summary (target, status, time fuzzed, wall time with build, executions, execs/s,"
echo "      coverage, corpus files)"
printf '%s\n' "${summary[@]}"
exit "$failed"
