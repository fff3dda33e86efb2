#!/usr/bin/env bash
# Persistence side by side: the reference Redis 7.4.1 and pyrope-server (release build) with the
# same mixed dataset (KEYS keys: 80% strings from DEBUG POPULATE, 20% small lists, sets, sorted
# sets and hashes of 8 elements), one server after the other:
#   - SAVE duration (wall time of the SAVE command), RDB file size,
#   - load duration at start-up (the "DB loaded from disk: X seconds" log line of each),
#   - BGSAVE peak extra memory: rdb_last_cow_size while SETs of random keys arrive at a fixed
#     rate (COW_RPS, default 100000/s, open loop),
#   - with appendfsync everysec: how many acknowledged writes a SIGKILL loses (the loss window),
# then the AOF write throughput (SET, -P 1 and -P 16) under appendfsync everysec and always
# through bench/compare.sh with pyrope-benchmark as the load generator.
#
# Usage: bench/persistence.sh                  (KEYS=5000000)
#        KEYS=500000 N=200000 ROUNDS=1 bench/persistence.sh   (quicker)
#        SKIP_AOF=1 bench/persistence.sh        (no AOF throughput rows)
# Servers listen on 127.0.0.1 only, on free ports, in a temp dir, and are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${KEYS:-5000000}
REDIS=${REDIS:-/opt/redis-7.4/redis-server}
CLI=${CLI:-/usr/bin/redis-cli}
[ -x "$REDIS" ] || { echo "missing $REDIS: run ../shared/tools/install-references.sh" >&2; exit 1; }
cargo build --release --quiet --bin pyrope-server --bin pyrope-benchmark
PYROPE=target/release/pyrope-server
BENCH=target/release/pyrope-benchmark

. bench/lib.sh

# The collection part of the dataset, as RESP, generated once.
COLL=$((KEYS / 5))
python3 - "$COLL" > "$TMP/coll.resp" <<'PY'
import sys
n = int(sys.argv[1]); out = sys.stdout.buffer
def cmd(*a):
    out.write(b"*%d\r\n" % len(a))
    for x in a:
        x = x if isinstance(x, bytes) else str(x).encode()
        out.write(b"$%d\r\n%s\r\n" % (len(x), x))
for i in range(n):
    k = i % 4
    if k == 0: cmd("RPUSH", f"list:{i}", *[f"item-{j}" for j in range(8)])
    elif k == 1: cmd("SADD", f"set:{i}", *[str(i * 8 + j) for j in range(8)])
    elif k == 2: cmd("ZADD", f"zset:{i}", *[x for j in range(8) for x in (str(j * 1.5), f"m{j}")])
    else: cmd("HSET", f"hash:{i}", *[x for j in range(8) for x in (f"field{j}", f"value-{i}-{j}")])
PY

start() { # name binary dir [directives...] -> prints "pid port" (pid of the server itself)
  local port; port=$(free_port)
  timeout 3600 "$2" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --enable-debug-command yes \
    --dir "$3" "${@:4}" >>"$TMP/$1.log" 2>&1 &
  local pid=$!
  echo "$pid" >> "$TMP/pids"
  for _ in $(seq 3000); do "$CLI" -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  local spid; spid=$(pgrep -P "$pid" | head -1)
  echo "$spid" >> "$TMP/pids"
  echo "$spid $port"
}
stop() { "$CLI" -p "$1" shutdown nosave >/dev/null 2>&1 || true; sleep 0.5; }
now_ns() { date +%s%N; }

