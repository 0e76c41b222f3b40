/* Reference counting and tagged references, in the shape CPython 3.14's uops use them.
 *
 * Written for refjit's round-trip test: clang-19 compiles this file, llvm-objdump-19 prints it,
 * and every printed instruction must assemble back to its bytes. The code only has to look like
 * what stencils are made of; it is never run.
 */
#include "types.h"

typedef struct obj obj;
typedef void (*destructor_fn)(obj *);

typedef struct kind {
    int64_t refs;
    struct kind *meta;
    const char *label;
    int64_t basic;
    destructor_fn drop;
    uint64_t flags;
} kind;

struct obj {
    union {
        int64_t whole;
        struct { uint32_t low; uint16_t extra; uint16_t bits; } split;
    } rc;
    kind *type;
};

typedef struct { uintptr_t bits; } ref;

#define REF_BORROWED 1u
#define REF_NULL ((ref){ .bits = REF_BORROWED })

extern void release(obj *o);
extern obj *make_int(int64_t v);
extern obj *make_pair(obj *a, obj *b);

/* A 32-bit refcount whose sign bit marks an immortal object: increments skip it. */
void retain(obj *o)
{
    uint32_t low = o->rc.split.low;
    if ((int32_t)low < 0)
        return;
    o->rc.split.low = low + 1;
}

void drop(obj *o)
{
    if ((int32_t)o->rc.split.low < 0)
        return;
    if (--o->rc.whole == 0)
        release(o);
}

void drop_via_type(obj *o)
{
    if ((int32_t)o->rc.split.low < 0)
        return;
    if (--o->rc.whole == 0)
        o->type->drop(o);
}

obj *ref_as_obj(ref r) { return (obj *)(r.bits & ~(uintptr_t)REF_BORROWED); }
int ref_is_null(ref r) { return r.bits == REF_BORROWED; }
int ref_is_owned(ref r) { return (r.bits & REF_BORROWED) == 0; }

ref ref_dup(ref r)
{
    if ((r.bits & REF_BORROWED) == 0)
        retain((obj *)r.bits);
    return r;
}

void ref_close(ref r)
{
    if ((r.bits & REF_BORROWED) == 0)
        drop((obj *)r.bits);
}

ref ref_borrow(obj *o) { return (ref){ .bits = (uintptr_t)o | REF_BORROWED }; }

ref ref_steal(obj *o)
{
    uintptr_t tag = (int32_t)o->rc.split.low < 0 ? REF_BORROWED : 0;
    return (ref){ .bits = (uintptr_t)o | tag };
}

/* Close a run of references, newest first, as a stack unwinder would. */
void close_many(ref *base, ref *top)
{
    while (top > base) {
        ref r = *--top;
        *top = REF_NULL;
        ref_close(r);
    }
}

int type_has_flag(const obj *o, unsigned bit)
{
    return (o->type->flags >> bit) & 1;
}

int same_type_and_flag(const obj *a, const obj *b)
{
    return a->type == b->type && (a->type->flags & (1ull << 24)) != 0;
}

int64_t small_value_or_zero(const obj *o, int64_t *out)
{
    const int64_t *payload = (const int64_t *)(o + 1);
    uint64_t tag = (uint64_t)payload[0];
    if ((tag & 3) != 0 || tag >= (2ull << 3))
        return 0;
    int64_t mag = (int64_t)((const uint32_t *)(payload + 1))[0];
    *out = (tag & 2) ? -mag : mag;
    return 1;
}

ref box_sum(ref a, ref b)
{
    int64_t x, y, s;
    obj *oa = ref_as_obj(a), *ob = ref_as_obj(b);
    if (!small_value_or_zero(oa, &x) || !small_value_or_zero(ob, &y))
        return REF_NULL;
    if (__builtin_add_overflow(x, y, &s))
        return REF_NULL;
    obj *r = make_int(s);
    ref_close(a);
    ref_close(b);
    return (ref){ .bits = (uintptr_t)r };
}

obj *pair_of(ref a, ref b)
{
    obj *p = make_pair(ref_as_obj(a), ref_as_obj(b));
    if (p == NULL) {
        ref_close(a);
        ref_close(b);
    }
    return p;
}

/* Swap two stack slots and report whether the new top is an owned reference. */
int swap_top(ref *sp)
{
    ref t = sp[-1];
    sp[-1] = sp[-2];
    sp[-2] = t;
    return ref_is_owned(sp[-1]);
}
