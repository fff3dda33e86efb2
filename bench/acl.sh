#!/usr/bin/env bash
# Issue 21's ACL row: GET/SET with the clients spread over 10 ACL users, each authenticated
# (AUTH user pass) and limited to `~key:*` and the read/write/connection categories, so every
# command goes through the command and key-pattern checks. Against Redis 7.4.1 in the same
# run, pyrope-benchmark as the load generator, at -P 1 and -P 16 (bench/compare.sh prints
# ops/s, the pyrope/redis ratio and the server CPU per request).
#
# bench/compare.sh runs one load generator per measurement; here BENCH is a wrapper that runs
# 10 pyrope-benchmark processes at once, one per user, each with C/10 clients and N/10
# requests, and reports the sum of their ops/s.
#
# Usage: bench/acl.sh                         (N=1000000 ROUNDS=3, -c 50)
#        N=200000 ROUNDS=1 bench/acl.sh       (quicker)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p pyrope-benchmark
USERS=${USERS:-10}
WRAP=$(mktemp -d)
trap 'rm -rf "$WRAP"' EXIT
EXTRA=""
for i in $(seq 0 $((USERS - 1))); do
  EXTRA="$EXTRA --user bench$i on >pass$i ~key:* &* -@all +@read +@write +@connection +config|get"
done
cat > "$WRAP/bench.sh" <<WRAPPER
#!/usr/bin/env bash
# Runs $USERS pyrope-benchmark processes (one per ACL user) and prints the summed ops/s as
# one --csv line. Arguments: those bench/compare.sh passes (-p -c -n -P -q --csv -t/-r).
set -uo pipefail
args=(); c=50; n=100000
while [ \$# -gt 0 ]; do
  case "\$1" in
    -c) c=\$2; shift 2;;
    -n) n=\$2; shift 2;;
    *) args+=("\$1"); shift;;
  esac
done
for i in \$(seq 0 $((USERS - 1))); do
  "$PWD/target/release/pyrope-benchmark" "\${args[@]}" --user "bench\$i" -a "pass\$i" \
    -c \$(( (c + $USERS - 1) / $USERS )) -n \$(( n / $USERS )) > "$WRAP/out.\$i" 2>/dev/null &
done
wait
echo '"test","rps"'
cat "$WRAP"/out.* | awk -F'","' '/^"/ && NR>0 && \$1 !~ /test/ {gsub(/"/,"",\$2); s+=\$2; t=\$1} END {printf "%s\",\"%.2f\"\n", t, s}'
WRAPPER
chmod +x "$WRAP/bench.sh"
N=${N:-1000000} ROUNDS=${ROUNDS:-3} BENCH="$WRAP/bench.sh" TESTS=${TESTS:-get,set} \
  EXTRA="$EXTRA" POPULATE=0 bench/compare.sh
