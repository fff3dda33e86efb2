/* Long double arithmetic for INCRBYFLOAT / HINCRBYFLOAT.
 *
 * Redis computes these with the C `long double` (80-bit x87 extended precision on x86-64)
 * and prints the result with "%.17Lf" minus trailing zeros (util.c ld2string, LD_STR_HUMAN),
 * parsing operands with strtold (util.c string2ld). Rust has no 80-bit float, and the printed
 * digits depend on that precision, so this small shim uses the platform's own long double to
 * give byte-identical results. */
#include <ctype.h>
#include <limits.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

static int string2ld(const char *s, size_t slen, long double *dp) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    long double value;
    char *eptr;

    if (slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';
    errno = 0;
    value = strtold(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' || (size_t)(eptr - buf) != slen ||
        ((errno == ERANGE) && (value == HUGE_VALL || value == -HUGE_VALL || fpclassify(value) == FP_ZERO)) ||
        errno == EINVAL || isnan(value))
        return 0;
    *dp = value;
    return 1;
}

/* Adds the decimal strings a and b as long doubles and writes the Redis "human" form of the
 * sum into out (no NUL needed by the caller). Returns the length, or -1 if a is not a valid
 * float, -2 if b is not, -3 if the sum is NaN or infinite, -4 if out is too small. */
long pyrope_ld_add(const char *a, size_t alen, const char *b, size_t blen, char *out, size_t outlen) {
    long double x, y, v;
    char buf[MAX_LONG_DOUBLE_CHARS];
    int l;

    if (!string2ld(a, alen, &x)) return -1;
    if (!string2ld(b, blen, &y)) return -2;
    v = x + y;
    if (isnan(v) || isinf(v)) return -3;
    l = snprintf(buf, sizeof(buf), "%.17Lf", v);
    if (l < 0 || (size_t)l + 1 > sizeof(buf)) return -4;
    if (strchr(buf, '.') != NULL) {
        char *p = buf + l - 1;
        while (*p == '0') {
            p--;
            l--;
        }
        if (*p == '.') l--;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        l = 1;
    }
    if ((size_t)l > outlen) return -4;
    memcpy(out, buf, l);
    return l;
}

/* A blocking timeout in seconds, as Redis's getTimeoutFromObjectOrReply (UNIT_SECONDS):
 * parsed with string2ld, times 1000, rounded up with ceill, checked against LLONG_MAX, made
 * absolute from now_ms (0 stays 0: no timeout). Returns 0 and sets *out, or 1 (not a float),
 * 2 (out of range), 3 (negative). */
int pyrope_timeout_ms(const char *s, size_t len, long long now_ms, long long *out) {
    long double ftval;
    long long tval;

    if (!string2ld(s, len, &ftval)) return 1;
    ftval *= 1000.0;
    if (ftval > LLONG_MAX) return 2;
    tval = (long long)ceill(ftval);
    if (tval < 0) return 3;
    if (tval > 0) {
        if (tval > LLONG_MAX - now_ms) return 2;
        tval += now_ms;
    }
    *out = tval;
    return 0;
}
