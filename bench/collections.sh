#!/usr/bin/env bash
# Issue 17's throughput table: the collection tests of redis-benchmark (lpush rpush lpop rpop
# sadd hset spop zadd zpopmin lrange_100 lrange_600) plus ZADD into and ZRANGEBYSCORE over a
# 1,000,000-member zset, against Redis 7.4.1 in the same run, pyrope-benchmark as the load
# generator, at -P 1 and -P 16 (bench/compare.sh prints ops/s, server CPU per request and the
# ratios). Then the memory table (bench/memory.sh).
#
# Usage: bench/collections.sh                 (N=200000 ROUNDS=3)
#        N=100000 ROUNDS=1 bench/collections.sh   (quicker)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p pyrope-benchmark
TMPF=$(mktemp)
trap 'rm -f "$TMPF"' EXIT
python3 - "$TMPF" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    n = 1000000
    for start in range(0, n, 1000):
        args = [b"ZADD", b"bigz"]
        for j in range(start, start + 1000):
            args += [str((j * 2654435761) % 1000003).encode(), b"m:%d" % j]
        f.write(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
PY
N=${N:-200000} ROUNDS=${ROUNDS:-3} BENCH=${BENCH:-target/release/pyrope-benchmark} \
  TESTS=${TESTS:-lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,lrange_600} \
  PRELOAD="$TMPF" R=1000000 \
  CUSTOM='zadd_1m=ZADD bigz __rand_int__ m:__rand_int__;zrangebyscore_1m=ZRANGEBYSCORE bigz __rand_int__ +inf LIMIT 0 10' \
  bench/compare.sh
bench/memory.sh