declare -A RES
for name in redis pyrope; do
  bin=$REDIS; [ "$name" = pyrope ] && bin=$PYROPE
  d="$TMP/$name.d"; mkdir -p "$d"
  read -r pid port < <(start "$name" "$bin" "$d")
  "$CLI" -p "$port" debug populate $((KEYS - COLL)) key 16 >/dev/null
  "$CLI" -p "$port" --pipe < "$TMP/coll.resp" >/dev/null
  t0=$(now_ns); "$CLI" -p "$port" save >/dev/null; t1=$(now_ns)
  RES[$name.save]=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')
  RES[$name.size]=$(stat -c %s "$d/dump.rdb")
  RES[$name.keys]=$("$CLI" -p "$port" dbsize)
  # BGSAVE under a write load: COW of the child.
  # Open loop at a fixed rate, so both servers take the same writes while their child runs
  # (a closed loop would hand the faster server more writes, hence more copied pages).
  "$BENCH" -p "$port" -c 20 --rps "${COW_RPS:-100000}" --test-time 600 -r "$KEYS" -t set -q >/dev/null 2>&1 &
  bpid=$!; echo "$bpid" >> "$TMP/pids"
  sleep 1
  # The writes the parent applied while its child lived: a server that keeps up with the
  # rate takes more of them than one that falls behind, so COW is also shown per write.
  cmds() { "$CLI" -p "$port" info stats | awk -F: '/^total_commands_processed:/ {print $2+0}'; }
  c0=$(cmds)
  "$CLI" -p "$port" bgsave >/dev/null
  for _ in $(seq 6000); do
    sleep 0.1
    [ "$("$CLI" -p "$port" info persistence | awk -F: '/^rdb_bgsave_in_progress:/ {print $2+0}')" = 0 ] && break
  done
  c1=$(cmds)
  kill "$bpid" 2>/dev/null || true; wait "$bpid" 2>/dev/null || true
  RES[$name.cow]=$("$CLI" -p "$port" info persistence | awk -F: '/^rdb_last_cow_size:/ {print $2+0}')
  RES[$name.cowwrites]=$((c1 - c0))
  RES[$name.bgtime]=$("$CLI" -p "$port" info persistence | awk -F: '/^rdb_last_bgsave_time_sec:/ {print $2+0}')
  stop "$port"
  # Restart on the dump written by the BGSAVE: the load time the server logs.
  read -r pid port < <(start "$name" "$bin" "$d")
  RES[$name.load]=$(grep -o 'DB loaded from disk: [0-9.]* seconds' "$TMP/$name.log" | tail -1 | awk '{print $5}')
  RES[$name.loaded]=$("$CLI" -p "$port" dbsize)
  stop "$port"
  rm -rf "$d"
  # The loss window of appendfsync everysec: acknowledged INCRs a SIGKILL loses.
  mkdir -p "$d"
  read -r pid port < <(start "$name" "$bin" "$d" --appendonly yes --appendfsync everysec)
  python3 - "$port" "$pid" > "$TMP/$name.loss" <<'PY'
import os, signal, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
acked = 0; t0 = time.time()
while time.time() - t0 < 3:
    s.sendall(b"*2\r\n$4\r\nINCR\r\n$1\r\nc\r\n")
    acked = int(f.readline()[1:])
os.kill(pid, signal.SIGKILL)
print(acked)
PY
  sleep 0.5
  read -r pid port < <(start "$name" "$bin" "$d" --appendonly yes)
  got=$("$CLI" -p "$port" get c)
  RES[$name.loss]="$(( $(cat "$TMP/$name.loss") - ${got:-0} )) of $(cat "$TMP/$name.loss")"
  stop "$port"
done

echo "dataset: ${RES[redis.keys]} keys (redis) / ${RES[pyrope.keys]} keys (pyrope); reloaded ${RES[redis.loaded]} / ${RES[pyrope.loaded]}"
printf '%-34s %14s %14s %7s\n' metric redis pyrope ratio
row() { awk -v m="$1" -v r="$2" -v p="$3" 'BEGIN { printf "%-34s %14s %14s %7.2f\n", m, r, p, (r>0 ? p/r : 0) }'; }
row "SAVE duration (s)" "${RES[redis.save]}" "${RES[pyrope.save]}"
row "load at start-up (s)" "${RES[redis.load]}" "${RES[pyrope.load]}"
row "RDB file size (bytes)" "${RES[redis.size]}" "${RES[pyrope.size]}"
row "BGSAVE COW under writes (bytes)" "${RES[redis.cow]}" "${RES[pyrope.cow]}"
row "  writes taken while the child ran" "${RES[redis.cowwrites]}" "${RES[pyrope.cowwrites]}"
row "  COW bytes per write" "$((RES[redis.cow] / (RES[redis.cowwrites] + 1)))" "$((RES[pyrope.cow] / (RES[pyrope.cowwrites] + 1)))"
row "  BGSAVE duration (s)" "${RES[redis.bgtime]}" "${RES[pyrope.bgtime]}"
echo "everysec loss window on SIGKILL (acknowledged INCRs lost): redis ${RES[redis.loss]}, pyrope ${RES[pyrope.loss]}"

if [ -z "${SKIP_AOF:-}" ]; then
  for policy in everysec always; do
    echo "== SET with appendonly yes, appendfsync $policy (pyrope-benchmark) =="
    N=${N:-1000000} ROUNDS=${ROUNDS:-3} TESTS=set POPULATE=1000 BENCH=$BENCH \
      EXTRA="--appendonly yes --appendfsync $policy" bench/compare.sh
  done
fi
