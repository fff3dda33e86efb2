#!/usr/bin/env bash
# Copy-on-write of a BGSAVE child per write: Redis 7.4.1 and pyrope-server (release) load the
# same KEYS string keys (`key:<12 digits>`, 16-byte values, sent with redis-cli --pipe), start
# a BGSAVE whose child is held open by `rdb-key-save-delay 1` (one usleep per key), take a
# FIXED number of SETs (WRITES, pyrope-benchmark, 20 clients) while it runs, and print each
# server's rdb_last_cow_size and the pyrope/redis ratio. A fixed count (not a fixed rate, as
# bench/persistence.sh's COW row uses) compares the pages each write dirties, whatever the
# length of each server's save.
#   MODE=insert: new keys (-r 10^8), MODE=update: existing keys (-r KEYS).
#
# Usage: bench/cow.sh                       (KEYS=2000000 WRITES=50000, both modes; a child
#                                            lives ~2 minutes per server and mode)
# Servers listen on 127.0.0.1 only, on free ports, in a temp dir, and are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${KEYS:-2000000}
WRITES=${WRITES:-50000}
MODES=${MODES:-"insert update"}
REDIS=${REDIS:-/opt/redis-7.4/redis-server}
CLI=${CLI:-/usr/bin/redis-cli}
[ -x "$REDIS" ] || { echo "missing $REDIS: run ../shared/tools/install-references.sh" >&2; exit 1; }
cargo build --release --quiet --bin pyrope-server --bin pyrope-benchmark
PYROPE=target/release/pyrope-server
BENCH=target/release/pyrope-benchmark
. bench/lib.sh
python3 - "$KEYS" > "$TMP/fill.resp" <<'PY'
import sys
o = sys.stdout.buffer
for i in range(int(sys.argv[1])):
    k = b"key:%012d" % i; v = b"value:%010d" % i
    o.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
PY
persist() { "$CLI" -p "$1" info persistence | awk -F: -v f="$2" '$1 == f {print $2+0}'; }
printf '%-8s %14s %14s %7s\n' mode redis_cow pyrope_cow ratio
for mode in $MODES; do
  declare -A COW
  for name in redis pyrope; do
    bin=$REDIS; [ "$name" = pyrope ] && bin=$PYROPE
    port=$(free_port); mkdir -p "$TMP/$name.$mode"
    timeout 1800 "$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --dir "$TMP/$name.$mode" >"$TMP/$name.$mode.log" 2>&1 &
    echo $! >> "$TMP/pids"
    for _ in $(seq 100); do "$CLI" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    "$CLI" -p "$port" --pipe < "$TMP/fill.resp" >/dev/null
    "$CLI" -p "$port" config set rdb-key-save-delay 1 >/dev/null
    "$CLI" -p "$port" bgsave >/dev/null
    sleep 0.3
    r=100000000; [ "$mode" = update ] && r=$KEYS
    "$BENCH" -p "$port" -c 20 -n "$WRITES" -r "$r" -t set -q >/dev/null 2>&1
    "$CLI" -p "$port" config set rdb-key-save-delay 0 >/dev/null
    while [ "$(persist "$port" rdb_bgsave_in_progress)" = 1 ]; do sleep 0.5; done
    COW[$name]=$(persist "$port" rdb_last_cow_size)
    "$CLI" -p "$port" shutdown nosave >/dev/null 2>&1 || true
  done
  awk -v m="$mode" -v r="${COW[redis]}" -v p="${COW[pyrope]}" \
    'BEGIN { printf "%-8s %14s %14s %7.2f\n", m, r, p, (r > 0 ? p / r : 0) }'
done
