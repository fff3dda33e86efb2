#!/usr/bin/env bash
# Where the server's CPU goes at -P 1: for each test, Redis 7.4.1 and pyrope-server (release)
# one after the other, the same pyrope-benchmark load (-c C -P 1), and `perf stat` on the
# server process counting, per request: user and system CPU (us), context switches,
# epoll_wait calls, reads and writes (read/recvfrom, write/sendto). At -P 1 each request costs
# one read and one write on both servers, and most of the CPU is the kernel's; what differs is
# how often the server sleeps in epoll_wait and is woken again (a server that finishes each
# batch sooner sleeps more often, and each sleep/wake-up costs microseconds in a VM).
#
# Usage: bench/wakeups.sh                      (TESTS=get,set N=300000 ROUNDS=3 C=50)
#        TESTS=get N=100000 ROUNDS=1 bench/wakeups.sh
# Needs perf (linux-perf) and root or perf_event_paranoid <= 1. Servers listen on 127.0.0.1
# only, on free ports, and are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
TESTS=${TESTS:-get,set}
N=${N:-300000}
C=${C:-50}
ROUNDS=${ROUNDS:-3}
REDIS=${REDIS:-/opt/redis-7.4/redis-server}
CLI=${CLI:-/usr/bin/redis-cli}
[ -x "$REDIS" ] || { echo "missing $REDIS: run ../shared/tools/install-references.sh" >&2; exit 1; }
command -v perf >/dev/null || { echo "missing perf: apt-get install linux-perf" >&2; exit 1; }
cargo build --release --quiet --bin pyrope-server --bin pyrope-benchmark
PYROPE=target/release/pyrope-server
BENCH=target/release/pyrope-benchmark

. bench/lib.sh

EVENTS=task-clock,context-switches,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_write,syscalls:sys_enter_sendto

# run NAME BIN TEST -> one line: ops/s user_us sys_us cs epoll reads writes (per request)
run() {
  local port; port=$(free_port)
  timeout 600 "$2" --port "$port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
  echo "$!" >> "$TMP/pids"
  for _ in $(seq 100); do "$CLI" -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
  local pid; pid=$(pgrep -P "$!" | head -1) # the server itself, under timeout
  echo "$pid" >> "$TMP/pids"
  "$BENCH" -p "$port" -n 20000 -c "$C" -t "$3" -q >/dev/null 2>&1 # warm-up
  local t0; t0=$(awk '{print $14, $15}' "/proc/$pid/stat")
  perf stat -x, -e "$EVENTS" -p "$pid" -o "$TMP/perf" &
  local ppid=$!
  sleep 0.2
  local out; out=$("$BENCH" -p "$port" -n "$N" -c "$C" -P 1 -t "$3" -q 2>/dev/null | grep 'requests per second' | tail -1)
  kill -INT "$ppid"; wait "$ppid" 2>/dev/null || true
  local t1; t1=$(awk '{print $14, $15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local rps; rps=$(echo "$out" | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p')
  local tck; tck=$(getconf CLK_TCK)
  python3 - "$N" "$rps" "$tck" "$t0" "$t1" "$TMP/perf" <<'PY'
import sys
n, rps, tck = int(sys.argv[1]), float(sys.argv[2] or 0), int(sys.argv[3])
u0, s0 = map(int, sys.argv[4].split()); u1, s1 = map(int, sys.argv[5].split())
c = {}
for line in open(sys.argv[6]):
    f = line.strip().split(",")
    if len(f) > 2 and f[0].replace(".", "").isdigit():
        c[f[2]] = float(f[0])
g = lambda k: c.get(k, 0) / n
print(f"{rps:.0f} {(u1-u0)/tck*1e6/n:.2f} {(s1-s0)/tck*1e6/n:.2f} {g('context-switches'):.3f} "
      f"{g('syscalls:sys_enter_epoll_wait'):.3f} "
      f"{g('syscalls:sys_enter_read')+g('syscalls:sys_enter_recvfrom'):.3f} "
      f"{g('syscalls:sys_enter_write')+g('syscalls:sys_enter_sendto'):.3f}")
PY
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-6s %-7s %10s %8s %8s %8s %8s %8s %8s\n' test server ops/s user_us sys_us cs/req epoll/req rd/req wr/req
for t in ${TESTS//,/ }; do
  for r in $(seq "$ROUNDS"); do
    run redis "$REDIS" "$t" >> "$TMP/$t.redis"
    run pyrope "$PYROPE" "$t" >> "$TMP/$t.pyrope"
  done
  for s in redis pyrope; do
    cols=()
    for k in 1 2 3 4 5 6 7; do cols+=("$(awk -v k=$k '{print $k}' "$TMP/$t.$s" | median)"); done
    printf '%-6s %-7s %10s %8s %8s %8s %8s %8s %8s\n' "$t" "$s" "${cols[@]}"
  done
done
