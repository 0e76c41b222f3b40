/* Micro-op bodies in the shape of CPython 3.14's stencils: holes are addresses of extern
 * symbols cast to the width of the value they carry (16-bit oparg, 64-bit operands, 32-bit
 * version tags), objects follow 3.14's layouts in spirit (compact ints, floats, tuples, lists).
 */
#include "types.h"

typedef uint16_t code_unit;
typedef struct { uintptr_t bits; } ref;
typedef struct object { int64_t refcnt; struct type *type; } object;
typedef struct type { object base; int64_t size; const char *name; int64_t basic; int64_t item;
                      void (*dealloc)(object *); uint64_t flags; uint32_t version; } type;
typedef struct { object base; uintptr_t tag; uint32_t digit[1]; } long_obj;
typedef struct { object base; double value; } float_obj;
typedef struct { object base; int64_t size; object *item[]; } tuple_obj;
typedef struct { object base; int64_t size; object **item; int64_t allocated; } list_obj;
typedef struct { object base; int64_t index; list_obj *seq; } list_iter;
typedef struct frame { void *exec; struct frame *prev; void *funcobj; void *globals; void *builtins;
                       void *locals; void *frame_obj; code_unit *ip; ref *sp; int32_t depth;
                       char owner; char visited; ref local[]; } frame;
typedef struct tstate { uint8_t pad[24]; uint64_t eval_breaker; int32_t c_recursion; } tstate;

#define UOP __attribute__((preserve_none))
#define HOLE(T, name) extern void name; static inline T name##_value(void) { return (T)(uintptr_t)&name; }
HOLE(uint16_t, oparg_hole)
HOLE(uint64_t, operand0_hole)
HOLE(uint32_t, operand32_hole)
HOLE(uint16_t, target_hole)

extern UOP code_unit *cont(frame *, ref *, tstate *);
extern UOP code_unit *jump_target(frame *, ref *, tstate *);
extern UOP code_unit *error_target(frame *, ref *, tstate *);
extern object *long_add(long_obj *, long_obj *);
extern object *float_from_double(double);
extern void object_dealloc(object *);
extern type float_type, long_type, list_type;

#define CONTINUE(f, sp, ts) do { __attribute__((musttail)) return cont(f, sp, ts); } while (0)
#define JUMP(f, sp, ts) do { __attribute__((musttail)) return jump_target(f, sp, ts); } while (0)
#define ERROR(f, sp, ts) do { __attribute__((musttail)) return error_target(f, sp, ts); } while (0)

static inline object *as_obj(ref r) { return (object *)(r.bits & ~(uintptr_t)1); }
static inline void decref(object *o)
{
    if ((int32_t)o->refcnt < 0)
        return;
    if (--o->refcnt == 0)
        o->type->dealloc(o);
}
static inline void close_ref(ref r) { if (!(r.bits & 1)) decref((object *)r.bits); }
static inline int is_compact(const long_obj *l) { return l->tag < (2 << 3); }

UOP code_unit *guard_both_int(frame *f, ref *sp, tstate *ts)
{
    if (as_obj(sp[-1])->type != &long_type || as_obj(sp[-2])->type != &long_type)
        JUMP(f, sp, ts);
    CONTINUE(f, sp, ts);
}

UOP code_unit *guard_type_version(frame *f, ref *sp, tstate *ts)
{
    if (as_obj(sp[-1])->type->version != operand32_hole_value())
        JUMP(f, sp, ts);
    CONTINUE(f, sp, ts);
}

UOP code_unit *binary_add_int(frame *f, ref *sp, tstate *ts)
{
    long_obj *a = (long_obj *)as_obj(sp[-2]), *b = (long_obj *)as_obj(sp[-1]);
    if (is_compact(a) && is_compact(b)) {
        int64_t x = (int64_t)a->digit[0] * (1 - (int64_t)(a->tag & 3));
        int64_t y = (int64_t)b->digit[0] * (1 - (int64_t)(b->tag & 3));
        (void)x; (void)y;
    }
    object *r = long_add(a, b);
    decref(&a->base);
    decref(&b->base);
    if (r == NULL)
        ERROR(f, sp - 2, ts);
    sp[-2].bits = (uintptr_t)r;
    sp--;
    CONTINUE(f, sp, ts);
}

