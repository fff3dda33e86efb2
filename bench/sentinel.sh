#!/usr/bin/env bash
# pyrope-sentinel against Redis 7.4.1's sentinel, side by side on the same machine:
#  1. Failover time: a group of three sentinels of one kind, one primary and two replicas
#     (reference Redis 7.4.1), down-after-milliseconds $DOWN_AFTER. The primary is killed with
#     SIGKILL; we time (a) until the first +switch-master published by any sentinel and (b) until
#     the first successful SET through a Sentinel-aware client loop (SENTINEL
#     GET-MASTER-ADDR-BY-NAME on the first sentinel, then SET on that address, every 10 ms).
#     Kinds alternate each round, ROUNDS rounds.
#  2. Idle cost: one sentinel monitoring $MASTERS masters (names m0..m99 on one Redis node, two
#     links each), CPU (utime+stime from /proc) over $IDLE_S s after a 10 s warm-up, and RSS.
# Prints each measure and the pyrope/redis ratio (target <= 1.0).
#
# Usage: bench/sentinel.sh     ROUNDS=5 DOWN_AFTER=1000 MASTERS=100 IDLE_S=30 bench/sentinel.sh
# cargo runs under the shared build lock (CARGO_LOCK, default /tmp/pyrope-cargo.lock).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DOWN_AFTER=${DOWN_AFTER:-1000}
MASTERS=${MASTERS:-100}
IDLE_S=${IDLE_S:-30}
REDIS=${REDIS:-/opt/redis-7.4/redis-server}
CLI=${CLI:-/usr/bin/redis-cli}
CARGO_LOCK=${CARGO_LOCK-/tmp/pyrope-cargo.lock}
[ -x "$REDIS" ] || { echo "missing $REDIS: run ../shared/tools/install-references.sh" >&2; exit 1; }
if [ -n "$CARGO_LOCK" ]; then flock "$CARGO_LOCK" cargo build --release -q -p pyrope-sentinel
else cargo build --release -q -p pyrope-sentinel; fi
PS=$PWD/target/release/pyrope-sentinel
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# The program timeout(1) runs (its only child).
child_of() { cat "/proc/$1/task/$1/children" 2>/dev/null | awk '{print $1}'; }

