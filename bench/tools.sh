#!/usr/bin/env bash
# Load generators side by side: Debian's redis-benchmark and pyrope-benchmark (release build)
# against the same reference Redis 7.4.1, same -c/-n/-P, alternating. Prints each tool's
# measured throughput, the ratio, and each tool's own CPU time per request (user+sys of the
# load-generator process / requests).
#
# Usage: bench/tools.sh            (defaults: -c 50 -n 1000000, tests set,get, -P 1 and 16)
#        N=200000 bench/tools.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
C=${C:-50}
TESTS=${TESTS:-set,get}
PIPELINES=${PIPELINES:-"1 16"}
REDIS=${REDIS:-/opt/redis-7.4/redis-server}
RB=${RB:-/usr/bin/redis-benchmark}
[ -x "$REDIS" ] || { echo "missing $REDIS: run ../shared/tools/install-references.sh" >&2; exit 1; }
[ -x "$RB" ] || { echo "missing $RB: apt-get install redis-tools" >&2; exit 1; }
cargo build --release --quiet --bin pyrope-benchmark
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
echo "reference redis 7.4.1 on port $port | -c $C -n $N"
printf '%-6s %3s %16s %16s %7s %18s %18s %7s\n' test P redis-bench_rps pyrope-bench_rps ratio redis-bench_us/req pyrope-bench_us/req ratio

measure() { # tool test P -> "rps cpu_us_per_req"
  local out
  out=$( { /usr/bin/time -f "TIME %U %S" "${GEN_PIN[@]}" "$1" -p "$port" -c "$C" -n "$N" -P "$3" -t "$2" --csv > "$TMP/out.csv"; } 2>&1 | grep '^TIME' )
  local rps; rps=$(awk -F'","' 'NR>1 {gsub(/"/,"",$2); print $2; exit}' "$TMP/out.csv")
  echo "$out" | awk -v r="$rps" -v n="$N" '{ printf "%s %.3f\n", r, ($2+$3)*1e6/n }'
}
i=0
for P in $PIPELINES; do
  for t in ${TESTS//,/ }; do
    if (( i % 2 == 0 )); then
      read -r a_rps a_cpu < <(measure "$RB" "$t" "$P"); read -r b_rps b_cpu < <(measure "$PB" "$t" "$P")
    else
      read -r b_rps b_cpu < <(measure "$PB" "$t" "$P"); read -r a_rps a_cpu < <(measure "$RB" "$t" "$P")
    fi
    i=$((i+1))
    awk -v t="$t" -v P="$P" -v ar="$a_rps" -v br="$b_rps" -v ac="$a_cpu" -v bc="$b_cpu" 'BEGIN {
      printf "%-6s %3s %16.0f %16.0f %7.3f %18.3f %18.3f %7.2f\n", t, P, ar, br, (ar>0?br/ar:0), ac, bc, (ac>0?bc/ac:0) }'
  done
done
