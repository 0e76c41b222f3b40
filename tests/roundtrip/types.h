/* Fixed-width types from the compiler's predefined macros, so that the sources need no C
 * library headers: the test compiles them for targets that have no sysroot on this machine.
 *
 * The loops in these sources carry `#pragma clang loop vectorize(disable)`: CPython's stencils
 * contain no vectorised loops, so the round trip covers scalar code (plus the few SSE/NEON forms
 * clang still picks for copies, constants and bit counts) rather than SIMD loop kernels.
 */
#ifndef ROUNDTRIP_TYPES_H
#define ROUNDTRIP_TYPES_H

typedef __INT8_TYPE__ int8_t;
typedef __INT16_TYPE__ int16_t;
typedef __INT32_TYPE__ int32_t;
typedef __INT64_TYPE__ int64_t;
typedef __UINT8_TYPE__ uint8_t;
typedef __UINT16_TYPE__ uint16_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINT64_TYPE__ uint64_t;
typedef __INTPTR_TYPE__ intptr_t;
typedef __UINTPTR_TYPE__ uintptr_t;
typedef __SIZE_TYPE__ size_t;
typedef __PTRDIFF_TYPE__ ptrdiff_t;
typedef _Bool bool;

#define NULL ((void *)0)
#define false 0
#define true 1
#define INT64_MIN (-__INT64_MAX__ - 1)

#endif