UOP code_unit *binary_multiply_float(frame *f, ref *sp, tstate *ts)
{
    float_obj *a = (float_obj *)as_obj(sp[-2]), *b = (float_obj *)as_obj(sp[-1]);
    double d = a->value * b->value;
    if (!(sp[-2].bits & 1) && a->base.refcnt == 1) {
        a->value = d;
        close_ref(sp[-1]);
        sp--;
        CONTINUE(f, sp, ts);
    }
    object *r = float_from_double(d);
    close_ref(sp[-2]);
    close_ref(sp[-1]);
    if (r == NULL)
        ERROR(f, sp - 2, ts);
    sp[-2].bits = (uintptr_t)r;
    sp--;
    CONTINUE(f, sp, ts);
}

UOP code_unit *load_const_inline(frame *f, ref *sp, tstate *ts)
{
    sp[0].bits = (uintptr_t)operand0_hole_value() | 1;
    sp++;
    CONTINUE(f, sp, ts);
}

UOP code_unit *load_fast_n(frame *f, ref *sp, tstate *ts)
{
    ref r = f->local[oparg_hole_value()];
    if (!(r.bits & 1)) {
        object *o = (object *)r.bits;
        uint32_t low = (uint32_t)o->refcnt;
        if ((int32_t)(low + 1) != 0)
            *(uint32_t *)&o->refcnt = low + 1;
    }
    sp[0] = r;
    sp++;
    CONTINUE(f, sp, ts);
}

UOP code_unit *binary_subscr_list_int(frame *f, ref *sp, tstate *ts)
{
    list_obj *l = (list_obj *)as_obj(sp[-2]);
    long_obj *i = (long_obj *)as_obj(sp[-1]);
    if (i->tag >= (1 << 3) * 2 || (i->tag & 3) == 2)
        JUMP(f, sp, ts);
    uint64_t idx = i->digit[0];
    if (idx >= (uint64_t)l->size)
        JUMP(f, sp, ts);
    object *o = l->item[idx];
    if ((int32_t)o->refcnt >= 0)
        o->refcnt++;
    close_ref(sp[-1]);
    close_ref(sp[-2]);
    sp[-2].bits = (uintptr_t)o;
    sp--;
    CONTINUE(f, sp, ts);
}

UOP code_unit *iter_next_list(frame *f, ref *sp, tstate *ts)
{
    list_iter *it = (list_iter *)as_obj(sp[-1]);
    list_obj *seq = it->seq;
    if (seq == NULL || it->index >= seq->size)
        JUMP(f, sp, ts);
    object *o = seq->item[it->index++];
    sp[0].bits = (uintptr_t)o | ((int32_t)o->refcnt < 0);
    sp++;
    CONTINUE(f, sp, ts);
}

UOP code_unit *unpack_tuple_two(frame *f, ref *sp, tstate *ts)
{
    tuple_obj *t = (tuple_obj *)as_obj(sp[-1]);
    if (t->base.type != (type *)operand0_hole_value() || t->size != 2)
        JUMP(f, sp, ts);
    ref old = sp[-1];
    sp[-1].bits = (uintptr_t)t->item[1] | 1;
    sp[0].bits = (uintptr_t)t->item[0] | 1;
    sp++;
    close_ref(old);
    CONTINUE(f, sp, ts);
}

UOP code_unit *check_periodic(frame *f, ref *sp, tstate *ts)
{
    if (__atomic_load_n(&ts->eval_breaker, __ATOMIC_RELAXED) & 0xff)
        ERROR(f, sp, ts);
    CONTINUE(f, sp, ts);
}

UOP code_unit *set_ip_and_exit(frame *f, ref *sp, tstate *ts)
{
    (void)ts;
    f->ip = (code_unit *)f->exec + target_hole_value();
    f->sp = sp;
    return f->ip;
}

UOP code_unit *compare_float(frame *f, ref *sp, tstate *ts)
{
    double a = ((float_obj *)as_obj(sp[-2]))->value, b = ((float_obj *)as_obj(sp[-1]))->value;
    uint16_t mask = oparg_hole_value();
    int sign = (a < b) ? 1 : (a > b) ? 4 : (a == b) ? 8 : 0;
    close_ref(sp[-2]);
    close_ref(sp[-1]);
    sp[-2].bits = (uintptr_t)((sign & mask) ? &float_type : &long_type) | 1;
    sp--;
    CONTINUE(f, sp, ts);
}
