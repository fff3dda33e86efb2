#!/usr/bin/env bash
# Load generators side by side: Debian's redis-benchmark and pyrope-benchmark (release build)
# against the same reference Redis 7.4.1, same -c/-n/-P, alternating which tool goes first.
# For each run it prints the throughput each tool reports, the ratio, each tool's own CPU time
# per request (user+sys of the load-generator process / requests, and the sys share), and the
# server's CPU per request during that run (utime+stime of redis-server from /proc), which
# shows who is the bottleneck on a small machine, and each tool's accuracy: its reported rate
# over the rate the server itself saw (commands processed during the run / wall time).
#
# Usage: bench/tools.sh            (defaults: -c 50 -n 1000000, tests set,get, -P 1 and 16)
#        N=200000 ROUNDS=3 bench/tools.sh
#        RB_ARGS="--threads 2" bench/tools.sh     (extra redis-benchmark options)
#        PB_ARGS="--threads 2" bench/tools.sh     (extra pyrope-benchmark options)
#        PIN=1 bench/tools.sh      (server on core 0, generators on core 1)
# cargo runs under the shared build lock (CARGO_LOCK, default /tmp/pyrope-cargo.lock). To keep
# other builds off the machine while measuring, hold the lock for the whole run instead:
#        CARGO_LOCK= flock /tmp/pyrope-cargo.lock bench/tools.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
C=${C:-50}
TESTS=${TESTS:-set,get}
PIPELINES=${PIPELINES:-"1 16"}
ROUNDS=${ROUNDS:-1}
REDIS=${REDIS:-/opt/redis-7.4/redis-server}
RB=${RB:-/usr/bin/redis-benchmark}
RB_ARGS=${RB_ARGS:-}
PB_ARGS=${PB_ARGS:-}
CARGO_LOCK=${CARGO_LOCK-/tmp/pyrope-cargo.lock}
[ -x "$REDIS" ] || { echo "missing $REDIS: run ../shared/tools/install-references.sh" >&2; exit 1; }
[ -x "$RB" ] || { echo "missing $RB: apt-get install redis-tools" >&2; exit 1; }
if [ -n "$CARGO_LOCK" ]; then
  flock "$CARGO_LOCK" cargo build --release --quiet --bin pyrope-benchmark
else
  cargo build --release --quiet --bin pyrope-benchmark
fi
PB=target/release/pyrope-benchmark
TMP=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# PIN=1 gives the server core 0 and the load generators core 1, so neither steals the other's
# CPU (on 2 cores, an unpinned run lets the cheaper generator leave more CPU to the server).
SRV_PIN=(); GEN_PIN=()
if [ "${PIN:-0}" = 1 ]; then SRV_PIN=(taskset -c 0); GEN_PIN=(taskset -c 1); fi
timeout 3600 "${SRV_PIN[@]}" "$REDIS" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" >"$TMP/redis.log" 2>&1 &
SPID=$!
trap 'kill $SPID 2>/dev/null || true; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
RPID=$(redis-cli -p "$port" info server | tr -d '\r' | awk -F: '/^process_id:/ {print $2}')
TICK=$(getconf CLK_TCK)
echo "reference redis 7.4.1 on port $port | -c $C -n $N | redis-benchmark $RB_ARGS | pyrope-benchmark $PB_ARGS | pin ${PIN:-0}"
printf '%-10s %3s %12s %12s %6s | %14s %14s %6s | %10s %10s | %10s %10s | %9s %9s\n' \
  test P rb_rps pb_rps ratio rb_cpu_us/req pb_cpu_us/req ratio rb_sys% pb_sys% srv_us/rb srv_us/pb rb/server pb/server

server_ticks() { awk '{ print $14 + $15 }' "/proc/$RPID/stat"; }
server_cmds() { redis-cli -p "$port" info stats | tr -d '\r' | awk -F: '/^total_commands_processed:/ {print $2}'; }

measure() { # tool extra-args test P -> "rps cpu_us_per_req sys_percent server_us_per_req accuracy"
  local out s0 s1 c0 c1 extra
  read -r -a extra <<< "$2"
  c0=$(server_cmds)
  s0=$(server_ticks)
  out=$( { /usr/bin/time -f "TIME %U %S %e" "${GEN_PIN[@]}" "$1" -p "$port" -c "$C" -n "$N" -P "$4" -t "$3" "${extra[@]}" --csv > "$TMP/out.csv"; } 2>&1 | grep '^TIME' )
  s1=$(server_ticks)
  c1=$(server_cmds)
  # The last row is the test asked for (lrange_* runs the LPUSH that fills the list first);
  # CPU per request is over every request of the run.
  local rps; rps=$(awk -F'","' 'NR>1 {gsub(/"/,"",$2); r=$2} END {print r}' "$TMP/out.csv")
  local rows; rows=$(awk 'NR>1' "$TMP/out.csv" | wc -l)
  # The server's own rate: commands it processed during the run (one INFO of ours included)
  # over the tool's wall time, start-up and connection set-up included (ms against seconds).
  echo "$out" | awk -v r="$rps" -v n="$((N * rows))" -v s="$((s1 - s0))" -v t="$TICK" -v cmds="$((c1 - c0 - 1))" \
    '{ c = $2 + $3; printf "%s %.3f %.0f %.3f %.3f\n", r, c*1e6/n, (c > 0 ? 100*$3/c : 0), s/t*1e6/n, ($4 > 0 && cmds > 0 ? r / (cmds/$4) : 0) }'
}
i=0
for _ in $(seq "$ROUNDS"); do
  for P in $PIPELINES; do
    for t in ${TESTS//,/ }; do
      if (( i % 2 == 0 )); then
        read -r a_rps a_cpu a_sys a_srv a_acc < <(measure "$RB" "$RB_ARGS" "$t" "$P")
        read -r b_rps b_cpu b_sys b_srv b_acc < <(measure "$PB" "$PB_ARGS" "$t" "$P")
      else
        read -r b_rps b_cpu b_sys b_srv b_acc < <(measure "$PB" "$PB_ARGS" "$t" "$P")
        read -r a_rps a_cpu a_sys a_srv a_acc < <(measure "$RB" "$RB_ARGS" "$t" "$P")
      fi
      i=$((i+1))
      awk -v t="$t" -v P="$P" -v ar="$a_rps" -v br="$b_rps" -v ac="$a_cpu" -v bc="$b_cpu" \
          -v as="$a_sys" -v bs="$b_sys" -v av="$a_srv" -v bv="$b_srv" -v aa="$a_acc" -v ba="$b_acc" 'BEGIN {
        printf "%-10s %3s %12.0f %12.0f %6.3f | %14.3f %14.3f %6.2f | %10s %10s | %10.3f %10.3f | %9.3f %9.3f\n",
          t, P, ar, br, (ar>0?br/ar:0), ac, bc, (ac>0?bc/ac:0), as, bs, av, bv, aa, ba }'
    done
  done
done
