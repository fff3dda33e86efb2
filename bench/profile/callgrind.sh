#!/usr/bin/env bash
# Instructions per request (callgrind Ir) of one server for one workload, issue 18's way of
# comparing CPU cost on a noisy machine: the server runs under valgrind's callgrind, the
# workload's preload is sent, the counters are zeroed (callgrind_control -z), N requests are
# sent P per round trip by client.py (the same bytes to any server), and the counters dumped.
# Prints total Ir / N. Cron work is time-proportional and valgrind is slow: Redis's serverCron
# (cronUpdateMemoryStats) shows up as ~400-2000 Ir/req; subtract its inclusive cost
# (callgrind_annotate --inclusive=yes) before comparing. The dump stays in $D for
# callgrind_annotate. Not a throughput benchmark.
#
# Usage: bench/profile/callgrind.sh NAME SERVER_BINARY WORKLOAD N P [PRELOAD_N]
#   WORKLOAD: xadd | pfadd | setbit | getbit (see client.py)
#   e.g. bench/profile/callgrind.sh redis /opt/redis-7.4/redis-server xadd 20000 16
#        bench/profile/callgrind.sh pyrope target/release/pyrope-server xadd 5000 1
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
name=$1 bin=$2 wl=$3 N=$4 P=$5 PRE=${6:-1000}
D=${OUT:-/tmp/pyrope-profile}/cg.$name.$wl.$P; rm -rf "$D"; mkdir -p "$D"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
valgrind --tool=callgrind ${CGOPTS:-} --callgrind-out-file=$D/cg.out.%p "$bin" --port $port --bind 127.0.0.1 --save '' --appendonly no --dir $D >$D/log 2>&1 &
vpid=$!
for i in $(seq 300); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.2; done
python3 "$HERE/client.py" $port $wl preload $PRE 16
callgrind_control -z $vpid >/dev/null
python3 "$HERE/client.py" $port $wl run $N $P
callgrind_control -d $vpid >/dev/null
sleep 1
kill $vpid; wait $vpid 2>/dev/null
f=$(ls -t $D/cg.out.*.* 2>/dev/null | grep -v '\.[0-9]*-' | head -1)
[ -z "$f" ] && f=$(ls -t $D/cg.out.* | head -1)

tot=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1; exit}'); callgrind_annotate "$f" 2>/dev/null | grep -E "PROGRAM TOTALS|^ *Ir" | head -3
echo "$name $wl P=$P N=$N totalIr=$tot Ir/req=$(( tot / N )) file=$f"
