/* Functions shaped like CPython 3.14 JIT stencils: preserve_none, (frame, sp, tstate) in,
 * the next code unit out, calls to extern helpers and a musttail jump to the continuation.
 */
#include "types.h"

typedef uint16_t code_unit;
typedef struct { uintptr_t bits; } ref;

typedef struct frame {
    void *code;
    struct frame *previous;
    void *globals;
    void *builtins;
    void *locals;
    code_unit *ip;
    ref *stackpointer;
    int32_t stack_depth;
    char owner;
    char visited;
    ref slots[];
} frame;

typedef struct tstate {
    uint64_t breaker;
    void *current_exc;
    int32_t recursion_left;
    int32_t depth;
    frame *current;
    void *executor;
} tstate;

#define STENCIL __attribute__((preserve_none))
typedef STENCIL code_unit *(*stencil_fn)(frame *, ref *, tstate *);

extern STENCIL code_unit *next_op(frame *, ref *, tstate *);
extern STENCIL code_unit *side_exit(frame *, ref *, tstate *);
extern STENCIL code_unit *error_exit(frame *, ref *, tstate *);
extern void *add_objects(void *, void *);
extern void dealloc(void *);
extern int handle_pending(tstate *);
extern char HOLE_oparg[];
extern char HOLE_operand[];
extern const void *constant_table[];

static inline void close_ref(ref r)
{
    if (r.bits & 1)
        return;
    int32_t *rc = (int32_t *)r.bits;
    if (*rc < 0)
        return;
    if (--*(int64_t *)rc == 0)
        dealloc(rc);
}

STENCIL code_unit *load_local(frame *f, ref *sp, tstate *ts)
{
    ref r = f->slots[(uintptr_t)HOLE_oparg];
    if ((r.bits & 1) == 0) {
        uint32_t *rc = (uint32_t *)r.bits;
        if ((int32_t)*rc >= 0)
            *rc += 1;
    }
    *sp++ = r;
    __attribute__((musttail)) return next_op(f, sp, ts);
}

STENCIL code_unit *store_local(frame *f, ref *sp, tstate *ts)
{
    ref old = f->slots[(uintptr_t)HOLE_oparg];
    f->slots[(uintptr_t)HOLE_oparg] = *--sp;
    close_ref(old);
    __attribute__((musttail)) return next_op(f, sp, ts);
}

STENCIL code_unit *pop_top(frame *f, ref *sp, tstate *ts)
{
    close_ref(*--sp);
    __attribute__((musttail)) return next_op(f, sp, ts);
}

STENCIL code_unit *guard_is_true(frame *f, ref *sp, tstate *ts)
{
    ref top = sp[-1];
    if ((top.bits & ~(uintptr_t)1) != (uintptr_t)constant_table[3]) {
        __attribute__((musttail)) return side_exit(f, sp, ts);
    }
    sp--;
    __attribute__((musttail)) return next_op(f, sp, ts);
}

STENCIL code_unit *binary_add(frame *f, ref *sp, tstate *ts)
{
    ref a = sp[-2], b = sp[-1];
    f->stackpointer = sp;
    void *r = add_objects((void *)(a.bits & ~(uintptr_t)1), (void *)(b.bits & ~(uintptr_t)1));
    sp = f->stackpointer;
    f->stackpointer = NULL;
    close_ref(a);
    close_ref(b);
    if (r == NULL) {
        __attribute__((musttail)) return error_exit(f, sp - 2, ts);
    }
    sp[-2] = (ref){ .bits = (uintptr_t)r };
    sp--;
    __attribute__((musttail)) return next_op(f, sp, ts);
}

STENCIL code_unit *check_eval_breaker(frame *f, ref *sp, tstate *ts)
{
    uint64_t version = *(uint64_t *)((char *)f->code + 0x20);
    if ((ts->breaker & ~(uint64_t)0xff) != version) {
        if (ts->breaker & 0xff) {
            f->stackpointer = sp;
            int err = handle_pending(ts);
            sp = f->stackpointer;
            f->stackpointer = NULL;
            if (err) {
                __attribute__((musttail)) return error_exit(f, sp, ts);
            }
        }
    }
    __attribute__((musttail)) return next_op(f, sp, ts);
}

STENCIL code_unit *set_ip(frame *f, ref *sp, tstate *ts)
{
    f->ip = (code_unit *)HOLE_operand;
    __attribute__((musttail)) return next_op(f, sp, ts);
}

STENCIL code_unit *exit_trace(frame *f, ref *sp, tstate *ts)
{
    f->stackpointer = sp;
    ts->depth--;
    return f->ip + (uintptr_t)HOLE_oparg;
}

STENCIL code_unit *dispatch(frame *f, ref *sp, tstate *ts)
{
    stencil_fn target = (stencil_fn)constant_table[(uintptr_t)HOLE_oparg & 7];
    __attribute__((musttail)) return target(f, sp, ts);
}

STENCIL code_unit *compare_small(frame *f, ref *sp, tstate *ts)
{
    int64_t *a = (int64_t *)(sp[-2].bits & ~(uintptr_t)1);
    int64_t *b = (int64_t *)(sp[-1].bits & ~(uintptr_t)1);
    int64_t x = a[3], y = b[3];
    unsigned mask = (unsigned)(uintptr_t)HOLE_oparg;
    int r = ((x < y) & (mask >> 1)) | ((x == y) & (mask >> 3)) | ((x > y) & (mask >> 2));
    sp[-2].bits = (uintptr_t)constant_table[r & 1] | 1;
    sp--;
    __attribute__((musttail)) return next_op(f, sp, ts);
}

STENCIL code_unit *copy_locals(frame *f, ref *sp, tstate *ts)
{
    int n = (int)(uintptr_t)HOLE_oparg;
    #pragma clang loop vectorize(disable) interleave(disable)
    for (int i = 0; i < n; i++) {
        ref r = f->slots[i];
        if ((r.bits & 1) == 0)
            ++*(uint32_t *)r.bits;
        sp[i] = r;
    }
    sp += n;
    __attribute__((musttail)) return next_op(f, sp, ts);
}
