#!/usr/bin/env bash
# A local store beside a store on Ceph's S3 gateway (issue 7), in one run: ingest of the suite's
# Parquet file, a full verified scan and a selective filter, median of --repeats, with the
# requests each remote operation makes.
#
#   scripts/bench-s3.sh [--rows N] [--repeats N]      (default 1,000,000 rows, 3 repeats)
#
# Starts its own throwaway Ceph (scripts/ceph.sh, in $DSTORE_CACHE/ceph-bench, gateway on
# 127.0.0.1:7481, 2 GiB memstore) so it never disturbs a test cluster, and stops it at the end.
# Builds dstore-bench in release. Meant for a quiet machine; never part of the tests or CI.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
export DSTORE_CEPH_DIR="${DSTORE_CEPH_DIR:-$_dstore_cache/ceph-bench}"
export DSTORE_RGW_PORT="${DSTORE_RGW_PORT:-7481}"
export DSTORE_CEPH_MON_PORT="${DSTORE_CEPH_MON_PORT:-3301}"
export DSTORE_CEPH_MEM="${DSTORE_CEPH_MEM:-2G}"
(cd "$root" && cargo build --release -q -p dstore-bench)
"$root/scripts/ceph.sh" start
trap '"$root/scripts/ceph.sh" stop' EXIT
eval "$("$root/scripts/ceph.sh" env)"
"$CARGO_TARGET_DIR/release/dstore-bench" remote --url "s3://$AWS_BUCKET/bench" \
  --dir "$_dstore_cache/bench-remote" "$@"
