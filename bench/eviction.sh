#!/usr/bin/env bash
# Issue 21's eviction row: SET of random keys under `maxmemory` with allkeys-lru evicting
# continuously, against Redis 7.4.1 in the same run, pyrope-benchmark as the load generator,
# at -P 1 and -P 16 (bench/compare.sh prints ops/s, the pyrope/redis ratio and the server CPU
# per request). Both servers are first filled past the limit (PRELOAD), so every SET of a new
# key evicts from the first request on; keys are drawn from R (default 10M) so nearly every
# SET adds a key.
#
# Usage: bench/eviction.sh                                (N=1000000 ROUNDS=3, 50mb)
#        N=200000 ROUNDS=1 bench/eviction.sh              (quicker)
#        MAXMEMORY=100mb POLICY=allkeys-lfu bench/eviction.sh
#        LAZY=yes bench/eviction.sh                       (lazyfree-lazy-eviction yes)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p pyrope-benchmark
MAXMEMORY=${MAXMEMORY:-50mb}
POLICY=${POLICY:-allkeys-lru}
LAZY=${LAZY:-no}
FILL=${FILL:-500000}
VALUE=${VALUE:-$(printf 'v%.0s' $(seq 100))}
TMPF=$(mktemp)
trap 'rm -f "$TMPF"' EXIT
python3 - "$TMPF" "$FILL" "$VALUE" <<'PY'
import sys
n, v = int(sys.argv[2]), sys.argv[3].encode()
with open(sys.argv[1], "wb") as f:
    for i in range(n):
        k = b"fill:%012d" % i
        f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
PY
N=${N:-1000000} ROUNDS=${ROUNDS:-3} BENCH=${BENCH:-target/release/pyrope-benchmark} \
  TESTS= SHOW_INFO="${SHOW_INFO:-evicted_keys used_memory maxmemory total_eviction_exceeded_time}" PRELOAD="$TMPF" R=${R:-10000000} POPULATE=0 \
  EXTRA="--maxmemory $MAXMEMORY --maxmemory-policy $POLICY --lazyfree-lazy-eviction $LAZY" \
  CUSTOM="set_evict=SET key:__rand_int__ $VALUE" \
  bench/compare.sh
