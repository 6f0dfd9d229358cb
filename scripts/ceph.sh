#!/usr/bin/env bash
# A throwaway single-node Ceph with the RADOS gateway (S3) on loopback, for tests that need a
# real S3-compatible object store (issue 7). See docs/ceph.md.
#
#   scripts/ceph.sh start    install Debian's ceph packages if missing, wipe and create the
#                            cluster, start mon + one memstore OSD + radosgw, create the S3 user,
#                            wait until the gateway answers
#   scripts/ceph.sh stop     stop every daemon it started (pid files), delete the cluster's data
#                            (logs stay in DIR/log until the next start)
#   scripts/ceph.sh status   daemons, their RSS, `ceph -s`, and whether the gateway answers
#   scripts/ceph.sh env      print AWS_* (and CEPH_CONF) lines for `eval "$(scripts/ceph.sh env)"`
#   scripts/ceph.sh gateway-stop [--kill]
#                            stop only radosgw (SIGTERM; --kill: SIGKILL at once, like a crash);
#                            mon and OSD keep running with their in-memory data; returns once the
#                            gateway's port refuses connections
#   scripts/ceph.sh gateway-start
#                            start radosgw again with the same config and wait until it answers
#                            (a no-op if it already does); the cluster must be running
#
# Settings (environment):
#   DSTORE_CEPH_DIR        cluster dir (default ${DSTORE_CACHE:-$HOME/.cache/dstore}/ceph)
#   DSTORE_RGW_PORT        gateway port on 127.0.0.1 (default 7480)
#   DSTORE_CEPH_MON_PORT   monitor msgr2 port (default 3300; msgr1 is off)
#   DSTORE_CEPH_MEM        memstore size (default 1G): the OSD's whole capacity, held in RAM
#   DSTORE_S3_BUCKET       bucket created by start, printed by env as AWS_BUCKET (default dstore-test)
#
# No systemd needed: daemons run as root in the foreground (-f), put in the background by this
# script, with their logs, admin sockets, pid files and data under the cluster dir. Cephx is off
# between daemons (auth none); the gateway itself checks S3 signatures (v2 and v4) against the
# fixed user below.
set -euo pipefail

CACHE="${DSTORE_CACHE:-$HOME/.cache/dstore}"
DIR="${DSTORE_CEPH_DIR:-$CACHE/ceph}"
RGW_PORT="${DSTORE_RGW_PORT:-7480}"
MON_PORT="${DSTORE_CEPH_MON_PORT:-3300}"
MEM="${DSTORE_CEPH_MEM:-1G}"
CONF="$DIR/ceph.conf"

# Fixed, test-only credentials (the gateway listens on 127.0.0.1 only).
ACCESS_KEY="dstoretestaccesskey0"
SECRET_KEY="dstoretestsecretkey0000000000000000000000"
REGION="us-east-1"
BUCKET="${DSTORE_S3_BUCKET:-dstore-test}"
ENDPOINT="http://127.0.0.1:$RGW_PORT"

PACKAGES=(ceph-mon ceph-osd radosgw ceph-common)

log() { echo "ceph.sh: $*" >&2; }
die() { log "$*"; exit 1; }
_sudo() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get"
  local t0; t0=$(now)
  log "installing ${missing[*]} with apt-get"
  _sudo apt-get update -qq
  # --no-install-recommends: no ceph-mgr, no ceph-volume/LVM tooling, no python extras.
  DEBIAN_FRONTEND=noninteractive _sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >"${TMPDIR:-/tmp}/dstore-ceph-apt.log" 2>&1 \
    || { tail -20 "${TMPDIR:-/tmp}/dstore-ceph-apt.log" >&2; die "apt-get install failed"; }
  log "installed in $(elapsed "$t0") s"
}

