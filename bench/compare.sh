#!/usr/bin/env bash
# Side-by-side benchmark: the reference Redis 7.4.1 and pyrope-server (release build), same
# settings, same load generator (Debian's redis-benchmark), alternating between the two servers
# test by test. Prints ops/s per test and the pyrope/redis ratio, the server CPU time per
# request (on-CPU ns of all the server's threads / requests; the usr+sys split from utime and
# stime), and the used_memory after the same
# DEBUG POPULATE on both.
#
# Each pair of runs is repeated ROUNDS times (default 3) and the medians are printed.
#
# Usage: bench/compare.sh            (defaults: -c 50 -n 1000000, tests set,get,incr,mset, -P 1 and 16)
#        N=200000 ROUNDS=1 bench/compare.sh   (quicker)
#        TESTS= CUSTOM='zadd1m=ZADD bigz __rand_int__ m:__rand_int__' PRELOAD=file.resp R=1000000 \
#          bench/compare.sh            (custom commands, `;`-separated name=command entries, with
#                                       __rand_int__ drawn from -r R; PRELOAD is RESP piped into
#                                       both servers first; bench/collections.sh uses these)
#        EXTRA='--appendonly yes --appendfsync always' bench/compare.sh
#                                      (extra directives for both servers; bench/persistence.sh
#                                       uses it for the AOF throughput rows)
#        SHOW_INFO='evicted_keys used_memory' bench/compare.sh
#                                      (INFO fields of both servers printed after the runs;
#                                       bench/eviction.sh uses it)
#        SUBSCRIBERS=50 CHANNEL=ch bench/compare.sh
#                                      (K pub/sub subscribers on CHANNEL per server, read by
#                                       bench/subscribers.py; no pubsub output limit; the
#                                       PUBLISH row is bench/pubsub.sh)
#        NOTIFY=KEA bench/compare.sh   (both servers with notify-keyspace-events KEA and one
#                                       subscriber on every event, reading them all; no pubsub
#                                       output limit, so a subscriber slower than the server
#                                       stays connected for the whole run)
# Servers listen on 127.0.0.1 only, on free ports, and are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
C=${C:-50}
TESTS=${TESTS-set,get,incr,mset}
PIPELINES=${PIPELINES:-"1 16"}
ROUNDS=${ROUNDS:-3}
NOTIFY=${NOTIFY:-}
SUBSCRIBERS=${SUBSCRIBERS:-0}
CHANNEL=${CHANNEL:-ch}
SHOW_INFO=${SHOW_INFO:-}
POPULATE=${POPULATE:-1000000}
CUSTOM=${CUSTOM:-}
PRELOAD=${PRELOAD:-}
R=${R:-1000000}
EXTRA=${EXTRA:-}
REDIS=${REDIS:-/opt/redis-7.4/redis-server}
BENCH=${BENCH:-/usr/bin/redis-benchmark}
CLI=${CLI:-/usr/bin/redis-cli}
[ -x "$REDIS" ] || { echo "missing $REDIS: run ../shared/tools/install-references.sh" >&2; exit 1; }
[ -x "$BENCH" ] || { echo "missing $BENCH: apt-get install redis-tools" >&2; exit 1; }
cargo build --release --quiet --bin pyrope-server
PYROPE=target/release/pyrope-server

. bench/lib.sh

start() { # name binary -> prints "pid port"
  local port; port=$(free_port)
  mkdir -p "$TMP/$1.d"
  timeout 3600 "$2" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --enable-debug-command yes \
    --dir "$TMP/$1.d" --notify-keyspace-events "$NOTIFY" $( [ -n "$NOTIFY" ] || [ "$SUBSCRIBERS" != 0 ] && echo --client-output-buffer-limit "pubsub 0 0 0") \
    $EXTRA >"$TMP/$1.log" 2>&1 &
  local pid=$!
  echo "$pid" >> "$TMP/pids"
  for _ in $(seq 100); do "$CLI" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  # timeout(1) is the parent: find the server process itself for CPU accounting.
  local spid; spid=$(pgrep -P "$pid" | head -1)
  echo "$spid" >> "$TMP/pids"
  echo "$spid $port"
}
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }  # utime stime
# On-CPU time of every thread of the process in ns (schedstat): the CPU/req column uses it,
# since 10 ms ticks over a short -P 16 run move the per-request figure in coarse steps; the
# usr+sys split still comes from the ticks.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s+=$1} END {printf "%.0f\n", s}'; }
HZ=$(getconf CLK_TCK)

