/* Pointers, structs, arrays and calls: small struct copies, loops, indexed addressing,
 * calls through function pointers, direct calls and tail calls.
 */
#include "types.h"

typedef struct item { int64_t key; void *value; uint32_t hash; uint16_t tag; uint8_t flag; int8_t small; } item;
typedef struct vec3 { double x, y, z; } vec3;
typedef struct table { size_t used; size_t mask; item *items; int64_t (*cmp)(const item *, const item *); } table;

extern void *alloc(size_t n);
extern void fill(void *p, int c, size_t n);
extern int64_t lookup(table *t, int64_t key);
extern void note(const char *what, int64_t v);
extern int64_t counter;
extern uint8_t flags_byte;
extern void *registry[64];

void copy_item(item *dst, const item *src) { __builtin_memcpy(dst, src, sizeof *dst); }
void copy_vec(vec3 *dst, const vec3 *src) { *dst = *src; }
void move_items(item *dst, const item *src, size_t n) { __builtin_memmove(dst, src, n * sizeof *dst); }
void zero_item(item *p) { __builtin_memset(p, 0, sizeof *p); }

vec3 vec_add(vec3 a, vec3 b) { return (vec3){ a.x + b.x, a.y + b.y, a.z + b.z }; }

item make_item(int64_t k, void *v)
{
    item it = { .key = k, .value = v, .hash = (uint32_t)k * 31u, .tag = 7, .flag = 1, .small = -1 };
    return it;
}

int64_t sum_keys(const item *items, size_t n)
{
    int64_t s = 0;
    #pragma clang loop vectorize(disable) interleave(disable)
    for (size_t i = 0; i < n; i++)
        s += items[i].key + items[i].small + items[i].tag;
    return s;
}

int64_t sum_i32(const int32_t *a, int n)
{
    int64_t s = 0;
    #pragma clang loop vectorize(disable) interleave(disable)
    for (int i = 0; i < n; i++)
        s += a[i];
    return s;
}

size_t find_byte(const uint8_t *p, size_t n, uint8_t b)
{
    #pragma clang loop vectorize(disable) interleave(disable)
    for (size_t i = 0; i < n; i++)
        if (p[i] == b)
            return i;
    return (size_t)-1;
}

void reverse(int64_t *a, size_t n)
{
    #pragma clang loop vectorize(disable) interleave(disable)
    for (size_t i = 0, j = n - 1; n && i < j; i++, j--) {
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

int64_t probe(const table *t, int64_t key, uint32_t hash)
{
    size_t i = hash & t->mask;
    size_t perturb = hash;
    #pragma clang loop vectorize(disable) interleave(disable)
    for (;;) {
        const item *it = &t->items[i];
        if (it->key == key)
            return (int64_t)(intptr_t)it->value;
        if (it->value == NULL)
            return -1;
        perturb >>= 5;
        i = (i * 5 + perturb + 1) & t->mask;
    }
}

int64_t compare_with(table *t, const item *a, const item *b) { return t->cmp(a, b) + t->cmp(b, a); }
int64_t tail_lookup(table *t, int64_t key) { return lookup(t, key + 1); }

int64_t call_chain(table *t, int64_t key)
{
    int64_t v = lookup(t, key);
    note("value", v);
    counter += v;
    return v ? lookup(t, v) : 0;
}

int64_t musttail_lookup(table *t, int64_t key)
{
    __attribute__((musttail)) return lookup(t, key ^ 1);
}

void *make_buffer(size_t n)
{
    void *p = alloc(n + 16);
    if (p)
        fill(p, 0, n + 16);
    return p;
}

int64_t globals(int i)
{
    flags_byte |= 4;
    counter++;
    return (int64_t)(intptr_t)registry[i & 63] + counter;
}

int64_t index_forms(const int64_t *base, const int32_t *w, const int16_t *h, const uint8_t *b, long i, int j)
{
    return base[i] + base[i + 3] + base[j] + w[i] + w[-5] + h[i] + h[j + 100] + b[i] + b[j] + b[4000] + base[-100];
}

void store_forms(int64_t *q, int32_t *w, int16_t *h, int8_t *b, long i, int64_t v)
{
    q[i] = v;
    w[i + 1] = (int32_t)v;
    h[i * 2] = (int16_t)v;
    b[i] = (int8_t)v;
    q[7] = 0;
    w[9] = -1;
    h[300] = 0x1234;
    b[70000] = 9;
}

int64_t many_args(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f, int64_t g, int64_t h, int64_t i)
{
    return a - b + c - d + e - f + g - h + i;
}

int64_t call_many(int64_t x)
{
    return many_args(x, x + 1, x + 2, x + 3, x + 4, x + 5, x + 6, x + 7, x + 8) * 3;
}

int64_t local_array(int n)
{
    int64_t buf[32];
    #pragma clang loop vectorize(disable) interleave(disable)
    for (int i = 0; i < 32; i++)
        buf[i] = i * n;
    note("buf", buf[n & 31]);
    return buf[(n + 1) & 31];
}

typedef int64_t (*binop)(int64_t, int64_t);
int64_t apply_all(const binop *ops, size_t n, int64_t a, int64_t b)
{
    int64_t acc = 0;
    #pragma clang loop vectorize(disable) interleave(disable)
    for (size_t i = 0; i < n; i++)
        acc ^= ops[i](a, b);
    return acc;
}

const item *max_by_key(const item *items, size_t n)
{
    const item *best = n ? items : NULL;
    #pragma clang loop vectorize(disable) interleave(disable)
    for (size_t i = 1; i < n; i++)
        if (items[i].key > best->key)
            best = &items[i];
    return best;
}

void *align_up(void *p, size_t a) { return (void *)(((uintptr_t)p + a - 1) & ~(uintptr_t)(a - 1)); }
ptrdiff_t ptr_distance(const item *a, const item *b) { return b - a; }