start_node() { # port [replicaof-port]
  local args=(--port "$1" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK")
  [ -n "${2:-}" ] && args+=(--replicaof 127.0.0.1 "$2")
  timeout 900 "$REDIS" "${args[@]}" >"$WORK/node-$1.log" 2>&1 &
  PIDS+=($!)
  until "$CLI" -p "$1" ping >/dev/null 2>&1; do sleep 0.05; done
}

start_sentinel() { # kind port conf-body
  local conf="$WORK/sentinel-$2.conf"
  printf 'port %s\nbind 127.0.0.1\n%s' "$2" "$3" >"$conf"
  if [ "$1" = pyrope ]; then timeout 900 "$PS" "$conf" >"$WORK/s-$2.log" 2>&1 &
  else timeout 900 "$REDIS" "$conf" --sentinel >"$WORK/s-$2.log" 2>&1 & fi
  PIDS+=($!)
  until "$CLI" -p "$2" ping >/dev/null 2>&1; do sleep 0.05; done
}

field() { # sentinel-port field
  "$CLI" -p "$1" sentinel master mymaster | awk -v f="$2" 'prev==f {print; exit} {prev=$0}'
}

failover_round() { # kind -> prints "switch_ms write_ms"
  local kind=$1 p r1 r2 s i
  p=$(free_port); r1=$(free_port); r2=$(free_port)
  start_node "$p"; local ppid=${PIDS[-1]}
  start_node "$r1" "$p"; start_node "$r2" "$p"
  local body="sentinel monitor mymaster 127.0.0.1 $p 2
sentinel down-after-milliseconds mymaster $DOWN_AFTER
sentinel failover-timeout mymaster 20000
"
  local sports=()
  for i in 1 2 3; do s=$(free_port); sports+=("$s"); start_sentinel "$kind" "$s" "$body"; done
  for s in "${sports[@]}"; do
    until [ "$(field "$s" num-other-sentinels)" = 2 ] && [ "$(field "$s" num-slaves)" = 2 ]; do sleep 0.1; done
  done
  sleep 2
  local evs="$WORK/events-$kind-$p"
  for s in "${sports[@]}"; do
    (timeout 120 stdbuf -oL "$CLI" -p "$s" subscribe +switch-master 2>/dev/null | while read -r l; do echo "$(now_ms) $l"; done >>"$evs") &
    PIDS+=($!)
  done
  sleep 0.5
  local t0; t0=$(now_ms)
  kill -9 "$(child_of "$ppid")"
  local tw=""
  while :; do
    local a; a=$("$CLI" -p "${sports[0]}" sentinel get-master-addr-by-name mymaster | tail -1)
    if [ "$a" != "$p" ] && [ "$("$CLI" -p "$a" set k v 2>/dev/null)" = OK ]; then tw=$(now_ms); break; fi
    [ $(( $(now_ms) - t0 )) -gt 120000 ] && { echo "no failover" >&2; return 1; }
    sleep 0.01
  done
  until grep -q "^[0-9]* 127.0.0.1" "$evs" 2>/dev/null || grep -q "mymaster" "$evs" 2>/dev/null; do sleep 0.05; done
  local ts; ts=$(grep mymaster "$evs" | sort -n | head -1 | awk '{print $1}')
  echo "$((ts - t0)) $((tw - t0))"
  for q in "${PIDS[@]}"; do kill "$q" 2>/dev/null || true; done
  PIDS=()
  sleep 1
}

idle_cost() { # kind -> prints "cpu_percent rss_kb"
  local kind=$1 n s body="" i
  n=$(free_port); start_node "$n"
  for ((i = 0; i < MASTERS; i++)); do body+="sentinel monitor m$i 127.0.0.1 $n 1"$'\n'; done
  s=$(free_port); start_sentinel "$kind" "$s" "$body"
  local pid; pid=$(child_of "${PIDS[-1]}")
  sleep 10
  local hz; hz=$(getconf CLK_TCK)
  local c1 c2
  c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  sleep "$IDLE_S"
  c2=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  local rss; rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  awk -v d=$((c2 - c1)) -v hz="$hz" -v t="$IDLE_S" -v r="$rss" 'BEGIN {printf "%.2f %d\n", 100 * d / hz / t, r}'
  for q in "${PIDS[@]}"; do kill "$q" 2>/dev/null || true; done
  PIDS=()
  sleep 1
}

declare -A SW WR
for kind in pyrope redis; do SW[$kind]=""; WR[$kind]=""; done
echo "# failover: down-after-milliseconds $DOWN_AFTER, $ROUNDS rounds per kind (ms from SIGKILL)"
for ((r = 0; r < ROUNDS; r++)); do
  order="pyrope redis"; [ $((r % 2)) = 1 ] && order="redis pyrope"
  for kind in $order; do
    read -r sw wr < <(failover_round "$kind")
    echo "round $r $kind: +switch-master ${sw} ms, first write ${wr} ms"
    SW[$kind]+="$sw "; WR[$kind]+="$wr "
  done
done
med() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for m in SW WR; do
  declare -n A=$m
  pm=$(echo "${A[pyrope]}" | med); rm_=$(echo "${A[redis]}" | med)
  label=$([ $m = SW ] && echo "+switch-master" || echo "first write")
  awk -v l="$label" -v p="$pm" -v r="$rm_" 'BEGIN {printf "median %-15s pyrope %6d ms  redis %6d ms  ratio %.2f\n", l, p, r, p / r}'
done
echo "# idle: $MASTERS masters, ${IDLE_S} s"
read -r pc pr < <(idle_cost pyrope)
read -r rc rr < <(idle_cost redis)
awk -v pc="$pc" -v rc="$rc" -v pr="$pr" -v rr="$rr" 'BEGIN {
  printf "CPU  pyrope %5.2f%%  redis %5.2f%%  ratio %.2f\n", pc, rc, (rc > 0 ? pc / rc : 0)
  printf "RSS  pyrope %6d kB  redis %6d kB  ratio %.2f\n", pr, rr, pr / rr }'
