#!/usr/bin/env bash
# File datasets measured (issue 18): folders as files tables beside DVC and `cp -r` + `b3sum`.
#
#   scripts/bench-files.sh [--small N] [--large N] [--segment-mib N] [--skip-peers]
#
# Installs its peers once into the cache: DVC (pinned below) in its own venv
# ($DSTORE_CACHE/dvc-venv; DVC's dependencies would clash with the bench venv's pins) and b3sum
# (`cargo install --locked`, in $DSTORE_CACHE/b3sum); builds dstore in release; runs
# bench/files.py. The defaults (100,000 files of 4-64 KiB and 1,000 of 1-8 MiB, about 8 GiB
# written several times over in /tmp) take some 10 minutes. Meant for a quiet machine; never
# part of the tests or CI.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"
DVC_VERSION=3.67.1
B3SUM_VERSION=1.8.7
dvc_venv="$_dstore_cache/dvc-venv"
if ! "$dvc_venv/bin/dvc" --version 2>/dev/null | grep -qx "$DVC_VERSION"; then
  python3 -m venv "$dvc_venv" >&2 || { _dstore_apt_install python3-venv && python3 -m venv "$dvc_venv" >&2; }
  "$dvc_venv/bin/pip" install -q --disable-pip-version-check "dvc==$DVC_VERSION" >&2
fi
b3sum="$_dstore_cache/b3sum/bin/b3sum"
if ! "$b3sum" --version 2>/dev/null | grep -q "$B3SUM_VERSION"; then
  cargo install --locked --quiet --version "$B3SUM_VERSION" --root "$_dstore_cache/b3sum" b3sum >&2
fi
(cd "$root" && cargo build --locked --release -q -p dstore-cli)
python3 "$root/bench/files.py" --dstore "$CARGO_TARGET_DIR/release/dstore" \
  --dvc "$dvc_venv/bin/dvc" --b3sum "$b3sum" "$@"