# Daemons we started: one pid file each, written by this script.
pidfiles() { local n; for n in mon.a osd.0 rgw.dstore; do [ -f "$DIR/run/$n.pid" ] && echo "$DIR/run/$n.pid"; done; return 0; }
# A daemon whose parent (this script) has exited is reaped by pid 1; where pid 1 does not reap
# promptly, an exited daemon lingers as a zombie, which counts as gone.
alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# term_and_wait SECONDS NAME...: SIGTERM the named daemons we started, wait, then SIGKILL.
term_and_wait() {
  local secs="$1"; shift
  local name f pid i pids=() names=()
  for name in "$@"; do
    f="$DIR/run/$name.pid"
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    # Only signal a pid that is still the ceph daemon we started (pids get reused).
    if alive "$pid" && grep -q -a -E 'ceph-mon|ceph-osd|radosgw' "/proc/$pid/cmdline" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid"); names+=("$name")
    fi
    rm -f "$f"
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  for i in $(seq 1 $((secs * 10))); do
    local left=0
    for pid in "${pids[@]}"; do alive "$pid" && left=1; done
    [ $left = 0 ] && return 0
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    if alive "${pids[$i]}"; then log "killing ${names[$i]} (pid ${pids[$i]})"; kill -KILL "${pids[$i]}" 2>/dev/null || true; fi
  done
}

stop_daemons() {
  # The gateway first: its shutdown still talks to the OSD (it drops its watches). Then the OSD
  # and the monitor together: the OSD waits only 0.2 s for the monitor to note it going down.
  local ts; ts=$(now)
  [ -n "$(pidfiles)" ] || return 0
  term_and_wait 5 rgw.dstore
  term_and_wait 5 osd.0 mon.a
  log "daemons stopped in $(elapsed "$ts") s"
}

write_conf() {
  local fsid="$1"
  cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$MON_PORT]
mon_initial_members = a
public_addr = 127.0.0.1
public_network = 127.0.0.0/8
ms_bind_msgr1 = false
ms_bind_ipv6 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
# auth none cannot do msgr2 "secure" mode, and radosgw asks the monitor for secure only unless
# told otherwise (get_initial_auth_request returned -13).
ms_cluster_mode = crc
ms_service_mode = crc
ms_client_mode = crc
ms_mon_cluster_mode = crc
ms_mon_service_mode = crc
ms_mon_client_mode = crc
keyring = $DIR/keyring
run_dir = $DIR/run
admin_socket = $DIR/run/\$name.asok
log_file = $DIR/log/\$name.log
crash_dir = $DIR/crash
log_to_stderr = false
err_to_stderr = true
# Throwaway single-OSD cluster: one copy, small pools, no warnings about either.
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
mon_data_avail_warn = 2
mon_data_avail_crit = 1
# Fewer threads: 2 cores are shared with builds and benchmarks.
ms_async_op_threads = 2

[mon]
mon_data = $DIR/mon/\$name
# The monitor batches map changes for 1 s by default; every pool the gateway creates costs two
# such rounds. Proposing at once takes start-up from 14.6 s to under 3 s.
paxos_propose_interval = 0.01
paxos_min_wait = 0.01

[osd]
osd_data = $DIR/osd/\$id
osd_objectstore = memstore
osd_mon_shutdown_timeout = 0.2
memstore_device_bytes = $MEM
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 1
osd_recovery_sleep = 0
osd_scrub_auto_repair = false
osd_scrub_begin_hour = 0
osd_scrub_end_hour = 0
osd_max_scrubs = 0

[client.rgw.dstore]
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw_data = $DIR/rgw
rgw_thread_pool_size = 64
rgw_enable_usage_log = false
rgw_enable_gc_threads = true
rgw_enable_lc_threads = false
rgw_dns_name =
EOF
}

# spawn NAME CMD...: start a foreground daemon in the background, record its pid.
spawn() {
  local name="$1"; shift
  nohup "$@" >>"$DIR/log/$name.out" 2>&1 </dev/null &
  echo $! >"$DIR/run/$name.pid"
}

ceph_() { timeout 30 ceph -c "$CONF" "$@"; }

