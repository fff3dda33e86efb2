#!/usr/bin/env bash
# Issue 21's client-side caching row: GET/SET with 50 clients in CLIENT TRACKING (default mode,
# then BCAST), RESP3 so that every invalidation is pushed to the clients, against Redis 7.4.1
# in the same run, pyrope-benchmark as the load generator (each connection sends HELLO 3 and
# CLIENT TRACKING on [BCAST] first), at -P 1 and -P 16 (bench/compare.sh prints ops/s, the
# pyrope/redis ratio and the server CPU per request). Keys are drawn from R (default 100000)
# so GETs re-read keys that other clients' SETs invalidate; INFO's tracking fields are shown.
#
# Usage: bench/tracking.sh                         (N=1000000 ROUNDS=3, both modes)
#        N=200000 ROUNDS=1 bench/tracking.sh       (quicker)
#        MODES=bcast bench/tracking.sh             (only one mode: default or bcast)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p pyrope-benchmark
MODES=${MODES:-"default bcast"}
TMPD=$(mktemp -d)
trap 'rm -rf "$TMPD"' EXIT
for mode in $MODES; do
  flag=--enable-tracking
  [ "$mode" = bcast ] && flag=--tracking-bcast
  # compare.sh runs BENCH with redis-benchmark's arguments: a wrapper adds the tracking ones.
  cat > "$TMPD/bench-$mode" <<W
#!/bin/sh
exec "$PWD/target/release/pyrope-benchmark" -3 $flag "\$@"
W
  chmod +x "$TMPD/bench-$mode"
  echo "== CLIENT TRACKING on ${mode/default/(default mode)} =="
  N=${N:-1000000} ROUNDS=${ROUNDS:-3} BENCH="$TMPD/bench-$mode" POPULATE=0 R=${R:-100000} \
    TESTS= SHOW_INFO="${SHOW_INFO:-tracking_clients tracking_total_keys tracking_total_items tracking_total_prefixes}" \
    CUSTOM="get=GET key:__rand_int__;set=SET key:__rand_int__ xxx" \
    bench/compare.sh
done
