#!/usr/bin/env bash
# Issue 18's GEO rows: against Redis 7.4.1 in the same run, pyrope-benchmark as the load
# generator, at -P 1 and -P 16 (bench/compare.sh prints ops/s, server CPU per request and the
# ratios). Both servers first load the same geo set `g` of 1,000,000 members `m:<12 digits>`
# (the names __rand_int__ renders) at pseudo-random places in a 20 x 10 degree box of
# Europe, so a 5 km radius holds about 35 members.
#   geosearch_radius    GEOSEARCH g FROMMEMBER m:<rand> BYRADIUS 5 km ASC WITHDIST
#   geosearch_count     GEOSEARCH g FROMMEMBER m:<rand> BYRADIUS 20 km ASC COUNT 10
#   geosearch_box       GEOSEARCH g FROMMEMBER m:<rand> BYBOX 10 10 km WITHCOORD
#   georadiusbymember   GEORADIUSBYMEMBER g m:<rand> 5 km
#   geodist             GEODIST g m:<rand> m:<rand> km
#   geopos              GEOPOS g m:<rand>
#   geoadd              GEOADD gadd 1.<rand> 45.<rand> m:<rand>  (another key, growing from empty:
#                       moving members of g would change what the searches find)
#
# Usage: bench/geo.sh                  (N=200000 ROUNDS=3)
#        N=50000 ROUNDS=1 bench/geo.sh (quicker)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p pyrope-benchmark
TMPF=$(mktemp)
trap 'rm -f "$TMPF"' EXIT
python3 - "$TMPF" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    n = 1000000
    x = 12345
    for start in range(0, n, 1000):
        args = [b"GEOADD", b"g"]
        for j in range(start, start + 1000):
            x = (x * 1103515245 + 12345) % 2147483648
            lon = -5.0 + 20.0 * (x / 2147483648.0)
            x = (x * 1103515245 + 12345) % 2147483648
            lat = 40.0 + 10.0 * (x / 2147483648.0)
            args += [b"%.6f" % lon, b"%.6f" % lat, b"m:%012d" % j]
        f.write(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
PY
N=${N:-200000} ROUNDS=${ROUNDS:-3} BENCH=${BENCH:-target/release/pyrope-benchmark} \
  TESTS= PRELOAD="$TMPF" R=1000000 \
  CUSTOM='geosearch_radius=GEOSEARCH g FROMMEMBER m:__rand_int__ BYRADIUS 5 km ASC WITHDIST;geosearch_count=GEOSEARCH g FROMMEMBER m:__rand_int__ BYRADIUS 20 km ASC COUNT 10;geosearch_box=GEOSEARCH g FROMMEMBER m:__rand_int__ BYBOX 10 10 km WITHCOORD;georadiusbymember=GEORADIUSBYMEMBER g m:__rand_int__ 5 km;geodist=GEODIST g m:__rand_int__ m:__rand_int__ km;geopos=GEOPOS g m:__rand_int__;geoadd=GEOADD gadd 1.__rand_int__ 45.__rand_int__ m:__rand_int__' \
  bench/compare.sh
