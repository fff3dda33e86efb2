#!/usr/bin/env bash
# Side-by-side benchmark of the bitmap and HyperLogLog commands: Redis 7.4.1 and pyrope-server
# (release), same settings, target/release/pyrope-benchmark as the load generator, alternating
# between the two servers test by test. Prints ops/s per test, the pyrope/redis ratio and the
# server CPU time per request (utime+stime of the server process / requests); medians of
# ROUNDS rounds.
#
# Tests (issue 18's numbers):
#   pfadd10   PFADD hll <10 random elements>          (-r 100000000: the HLL goes dense)
#   setbit    SETBIT bitmap 419430400 1               on a 100 MB bitmap (the lookup and
#                                                     in-place write path; no copy, no scan)
#   getbit    GETBIT bitmap 419430400                 on the same bitmap
#   bitcount  BITCOUNT bitmap                         popcount of the whole 100 MB
#   bitcount_range BITCOUNT bitmap 1000 2000000 BIT   a bit range inside it
#   bitpos    BITPOS bitmap 1 10000                   scan ~100 MB of zeros to the last set bit
# (__rand_int__ renders 12-digit zero-padded numbers, which are not valid bit offsets, so the
# bitmap tests use fixed offsets.)
#
# Usage: bench/bits.sh                 (N=200000 for the cheap tests, NBIG=300 for BITCOUNT)
#        ROUNDS=1 N=50000 bench/bits.sh
#        ONLY='pfadd10|bitcount' bench/bits.sh   (a regex over the test names)
# Servers listen on 127.0.0.1 only, on free ports, and are stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200000}
NBIG=${NBIG:-300}
C=${C:-50}
ROUNDS=${ROUNDS:-3}
REDIS=${REDIS:-/opt/redis-7.4/redis-server}
CLI=${CLI:-/usr/bin/redis-cli}
[ -x "$REDIS" ] || { echo "missing $REDIS: run ../shared/tools/install-references.sh" >&2; exit 1; }
cargo build --release --quiet --bin pyrope-server --bin pyrope-benchmark
PYROPE=target/release/pyrope-server
BENCH=target/release/pyrope-benchmark

. bench/lib.sh

start() { # name binary -> prints "pid port"
  local port; port=$(free_port)
  timeout 3600 "$2" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$TMP" >"$TMP/$1.log" 2>&1 &
  local pid=$!
  echo "$pid" >> "$TMP/pids"
  for _ in $(seq 100); do "$CLI" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  local spid; spid=$(pgrep -P "$pid" | head -1)
  echo "$spid" >> "$TMP/pids"
  echo "$spid $port"
}
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

read -r RPID RPORT < <(start redis "$REDIS")
read -r PPID_ PPORT < <(start pyrope "$PYROPE")
for port in "$RPORT" "$PPORT"; do
  # A 100 MB bitmap (838860800 bits), every 7th byte 0x55 so BITCOUNT has work to show.
  "$CLI" -p "$port" setbit bitmap 838860799 1 >/dev/null
  "$CLI" -p "$port" setbit bitmap 5000 1 >/dev/null
  for off in $(seq 0 8 8000); do "$CLI" -p "$port" setbit bitmap $((off * 7 + 1)) 1 >/dev/null; done
done
echo "redis 7.4.1 pid=$RPID port=$RPORT | pyrope pid=$PPID_ port=$PPORT | -c $C | medians of $ROUNDS rounds"
echo "bitmap STRLEN: redis $("$CLI" -p "$RPORT" strlen bitmap) pyrope $("$CLI" -p "$PPORT" strlen bitmap); BITCOUNT redis $("$CLI" -p "$RPORT" bitcount bitmap) pyrope $("$CLI" -p "$PPORT" bitcount bitmap)"
printf '%-15s %8s %12s %12s %6s %12s %12s %6s\n' test n redis_ops/s pyrope_ops/s ratio redis_us/req pyrope_us/req ratio

run_one() { # pid port n args... -> "rps cpu_us_per_req"
  local pid=$1 port=$2 n=$3; shift 3
  local before after rps
  before=$(cpu_ticks "$pid")
  rps=$("$BENCH" -p "$port" -c "$C" -n "$n" -r 100000000 -q --csv "$@" 2>/dev/null | awk -F'","' 'NR>1 {gsub(/"/,"",$2); print $2; exit}')
  after=$(cpu_ticks "$pid")
  echo "$before $after" | awk -v hz="$HZ" -v n="$n" -v r="$rps" '{ printf "%s %.3f\n", r, (($3-$1)+($4-$2))/hz*1e6/n }'
}
median() { awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

R10=$(printf ' __rand_int__%.0s' $(seq 10))
i=0
while IFS='|' read -r name n cmd; do
  [[ "$name" =~ ^(${ONLY:-.*})$ ]] || continue
  : > "$TMP/r.txt"; : > "$TMP/p.txt"
  for _ in $(seq "$ROUNDS"); do
    if (( i % 2 == 0 )); then
      run_one "$RPID" "$RPORT" "$n" $cmd >> "$TMP/r.txt"; run_one "$PPID_" "$PPORT" "$n" $cmd >> "$TMP/p.txt"
    else
      run_one "$PPID_" "$PPORT" "$n" $cmd >> "$TMP/p.txt"; run_one "$RPID" "$RPORT" "$n" $cmd >> "$TMP/r.txt"
    fi
    i=$((i+1))
  done
  awk -v t="$name" -v n="$n" -v rr="$(median "$TMP/r.txt" 1)" -v pr="$(median "$TMP/p.txt" 1)" \
      -v rc="$(median "$TMP/r.txt" 2)" -v pc="$(median "$TMP/p.txt" 2)" 'BEGIN {
    printf "%-15s %8s %12.0f %12.0f %6.2f %12.3f %12.3f %6.2f\n", t, n, rr, pr, (rr>0?pr/rr:0), rc, pc, (rc>0?pc/rc:0) }'
done <<TESTS
pfadd10|$N|PFADD hll$R10
setbit|$N|SETBIT bitmap 419430400 1
getbit|$N|GETBIT bitmap 419430400
bitcount|$NBIG|BITCOUNT bitmap
bitcount_range|$N|BITCOUNT bitmap 1000 2000000 BIT
bitpos|$NBIG|BITPOS bitmap 1 10000
TESTS
for s in "redis $RPORT" "pyrope $PPORT"; do
  set -- $s
  echo "$1: PFCOUNT hll=$("$CLI" -p "$2" pfcount hll) encoding=$("$CLI" -p "$2" pfdebug encoding hll)"
done