wait_for() { # wait_for SECONDS DESCRIPTION CMD...
  local secs="$1" what="$2"; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    local f
    for f in $(pidfiles); do
      alive "$(cat "$f")" || { log "$(basename "$f" .pid) exited while waiting for $what; last log lines:"; tail -n 15 "$DIR"/log/*.out "$DIR"/log/*.log >&2 || true; return 1; }
    done
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "timed out waiting for $what; last log lines:"
      tail -n 15 "$DIR"/log/*.out "$DIR"/log/*.log >&2 || true
      return 1
    fi
    sleep 0.3
  done
}

osd_up() { ceph_ osd dump 2>/dev/null | grep -q '^osd.0 up'; }
rgw_answers() { curl -fsS -o /dev/null "$ENDPOINT/" 2>/dev/null || python3 -c "import urllib.request,sys; urllib.request.urlopen('$ENDPOINT/', timeout=2)" 2>/dev/null; }

start() {
  local t0; t0=$(now)
  install_packages
  if [ -e "$DIR" ]; then
    # Wipe only what looks like ours: a dir with our ceph.conf, or an empty one.
    [ -f "$CONF" ] || [ -z "$(ls -A "$DIR")" ] || die "$DIR exists and is not a cluster dir made by this script; not wiping it"
    stop_daemons
    rm -rf "$DIR"
  fi
  local port
  for port in "$MON_PORT" "$RGW_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "127.0.0.1:$port is already in use (another cluster? set DSTORE_RGW_PORT / DSTORE_CEPH_MON_PORT)"
    fi
  done
  mkdir -p "$DIR"/{run,log,crash,mon/mon.a,osd/0,rgw}
  local fsid; fsid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$fsid"
  local t1; t1=$(now)

  # Monitor. A keyring is still needed by mkfs even with auth none.
  ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring"
  spawn mon.a ceph-mon -c "$CONF" -f -i a
  wait_for 30 "the monitor" ceph_ mon stat
  local t_mon; t_mon=$(elapsed "$t1")

  # One memstore OSD.
  local uuid; uuid=$(cat /proc/sys/kernel/random/uuid)
  local id; id=$(ceph_ osd new "$uuid")
  [ "$id" = 0 ] || die "expected osd id 0, got $id"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$uuid" >"$DIR/log/osd.0.mkfs" 2>&1 \
    || { cat "$DIR/log/osd.0.mkfs" >&2; die "ceph-osd --mkfs failed"; }
  spawn osd.0 ceph-osd -c "$CONF" -f -i 0
  wait_for 60 "osd.0 up" osd_up
  local t_osd; t_osd=$(elapsed "$t1")

  # The gateway creates its pools (size 1, 8 PGs) on first use; the user first.
  timeout 60 radosgw-admin -c "$CONF" -n client.rgw.dstore user create --uid=dstore \
    --display-name="dstore tests" --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" \
    >"$DIR/log/user-create.out" 2>&1 || { cat "$DIR/log/user-create.out" >&2; die "radosgw-admin user create failed"; }
  local t_user; t_user=$(elapsed "$t1")
  spawn rgw.dstore radosgw -c "$CONF" -f -n client.rgw.dstore
  wait_for 60 "the gateway on $ENDPOINT" rgw_answers
  # object_store cannot create buckets: make the tests' bucket here (signed S3 request).
  AWS_ACCESS_KEY_ID="$ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$SECRET_KEY" \
    python3 "$(dirname "${BASH_SOURCE[0]}")/s3probe.py" --endpoint "$ENDPOINT" --make-bucket "$BUCKET" >/dev/null \
    || die "could not create bucket $BUCKET"
  log "mon up at $t_mon s, osd.0 up at $t_osd s, S3 user at $t_user s, gateway answering at $(elapsed "$t1") s"
  log "started in $(elapsed "$t1") s (with install check $(elapsed "$t0") s); cluster dir $DIR; gateway $ENDPOINT"
}

daemon_alive() { # daemon_alive NAME: its pid file names a live process
  local f="$DIR/run/$1.pid"
  [ -f "$f" ] && alive "$(cat "$f" 2>/dev/null)"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$RGW_PORT") 2>/dev/null; }

# For tests that take the S3 endpoint away mid-operation and bring it back: the monitor and the
# OSD (and so every object, held in the OSD's memory) stay up.
gateway_stop() {
  local ts; ts=$(now)
  case "${1:-}" in ""|--kill) ;; *) die "gateway-stop: unknown option $1 (only --kill)" ;; esac
  [ -f "$CONF" ] || die "no cluster in $DIR (scripts/ceph.sh start first)"
  if ! daemon_alive rgw.dstore; then
    rm -f "$DIR/run/rgw.dstore.pid"
    log "gateway not running"
    return 0
  elif [ "${1:-}" = --kill ]; then
    local pid; pid=$(cat "$DIR/run/rgw.dstore.pid")
    grep -q -a radosgw "/proc/$pid/cmdline" 2>/dev/null || die "pid $pid is not our radosgw"
    kill -KILL "$pid"
    rm -f "$DIR/run/rgw.dstore.pid"
    local i; for i in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
  else
    term_and_wait 5 rgw.dstore
  fi
  # Gone from the process table is not quite enough for a caller that checks at once.
  local i; for i in $(seq 1 50); do port_open || break; sleep 0.1; done
  port_open && die "the gateway port $RGW_PORT still accepts connections"
  log "gateway stopped in $(elapsed "$ts") s (mon and osd.0 still running)"
}

gateway_start() {
  local ts; ts=$(now)
  [ -f "$CONF" ] || die "no cluster in $DIR (scripts/ceph.sh start first)"
  daemon_alive mon.a && daemon_alive osd.0 || die "mon.a or osd.0 is not running; use scripts/ceph.sh start"
  if daemon_alive rgw.dstore; then
    wait_for 60 "the gateway on $ENDPOINT" rgw_answers
    log "gateway already running"
    return 0
  fi
  port_open && die "127.0.0.1:$RGW_PORT is in use by something else"
  echo "--- gateway-start $(date -u +%FT%TZ)" >>"$DIR/log/rgw.dstore.out"
  spawn rgw.dstore radosgw -c "$CONF" -f -n client.rgw.dstore
  wait_for 60 "the gateway on $ENDPOINT" rgw_answers
  log "gateway answering again in $(elapsed "$ts") s"
}

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

status() {
  local f pid name up=0 total=0 r
  for f in $(pidfiles); do
    pid=$(cat "$f"); name=$(basename "$f" .pid)
    if alive "$pid"; then
      r=$(rss_kib "$pid"); total=$((total + ${r:-0}))
      echo "$name pid $pid running, RSS $((${r:-0} / 1024)) MiB"; up=$((up + 1))
    else
      echo "$name pid $pid NOT running"
    fi
  done
  [ "$up" -gt 0 ] || { echo "no ceph daemons running (dir $DIR)"; return 1; }
  echo "total RSS $((total / 1024)) MiB"
  ceph_ -s 2>/dev/null || true
  if rgw_answers; then echo "gateway answers on $ENDPOINT"; else echo "gateway NOT answering on $ENDPOINT"; return 1; fi
}

print_env() {
  cat <<EOF
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_ENDPOINT_URL=$ENDPOINT
export AWS_REGION=$REGION
export AWS_ALLOW_HTTP=true
export AWS_VIRTUAL_HOSTED_STYLE_REQUEST=false
export AWS_CONDITIONAL_PUT=etag
export AWS_BUCKET=$BUCKET
export CEPH_CONF=$CONF
EOF
}

case "${1:-}" in
  start) start ;;
  # Keeps log/ (and ceph.conf) for a look after a failed run; start wipes the whole dir.
  stop) stop_daemons; rm -rf "$DIR/osd" "$DIR/mon" "$DIR/rgw" "$DIR/run"; log "stopped (logs kept in $DIR/log)" ;;
  status) status ;;
  env) print_env ;;
  gateway-stop) gateway_stop "${2:-}" ;;
  gateway-start) gateway_start ;;
  *) echo "usage: $0 start|stop|status|env|gateway-stop [--kill]|gateway-start" >&2; exit 2 ;;
esac
