/* Doubles as float objects use them: arithmetic, comparisons with NaN, conversions to and from
 * integers, sign handling, square roots and Python's floor division and modulo.
 */
#include "types.h"

double fadd(double a, double b) { return a + b; }
double fsub(double a, double b) { return a - b; }
double fmul(double a, double b) { return a * b; }
double fdiv(double a, double b) { return a / b; }
double fneg(double a) { return -a; }
double fabs_(double a) { return __builtin_fabs(a); }
double fsqrt(double a) { return __builtin_sqrt(a); }
double fcopysign(double a, double b) { return __builtin_copysign(a, b); }
double fmin_(double a, double b) { return a < b ? a : b; }
double fmax_(double a, double b) { return a > b ? a : b; }
double fma_like(double a, double b, double c) { return a * b + c; }
float to_float(double a) { return (float)a; }
double from_float(float a) { return a; }
float fsum(float a, float b) { return a * 2.5f + b; }

int lt(double a, double b) { return a < b; }
int le(double a, double b) { return a <= b; }
int gt(double a, double b) { return a > b; }
int ge(double a, double b) { return a >= b; }
int eq(double a, double b) { return a == b; }
int ne(double a, double b) { return a != b; }
int is_nan(double a) { return a != a; }
int is_inf(double a) { return __builtin_fabs(a) == __builtin_inf(); }
int is_finite(double a) { return __builtin_fabs(a) < __builtin_inf(); }
int unordered(double a, double b) { return __builtin_isunordered(a, b); }
int sign_bit(double a) { return __builtin_signbit(a) != 0; }

/* Python's richcompare result for two floats: op 0..5 is < <= == != > >=. */
int float_compare(double a, double b, int op)
{
    switch (op) {
    case 0: return a < b;
    case 1: return a <= b;
    case 2: return a == b;
    case 3: return a != b;
    case 4: return a > b;
    default: return a >= b;
    }
}

double from_i64(int64_t v) { return (double)v; }
double from_i32(int32_t v) { return (double)v; }
double from_u64(uint64_t v) { return (double)v; }
double from_u32(uint32_t v) { return (double)v; }
int64_t to_i64(double d) { return (int64_t)d; }
int32_t to_i32(double d) { return (int32_t)d; }
uint64_t to_u64(double d) { return (uint64_t)d; }
uint32_t to_u32(double d) { return (uint32_t)d; }
double from_mem(const int64_t *p) { return (double)p[2]; }

int exact_int(double d, int64_t *out)
{
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        return 0;
    int64_t i = (int64_t)d;
    if ((double)i != d)
        return 0;
    *out = i;
    return 1;
}

uint64_t bits_of(double d) { union { double d; uint64_t u; } v = { .d = d }; return v.u; }
double of_bits(uint64_t u) { union { double d; uint64_t u; } v = { .u = u }; return v.d; }

double floor_div_f(double a, double b)
{
    double mod = __builtin_fmod(a, b);
    double div = (a - mod) / b;
    if (mod != 0.0 && ((b < 0.0) != (mod < 0.0)))
        div -= 1.0;
    double floordiv = __builtin_floor(div);
    if (div - floordiv > 0.5)
        floordiv += 1.0;
    return div == 0.0 ? __builtin_copysign(0.0, a / b) : floordiv;
}

double round_trip(double x) { return __builtin_trunc(x) + __builtin_floor(x) + __builtin_ceil(x) + __builtin_round(x); }

double poly(double x)
{
    return ((((0.0083333 * x) - 0.1666666) * x + 1.0) * x + 0.5) * x - 2.0;
}

double dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    #pragma clang loop vectorize(disable) interleave(disable)
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

void scale(double *a, size_t n, double k)
{
    #pragma clang loop vectorize(disable) interleave(disable)
    for (size_t i = 0; i < n; i++)
        a[i] = a[i] * k + 1.0;
}

double sum_pairs(const double *p)
{
    return p[0] + p[1] + p[7] + p[100] + p[2000];
}

struct fbox { int64_t rc; void *type; double value; };

double box_value(const struct fbox *b) { return b->value; }

int fbox_add(struct fbox *dst, const struct fbox *a, const struct fbox *b)
{
    double r = a->value + b->value;
    if (r != r)
        return -1;
    dst->value = r;
    return r > 0.0 ? 1 : 0;
}

double const_pick(int k)
{
    static const double table[] = { 0.0, -0.0, 1.0, 0.1, 1e300, -2.5, 3.141592653589793 };
    return table[k & 7 ? k % 7 : 0];
}

double zero_test(double a) { return a == 0.0 ? 1.0 : a; }
double half(double a) { return a * 0.5; }
double two(double a) { return a + 2.0; }