read -r RPID RPORT < <(start redis "$REDIS")
read -r PPID_ PPORT < <(start pyrope "$PYROPE")
if [ -n "$NOTIFY" ]; then
  # One subscriber per server receiving every keyspace event (output discarded).
  for port in "$RPORT" "$PPORT"; do
    (timeout 3600 "$CLI" -p "$port" psubscribe '__key*__:*' 2>/dev/null | wc -l > "$TMP/sub.$port") &
    echo $! >> "$TMP/pids"
  done
  sleep 0.5
  echo "notify-keyspace-events $NOTIFY with one subscriber on each server"
fi
if [ "$SUBSCRIBERS" != 0 ]; then
  for port in "$RPORT" "$PPORT"; do
    (timeout 3600 python3 bench/subscribers.py "$port" "$SUBSCRIBERS" "$CHANNEL" > "$TMP/subs.$port") &
    echo $! >> "$TMP/pids"
  done
  for port in "$RPORT" "$PPORT"; do
    for _ in $(seq 100); do
      [ "$("$CLI" -p "$port" pubsub numsub "$CHANNEL" | tail -1)" = "$SUBSCRIBERS" ] && break; sleep 0.1
    done
  done
  echo "$SUBSCRIBERS subscribers on $CHANNEL on each server"
fi
echo "redis 7.4.1 pid=$RPID port=$RPORT | pyrope pid=$PPID_ port=$PPORT | -c $C -n $N | medians of $ROUNDS rounds"
printf '%-8s %3s %12s %12s %6s %12s %12s %6s %17s %17s\n' test P redis_ops/s pyrope_ops/s ratio redis_us/req pyrope_us/req ratio "redis usr+sys" "pyrope usr+sys"

