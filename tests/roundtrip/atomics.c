/* Atomics with every memory order: counters, flags, compare-exchange loops and exchanges,
 * as free-threaded reference counting and lock-free structures use them.
 */
#include "types.h"

int64_t add_relaxed(int64_t *p, int64_t v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
int64_t add_seq(int64_t *p, int64_t v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
int32_t add32_acquire(int32_t *p) { return __atomic_fetch_add(p, 1, __ATOMIC_ACQUIRE); }
int32_t sub32_release(int32_t *p) { return __atomic_fetch_sub(p, 1, __ATOMIC_RELEASE); }
int64_t add_fetch_acq_rel(int64_t *p) { return __atomic_add_fetch(p, 2, __ATOMIC_ACQ_REL); }
void inc_only(int64_t *p) { __atomic_fetch_add(p, 1, __ATOMIC_RELAXED); }
void dec_only(int32_t *p) { __atomic_fetch_sub(p, 1, __ATOMIC_SEQ_CST); }
void add_only(int64_t *p, int64_t v) { __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST); }

uint64_t or_seq(uint64_t *p, uint64_t v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
uint64_t and_relaxed(uint64_t *p, uint64_t v) { return __atomic_fetch_and(p, v, __ATOMIC_RELAXED); }
uint32_t xor_release(uint32_t *p, uint32_t v) { return __atomic_fetch_xor(p, v, __ATOMIC_RELEASE); }
void or_byte(uint8_t *p) { __atomic_fetch_or(p, 0x10, __ATOMIC_RELAXED); }
void and_half(uint16_t *p) { __atomic_fetch_and(p, 0xfff0, __ATOMIC_SEQ_CST); }
uint8_t or_byte_old(uint8_t *p, uint8_t v) { return __atomic_fetch_or(p, v, __ATOMIC_ACQUIRE); }
bool test_and_set_bit(uint64_t *p, unsigned bit)
{
    uint64_t m = 1ull << (bit & 63);
    return (__atomic_fetch_or(p, m, __ATOMIC_SEQ_CST) & m) != 0;
}

int64_t xchg_seq(int64_t *p, int64_t v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
int32_t xchg_acquire(int32_t *p, int32_t v) { return __atomic_exchange_n(p, v, __ATOMIC_ACQUIRE); }
uint8_t xchg_byte(uint8_t *p) { return __atomic_exchange_n(p, 1, __ATOMIC_RELEASE); }
void *xchg_ptr(void **p, void *v) { return __atomic_exchange_n(p, v, __ATOMIC_ACQ_REL); }

bool cas_strong(int64_t *p, int64_t *expected, int64_t desired)
{
    return __atomic_compare_exchange_n(p, expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

bool cas_weak_acq(int32_t *p, int32_t expected, int32_t desired)
{
    return __atomic_compare_exchange_n(p, &expected, desired, true, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

bool cas_byte_release(uint8_t *p, uint8_t expected, uint8_t desired)
{
    return __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

bool cas_half(uint16_t *p, uint16_t expected)
{
    return __atomic_compare_exchange_n(p, &expected, expected + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

void *cas_ptr(void **p, void *expected, void *desired)
{
    __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
    return expected;
}

/* A shared refcount: increment unless the object is immortal, with a CAS loop. */
bool try_incref_shared(int64_t *shared)
{
    int64_t old = __atomic_load_n(shared, __ATOMIC_RELAXED);
    do {
        if (old < 0)
            return false;
    } while (!__atomic_compare_exchange_n(shared, &old, old + 4, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return true;
}

int64_t max_update(int64_t *p, int64_t v)
{
    int64_t cur = __atomic_load_n(p, __ATOMIC_ACQUIRE);
    while (cur < v && !__atomic_compare_exchange_n(p, &cur, v, true, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
        ;
    return cur;
}

int64_t load_acquire(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
int64_t load_seq(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
uint8_t load_byte_acquire(const uint8_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
uint16_t load_half_relaxed(const uint16_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
void store_release(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
void store_seq(int32_t *p, int32_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
void store_byte_seq(uint8_t *p, uint8_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
void store_half_release(uint16_t *p, uint16_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
void fence_seq(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
void fence_acquire(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
void fence_release(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }

typedef struct node { struct node *next; int64_t value; } node;

void push(node **head, node *n)
{
    node *old = __atomic_load_n(head, __ATOMIC_RELAXED);
    do {
        n->next = old;
    } while (!__atomic_compare_exchange_n(head, &old, n, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

node *pop_all(node **head) { return __atomic_exchange_n(head, (node *)0, __ATOMIC_ACQUIRE); }

int spin_lock(uint8_t *lock)
{
    int spins = 0;
    while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(lock, __ATOMIC_RELAXED))
            spins++;
    }
    return spins;
}

void spin_unlock(uint8_t *lock) { __atomic_store_n(lock, 0, __ATOMIC_RELEASE); }
