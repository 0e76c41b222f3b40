/* Code that strains register allocation and addressing: 128-bit arithmetic (carry chains,
 * double shifts), many live values across calls (every callee-saved register), big stack
 * frames (32-bit displacements from the stack pointer) and wide constants.
 */
#include "types.h"

typedef unsigned __int128 u128;
typedef __int128 i128;

extern void observe(int64_t *slots, int64_t n);
extern int64_t combine(int64_t a, int64_t b);

u128 add128(u128 a, u128 b) { return a + b; }
u128 sub128(u128 a, u128 b) { return a - b; }
u128 shl128(u128 a, unsigned n) { return a << (n & 127); }
i128 sar128(i128 a, unsigned n) { return a >> (n & 127); }
u128 shr128_const(u128 a) { return a >> 17; }
int lt128(i128 a, i128 b) { return a < b; }
u128 mul128_64(u128 a, uint64_t b) { return a * b; }
uint64_t mul_hi_u(uint64_t a, uint64_t b) { return (uint64_t)(((u128)a * b) >> 64); }

int64_t many_live(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f)
{
    int64_t s = combine(a, b);
    int64_t t = combine(c, d);
    int64_t u = combine(e, f);
    int64_t v = combine(s ^ a, t ^ b);
    int64_t w = combine(u + c, v - d);
    return a * s + b * t + c * u + d * v + e * w + f * (s ^ t ^ u ^ v ^ w);
}

int64_t big_frame(int64_t k)
{
    int64_t slots[3000];
    for (int i = 0; i < 3000; i += 97)
        slots[i] = k + i;
    observe(slots, 3000);
    return slots[2999] + slots[1500] + slots[k & 1023];
}

int64_t small_frame(int64_t k)
{
    volatile int64_t a = k, b = k * 3;
    volatile int32_t c = (int32_t)k;
    volatile uint8_t d = (uint8_t)k;
    volatile double e = (double)k;
    return a + b + c + d + (int64_t)e;
}

void wide_stores(uint64_t *p, uint32_t *q, uint16_t *h, uint8_t *b)
{
    p[0] = 0x1122334455667788ull;
    p[1] = 0xffffffff80000000ull;
    p[2] = 0x00000000ffffffffull;
    p[3] = 0x7fffffffffffffffull;
    q[0] = 0x80000000u;
    q[1] = 0xdeadbeefu;
    h[0] = 0xbeef;
    h[1] = 0x8000;
    b[0] = 0x80;
    b[1] = 0xff;
}

uint64_t byte_ops(uint8_t a, uint8_t b, int8_t c, uint16_t d)
{
    uint8_t x = (uint8_t)(a + b);
    uint8_t y = (uint8_t)(a * b);
    uint8_t z = (uint8_t)(a / (b | 1));
    int8_t w = (int8_t)(c >> 2);
    uint16_t v = (uint16_t)(d * 3 + (d >> 4));
    return ((uint64_t)x << 48) | ((uint64_t)y << 40) | ((uint64_t)z << 32) | ((uint64_t)(uint8_t)w << 16) | v;
}
