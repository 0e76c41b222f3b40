/* Integer and bit manipulation: overflow checks, division, shifts, rotates, bit scans,
 * bit-fields and switch tables, at the widths C code uses them.
 */
#include "types.h"

int64_t mul_or_sentinel(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return INT64_MIN;
    return r;
}

int add3_checked(int32_t a, int32_t b, int32_t c, int32_t *out)
{
    int32_t t;
    return __builtin_add_overflow(a, b, &t) || __builtin_add_overflow(t, c, out);
}

int sub_unsigned(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_sub_overflow(a, b, out);
}

int umul_wide(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

int16_t narrow_add(int16_t a, int8_t b) { return (int16_t)(a + b); }
uint8_t byte_mix(uint8_t a, uint8_t b) { return (uint8_t)((a ^ b) + (a & b)); }

/* Floor division and modulo with Python's sign rules. */
int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b, r = a % b;
    if (r != 0 && ((r < 0) != (b < 0)))
        q -= 1;
    return q;
}

int64_t floor_mod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0)))
        r += b;
    return r;
}

uint32_t udiv32(uint32_t a, uint32_t b) { return a / b; }
int32_t smod32(int32_t a, int32_t b) { return a % b; }
int64_t div_by_10(int64_t a) { return a / 10; }
uint64_t udiv_by_1000(uint64_t a) { return a / 1000; }
int32_t mod_by_7(int32_t a) { return a % 7; }
uint32_t umod_by_30(uint32_t a) { return a % 30; }
int64_t div_pow2(int64_t a) { return a / 16; }

uint64_t rotl64(uint64_t x, unsigned n) { return (x << (n & 63)) | (x >> (-n & 63)); }
uint32_t rotr32(uint32_t x, unsigned n) { return (x >> (n & 31)) | (x << (-n & 31)); }
uint64_t rotl_const(uint64_t x) { return (x << 13) | (x >> 51); }
uint16_t bswap16(uint16_t x) { return __builtin_bswap16(x); }
uint32_t bswap32(uint32_t x) { return __builtin_bswap32(x); }
uint64_t bswap64(uint64_t x) { return __builtin_bswap64(x); }

int64_t shift_mix(int64_t a, unsigned s, uint64_t u, int32_t w)
{
    return (a >> (s & 63)) + (int64_t)(u >> (s & 63)) + ((int64_t)w << 3) + (int64_t)((uint32_t)w >> 5);
}

int bit_length(uint64_t x) { return x ? 64 - __builtin_clzll(x) : 0; }
int trailing(uint64_t x) { return x ? __builtin_ctzll(x) : 64; }
int count_bits(uint64_t x) { return __builtin_popcountll(x); }
int count_bits32(uint32_t x) { return __builtin_popcount(x); }
int leading32(uint32_t x) { return __builtin_clz(x | 1); }
int parity(uint64_t x) { return __builtin_parityll(x); }
uint64_t lowest_set(uint64_t x) { return x & -x; }
uint64_t clear_lowest(uint64_t x) { return x & (x - 1); }
uint64_t next_pow2(uint64_t x) { return x <= 1 ? 1 : 1ull << (64 - __builtin_clzll(x - 1)); }

int test_bit(const uint64_t *words, size_t i) { return (words[i >> 6] >> (i & 63)) & 1; }
void set_bit(uint64_t *words, size_t i) { words[i >> 6] |= 1ull << (i & 63); }
void clear_bit(uint64_t *words, size_t i) { words[i >> 6] &= ~(1ull << (i & 63)); }

struct packed_flags {
    unsigned kind : 3;
    unsigned interned : 2;
    unsigned compact : 1;
    unsigned ascii : 1;
    unsigned statically : 1;
    signed delta : 12;
    unsigned long long hash : 40;
};

unsigned flags_kind(const struct packed_flags *p) { return p->kind; }
int flags_delta(const struct packed_flags *p) { return p->delta; }
void flags_set_kind(struct packed_flags *p, unsigned k) { p->kind = k; }
void flags_set_delta(struct packed_flags *p, int d) { p->delta = d; }
uint64_t flags_hash(const struct packed_flags *p) { return p->hash; }
void flags_mark(struct packed_flags *p) { p->compact = 1; p->ascii = p->interned != 0; }

int64_t opcode_switch(int op, int64_t a, int64_t b)
{
    switch (op) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return a & b;
    case 4: return a | b;
    case 5: return a ^ b;
    case 6: return a << (b & 63);
    case 7: return a >> (b & 63);
    case 8: return a < b;
    case 9: return a == b;
    case 10: return ~a;
    case 11: return -a;
    default: return 0;
    }
}

const char *name_of(unsigned k)
{
    switch (k) {
    case 0: return "zero";
    case 1: return "one";
    case 2: return "two";
    case 3: return "three";
    case 4: return "four";
    case 5: return "five";
    case 6: return "six";
    default: return "many";
    }
}

int compare_mix(int64_t a, int64_t b, uint64_t c, uint64_t d, int8_t e, uint16_t f)
{
    return (a < b) + 2 * (c >= d) + 4 * (e > -3) + 8 * (f == 0x1234) + 16 * (a != (int64_t)c);
}

int64_t select_mix(int64_t a, int64_t b, int64_t c)
{
    int64_t m = a > b ? a : b;
    int64_t n = c < 0 ? -c : c;
    return (m ^ n) + (a == 0 ? 17 : b);
}

uint64_t constants(unsigned which)
{
    uint64_t k = 0x123456789abcdef0ull;
    if (which & 1) k ^= 0xffffffff00000000ull;
    if (which & 2) k += 0x7fffffff;
    if (which & 4) k -= 0x80000000ull;
    if (which & 8) k |= 0x00ff00ff00ff00ffull;
    if (which & 16) k &= 0xfffffffffffff000ull;
    return k;
}

uint32_t hash_mix(uint32_t h, const uint8_t *p, size_t n)
{
    #pragma clang loop vectorize(disable) interleave(disable)
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x01000193u;
    return h ^ (h >> 15);
}

uint64_t hash64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

__int128 wide_mul(int64_t a, int64_t b) { return (__int128)a * b; }
unsigned __int128 wide_umul(uint64_t a, uint64_t b) { return (unsigned __int128)a * b; }
int64_t mulhi(int64_t a, int64_t b) { return (int64_t)(((__int128)a * b) >> 64); }

int64_t sign_extend(int8_t a, int16_t b, int32_t c, uint8_t d, uint16_t e, uint32_t f)
{
    return (int64_t)a + b + c + d + e + f;
}

int64_t abs_diff(int64_t a, int64_t b) { return a > b ? a - b : b - a; }
int32_t clamp(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : x > hi ? hi : x; }
int64_t madd(int64_t a, int64_t b, int64_t c) { return a * b + c; }
int64_t msub(int64_t a, int64_t b, int64_t c) { return c - a * b; }
int32_t mul_imm(int32_t a) { return a * 37 + (a << 4) - a * 1000; }
