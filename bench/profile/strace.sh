#!/usr/bin/env bash
# System calls per request of one server for one workload: strace -c -f attached after the
# preload, N requests sent P per round trip by client.py (C=50 in the environment: 50
# connections, one request each per round). Prints each syscall's calls per request.
#
# Usage: bench/profile/strace.sh NAME SERVER_BINARY WORKLOAD N P [PRELOAD_N]
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
name=$1 bin=$2 wl=$3 N=$4 P=$5 PRE=${6:-1000}
D=${OUT:-/tmp/pyrope-profile}/st.$name.$wl.$P; rm -rf "$D"; mkdir -p "$D"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" --port $port --bind 127.0.0.1 --save '' --appendonly no --dir $D >$D/log 2>&1 &
spid=$!
for i in $(seq 300); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
python3 "$HERE/client.py" $port $wl preload $PRE 16 >/dev/null
strace -c -f -p $spid -o $D/strace.txt 2>/dev/null &
tpid=$!
sleep 1
python3 "$HERE/client.py" $port $wl run $N $P
kill -INT $tpid; wait $tpid 2>/dev/null
kill $spid; wait $spid 2>/dev/null
echo "== $name $wl P=$P N=$N"
awk -v n=$N 'NR>2 && $NF!="total" && $4 ~ /^[0-9]+$/ {printf "  %-16s %8d calls %6.3f/req\n", $NF, $4, $4/n} NR>2 && $5 ~ /^[0-9]+$/ && $4 !~ /^[0-9]+$/ {}' $D/strace.txt
