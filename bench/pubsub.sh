#!/usr/bin/env bash
# Issue 21's pub/sub row: PUBLISH to one channel with 50 subscribers (each message delivered 50
# times), against Redis 7.4.1 in the same run, pyrope-benchmark as the load generator, at -P 1
# and -P 16 (bench/compare.sh prints ops/s, the pyrope/redis ratio and the server CPU per
# PUBLISH, which includes the 50 deliveries). The subscribers are bench/subscribers.py: 50
# connections per server reading in 1 MiB chunks.
#
# Usage: bench/pubsub.sh                        (N=500000 ROUNDS=3, 50 subscribers)
#        N=100000 ROUNDS=1 SUBSCRIBERS=10 bench/pubsub.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p pyrope-benchmark
N=${N:-500000} ROUNDS=${ROUNDS:-3} SUBSCRIBERS=${SUBSCRIBERS:-50} CHANNEL=ch \
  BENCH="$PWD/target/release/pyrope-benchmark" POPULATE=0 TESTS= \
  CUSTOM="publish=PUBLISH ch hello-subscribers" \
  bench/compare.sh