run_one() { # pid port test P -> "rps cpu_us_per_req user_us_per_req sys_us_per_req"
  local before after rps sel
  if [ -n "${CMDS[$3]:-}" ]; then
    # Split on blanks, never glob: `XADD s * f v` keeps its `*`.
    # shellcheck disable=SC2206
    set -f; sel=(-r "$R" ${CMDS[$3]}); set +f
  elif [[ $3 == lrange_* ]]; then
    # A redis-benchmark lrange test first LPUSHes -n elements onto mylist and prints that
    # row first: fill the list outside the measurement, then measure the LRANGE alone (its
    # rate, and CPU per LRANGE).
    "$BENCH" -p "$2" -c "$C" -n "$N" -P "$4" -q -t lpush >/dev/null 2>&1
    sel=(LRANGE mylist 0 $(( ${3#lrange_} - 1 )))
  else
    sel=(-t "$3")
  fi
  before=$(cpu_ticks "$1"); ns0=$(cpu_ns "$1")
  rps=$("$BENCH" -p "$2" -c "$C" -n "$N" -P "$4" -q --csv "${sel[@]}" 2>/dev/null | awk -F'","' 'NR>1 {gsub(/"/,"",$2); print $2; exit}')
  after=$(cpu_ticks "$1"); ns1=$(cpu_ns "$1")
  echo "$before $after $ns0 $ns1" | awk -v hz="$HZ" -v n="$N" -v r="$rps" '{
    u=($3-$1)/hz*1e6/n; s=($4-$2)/hz*1e6/n; t=($6-$5)/1e3/n; printf "%s %.3f %.3f %.3f\n", r, t, u, s }'
}

# Median of a column over the rounds: median FILE COL.
median() { awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

declare -A CMDS=()
NAMES="${TESTS//,/ }"
IFS=';' read -r -a entries <<< "$CUSTOM"
for e in "${entries[@]}"; do
  [ -n "$e" ] || continue
  CMDS[${e%%=*}]=${e#*=}
  NAMES="$NAMES ${e%%=*}"
done
if [ -n "$PRELOAD" ]; then
  for port in "$RPORT" "$PPORT"; do
    "$CLI" -p "$port" --pipe < "$PRELOAD" > /dev/null
  done
fi

i=0
for P in $PIPELINES; do
  for t in $NAMES; do
    : > "$TMP/r.txt"; : > "$TMP/p.txt"
    for _ in $(seq "$ROUNDS"); do
      # Alternate which server goes first, to cancel drift on a shared machine.
      if (( i % 2 == 0 )); then
        run_one "$RPID" "$RPORT" "$t" "$P" >> "$TMP/r.txt"
        run_one "$PPID_" "$PPORT" "$t" "$P" >> "$TMP/p.txt"
      else
        run_one "$PPID_" "$PPORT" "$t" "$P" >> "$TMP/p.txt"
        run_one "$RPID" "$RPORT" "$t" "$P" >> "$TMP/r.txt"
      fi
      i=$((i+1))
    done
    awk -v t="$t" -v P="$P" -v rr="$(median "$TMP/r.txt" 1)" -v pr="$(median "$TMP/p.txt" 1)" \
        -v rc="$(median "$TMP/r.txt" 2)" -v pc="$(median "$TMP/p.txt" 2)" \
        -v ru="$(median "$TMP/r.txt" 3)" -v rs="$(median "$TMP/r.txt" 4)" \
        -v pu="$(median "$TMP/p.txt" 3)" -v ps="$(median "$TMP/p.txt" 4)" 'BEGIN {
      printf "%-8s %3s %12.0f %12.0f %6.2f %12.3f %12.3f %6.2f %8.3f+%-8.3f %8.3f+%-8.3f\n", t, P, rr, pr, (rr>0?pr/rr:0), rc, pc, (rc>0?pc/rc:0), ru, rs, pu, ps }'
  done
done

if [ -n "$NOTIFY" ]; then
  # The subscribers must have stayed connected (an output-limit disconnection would make the
  # rest of the run cheaper for that server).
  for s in "redis $RPORT" "pyrope $PPORT"; do
    set -- $s
    echo "$1: client_output_buffer_limit_disconnections=$("$CLI" -p "$2" info stats | awk -F: '/^client_output_buffer_limit_disconnections:/ {print $2+0}') pubsub_clients=$("$CLI" -p "$2" info clients | awk -F: '/^pubsub_clients:/ {print $2+0}')"
  done
fi

if [ -n "$SHOW_INFO" ]; then
  for s in "redis $RPORT" "pyrope $PPORT"; do
    set -- $s
    line="$1:"
    for f in $SHOW_INFO; do
      line="$line $f=$("$CLI" -p "$2" info everything | awk -F: -v f="$f" '$1 == f {sub(/\r$/, "", $2); print $2}')"
    done
    echo "$line"
  done
fi

# Memory: same keys on both (POPULATE=0 skips it).
[ "$POPULATE" = 0 ] && exit 0
for s in "redis $RPORT" "pyrope $PPORT"; do
  set -- $s
  "$CLI" -p "$2" flushall >/dev/null
  sleep 0.5
  base=$("$CLI" -p "$2" info memory | awk -F: '/^used_memory:/ {print $2+0}')
  "$CLI" -p "$2" debug populate "$POPULATE" key 16 >/dev/null
  sleep 1
  used=$("$CLI" -p "$2" info memory | awk -F: '/^used_memory:/ {print $2+0}')
  echo "$1 $base $used" >> "$TMP/mem"
done
awk -v n="$POPULATE" '{ b[$1]=$2; u[$1]=$3 } END {
  printf "memory after DEBUG POPULATE %d key 16: redis used_memory=%d (%.1f B/key)  pyrope used_memory=%d (%.1f B/key)  ratio %.3f\n",
    n, u["redis"], (u["redis"]-b["redis"])/n, u["pyrope"], (u["pyrope"]-b["pyrope"])/n, u["pyrope"]/u["redis"] }' "$TMP/mem"
