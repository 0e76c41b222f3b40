"""Python models of the C functions that stencils call.

A model does to emulated memory what the CPython 3.14.7 function does: the objects it allocates
(through the same freelists, in the same order), the references it takes and releases, what it
returns, and on error the exception it leaves in ``tstate->current_exception`` with NULL / -1 as
the result. Each is tested against the host Python's own arithmetic (tests/test_runtime_cfuncs.py).

The machine calls a model through :meth:`CModel.call` with raw 64-bit register values (and
floats for ``double`` arguments) in C signature order; ``fn`` receives them converted per
``argtypes`` ("ptr" unsigned 64, "int" signed 64, "i32"/"u32" the low 32 bits, "double").
A function without a model gets one that raises RuntimeModelError naming it.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Callable

from refjit.errors import RuntimeModelError

MASK64 = (1 << 64) - 1
ARG_KINDS = ("ptr", "int", "i32", "u32", "double")
RESULT_KINDS = ARG_KINDS + ("void",)


class FatalError(RuntimeModelError):
    """_Py_FatalErrorFunc was called: the process would abort. The machine turns this into a
    fatal Outcome."""


@dataclass(frozen=True)
class CModel:
    name: str
    argtypes: tuple[str, ...]
    restype: str
    fn: Callable[..., Any]
    modelled: bool = True

    def call(self, process, raw_args) -> int | float | None:
        """Run the model on raw register values; returns the raw result (None for void)."""
        if len(raw_args) != len(self.argtypes):
            raise RuntimeModelError(f"{self.name} takes {len(self.argtypes)} arguments, got {len(raw_args)}")
        args = [_convert(kind, v) for kind, v in zip(self.argtypes, raw_args)]
        result = self.fn(process, *args)
        if self.restype == "void":
            return None
        if self.restype == "double":
            return float(result)
        if not isinstance(result, int):
            raise RuntimeModelError(f"model of {self.name} returned {result!r}, expected an int")
        return result & MASK64


def _convert(kind: str, v: Any) -> Any:
    if kind == "double":
        return float(v)
    v = int(v) & MASK64
    if kind == "ptr":
        return v
    if kind == "int":
        return v - (1 << 64) if v >> 63 else v
    v &= 0xFFFF_FFFF
    if kind == "i32":
        return v - (1 << 32) if v >> 31 else v
    return v


MODELS: dict[str, CModel] = {}

# Functions that get a stub although no stencil names them: reached through data tables
# (_PyEval_BinaryOps, tp_iternext, ...). The process adds those tables' stubs itself.
EXTRA_FUNCTIONS: tuple[str, ...] = ()


def model(name: str, argtypes: tuple[str, ...], restype: str):
    """Register ``fn(process, *args)`` as the model of C function ``name``."""
    for k in argtypes:
        if k not in ARG_KINDS:
            raise ValueError(f"{name}: bad argument kind {k!r}")
    if restype not in RESULT_KINDS:
        raise ValueError(f"{name}: bad result kind {restype!r}")

    def register(fn):
        MODELS[name] = CModel(name, tuple(argtypes), restype, fn)
        return fn

    return register


def model_for(name: str) -> CModel:
    m = MODELS.get(name)
    if m is not None:
        return m

    def unmodelled(process, *args):
        raise RuntimeModelError(f"{name} has no model")

    return CModel(name, (), "void", unmodelled, modelled=False)


# -- deallocation ------------------------------------------------------------------------------------

@model("_Py_Dealloc", ("ptr",), "void")
def _Py_Dealloc(p, op):
    p.dealloc(op)


@model("_PyLong_ExactDealloc", ("ptr",), "void")
def _PyLong_ExactDealloc(p, op):
    p.long_exact_dealloc(op)


@model("_PyFloat_ExactDealloc", ("ptr",), "void")
def _PyFloat_ExactDealloc(p, op):
    p.float_exact_dealloc(op)


# -- int arithmetic, following Objects/longobject.c allocation by allocation -------------------------

def _lv_tag(p, op):
    return p.mem.u64(op + p.o.lv_tag)


def _ndigits(p, op):
    return _lv_tag(p, op) >> 3


def _is_negative(p, op):
    return _lv_tag(p, op) & 3 == 2


def _from_stwodigits(p, v):
    """_PyLong_FromSTwoDigits: small int, medium (one digit) or large."""
    if -5 <= v <= 256:
        return p.small_int(v)
    if -0x3FFF_FFFF <= v <= 0x3FFF_FFFF:
        return p._long_from_medium(v)
    return p._long_from_large(v)


def _decref_int(p, op):
    """_Py_DECREF_INT: _Py_DECREF_SPECIALIZED with _PyLong_ExactDealloc (immortals untouched)."""
    if not p.is_immortal(op):
        p.close_stackref_specialized(op, p.long_exact_dealloc)


def _maybe_small_long(p, z):
    if _lv_tag(p, z) < 16:
        v = p.int_value(z)
        if -5 <= v <= 256:
            _decref_int(p, z)
            return p.small_int(v)
    return z


def _x_add(p, a, b):
    """|a| + |b| in a new int of max(size)+1 digits, normalised."""
    size = max(_ndigits(p, a), _ndigits(p, b)) + 1
    z = p._long_alloc(size)
    p._write_long_value(z, abs(p.int_value(a)) + abs(p.int_value(b)), size)
    return z


def _x_sub(p, a, b):
    """|a| - |b|: allocated with the digits that differ, then maybe_small_long."""
    sa, sb = _ndigits(p, a), _ndigits(p, b)
    if sa < sb:
        size = sb
    elif sa > sb:
        size = sa
    else:
        da = p.mem.read(a + p.o.digits, 4 * sa)
        db = p.mem.read(b + p.o.digits, 4 * sb)
        i = sa - 1
        while i >= 0 and da[4 * i : 4 * i + 4] == db[4 * i : 4 * i + 4]:
            i -= 1
        if i < 0:
            return p.small_int(0)  # PyLong_FromLong(0)
        size = i + 1
    z = p._long_alloc(size)
    p._write_long_value(z, abs(p.int_value(a)) - abs(p.int_value(b)), size)
    return _maybe_small_long(p, z)


def _flip_sign(p, z):
    tag = _lv_tag(p, z)
    p.mem.set_u64(z + p.o.lv_tag, (tag & ~3) | (2 - (tag & 3)))


def long_add(p, a, b):
    ta, tb = _lv_tag(p, a), _lv_tag(p, b)
    if (ta | tb) < 16:  # both compact: medium_value(a) + medium_value(b)
        d = p.o.digits
        return _from_stwodigits(p, (1 - (ta & 3)) * p.mem.u32(a + d) + (1 - (tb & 3)) * p.mem.u32(b + d))
    if _is_negative(p, a):
        if _is_negative(p, b):
            z = _x_add(p, a, b)
            _flip_sign(p, z)
            return z
        return _x_sub(p, b, a)
    if _is_negative(p, b):
        return _x_sub(p, a, b)
    return _x_add(p, a, b)


def long_sub(p, a, b):
    ta, tb = _lv_tag(p, a), _lv_tag(p, b)
    if (ta | tb) < 16:  # both compact: medium_value(a) - medium_value(b)
        d = p.o.digits
        return _from_stwodigits(p, (1 - (ta & 3)) * p.mem.u32(a + d) - (1 - (tb & 3)) * p.mem.u32(b + d))
    if _is_negative(p, a):
        if _is_negative(p, b):
            return _x_sub(p, b, a)
        z = _x_add(p, a, b)
        _flip_sign(p, z)
        return z
    if _is_negative(p, b):
        return _x_add(p, a, b)
    return _x_sub(p, a, b)


KARATSUBA_CUTOFF = 70


def long_mul(p, a, b):
    ta, tb = _lv_tag(p, a), _lv_tag(p, b)
    if (ta | tb) < 16:  # both compact: medium_value(a) * medium_value(b)
        d = p.o.digits
        return _from_stwodigits(p, (1 - (ta & 3)) * p.mem.u32(a + d) * (1 - (tb & 3)) * p.mem.u32(b + d))
    sa, sb = _ndigits(p, a), _ndigits(p, b)
    small = min(sa, sb)
    cutoff = 2 * KARATSUBA_CUTOFF if a == b else KARATSUBA_CUTOFF
    if small > cutoff:
        raise RuntimeModelError(
            f"multiplying ints of {sa} and {sb} digits takes CPython's Karatsuba path, whose temporaries are not modelled"
        )
    if small == 0:
        z = p.small_int(0)
    else:
        z = p._long_alloc(sa + sb)
        p._write_long_value(z, abs(p.int_value(a) * p.int_value(b)), sa + sb)
    if (_lv_tag(p, a) & 3) != (_lv_tag(p, b) & 3):  # _PyLong_Negate
        if p.refcnt(z) == 1:
            _flip_sign(p, z)
        else:
            w = _from_stwodigits(p, -p.int_value(z))
            p.decref(z)
            z = w
    return z


@model("_PyLong_Add", ("ptr", "ptr"), "ptr")
def _PyLong_Add(p, a, b):
    return long_add(p, a, b)


@model("_PyLong_Subtract", ("ptr", "ptr"), "ptr")
def _PyLong_Subtract(p, a, b):
    return long_sub(p, a, b)


@model("_PyLong_Multiply", ("ptr", "ptr"), "ptr")
def _PyLong_Multiply(p, a, b):
    return long_mul(p, a, b)


@model("PyLong_FromLong", ("int",), "ptr")
def PyLong_FromLong(p, v):
    return p.new_int(v)


@model("PyLong_FromSsize_t", ("int",), "ptr")
def PyLong_FromSsize_t(p, v):
    return p.new_int(v)


# -- float ---------------------------------------------------------------------------------------

@model("_PyFloat_FromDouble_ConsumeInputs", ("int", "int", "double"), "int")
def _PyFloat_FromDouble_ConsumeInputs(p, left, right, value):
    """Closes both stack refs (specialised float dealloc, so they may refill the freelist),
    then PyFloat_FromDouble; returns the result as a stack ref (steal)."""
    p.close_stackref_specialized(left & MASK64, p.float_exact_dealloc)
    p.close_stackref_specialized(right & MASK64, p.float_exact_dealloc)
    return p.stackref_steal(p.new_float(value))


# -- containers ----------------------------------------------------------------------------------

@model("_PyList_AppendTakeRefListResize", ("ptr", "ptr"), "i32")
def _PyList_AppendTakeRefListResize(p, lst, item):
    n = p.mem.i64(lst + p.o.ob_size)
    p.list_resize(lst, n + 1)
    p.mem.set_u64(p.mem.u64(lst + p.o.list_items) + 8 * n, item)
    return 0


@model("PyTuple_GetItem", ("ptr", "int"), "ptr")
def PyTuple_GetItem(p, op, i):
    """Borrowed reference; SystemError for a non-tuple, IndexError out of range."""
    if p.type_name(op) != "tuple":
        p.set_exception("SystemError", "bad argument to internal function")
        return 0
    n = p.mem.i64(op + p.o.ob_size)
    if i < 0 or i >= n:
        p.set_exception("IndexError", "tuple index out of range")
        return 0
    return p.mem.u64(op + p.o.tuple_items + 8 * i)


# -- iterators (tp_iternext of the three iterator types) ------------------------------------------

@model("rangeiter_next", ("ptr",), "ptr")
def rangeiter_next(p, it):
    o = p.o
    n = p.mem.i64(it + o.range_len)
    if n <= 0:
        return 0
    start = p.mem.i64(it + o.range_start)
    p.mem.set_i64(it + o.range_start, start + p.mem.i64(it + o.range_step))
    p.mem.set_i64(it + o.range_len, n - 1)
    return p.new_int(start)


@model("listiter_next", ("ptr",), "ptr")
def listiter_next(p, it):
    o = p.o
    index = p.mem.i64(it + o.li_index)
    if index < 0:
        return 0
    seq = p.mem.u64(it + o.li_seq)
    if index >= p.mem.i64(seq + o.ob_size):
        p.mem.set_i64(it + o.li_index, -1)
        p.mem.set_u64(it + o.li_seq, 0)
        p.decref(seq)
        return 0
    item = p.mem.u64(p.mem.u64(seq + o.list_items) + 8 * index)
    p.incref(item)
    p.mem.set_i64(it + o.li_index, index + 1)
    return item


@model("tupleiter_next", ("ptr",), "ptr")
def tupleiter_next(p, it):
    o = p.o
    seq = p.mem.u64(it + o.ti_seq)
    if seq == 0:
        return 0
    index = p.mem.i64(it + o.ti_index)
    if index < p.mem.i64(seq + o.ob_size):
        p.mem.set_i64(it + o.ti_index, index + 1)
        item = p.mem.u64(seq + o.tuple_items + 8 * index)
        p.incref(item)
        return item
    p.mem.set_u64(it + o.ti_seq, 0)
    p.decref(seq)
    return 0


# -- errors, eval breaker, optimizer, fatal errors -------------------------------------------------

def _format_c(fmt: str, arg: str) -> str:
    """The subset of PyUnicode_FromFormat that CPython's name-error messages use: %s, %.Ns, %%."""
    out, i, used = [], 0, False
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        j = i + 1
        prec = None
        if j < len(fmt) and fmt[j] == ".":
            k = j + 1
            while k < len(fmt) and fmt[k].isdigit():
                k += 1
            prec = int(fmt[j + 1 : k])
            j = k
        if j < len(fmt) and fmt[j] == "%" and prec is None:
            out.append("%")
        elif j < len(fmt) and fmt[j] == "s" and not used:
            out.append(arg if prec is None else arg[:prec])
            used = True
        else:
            raise RuntimeModelError(f"format {fmt!r}: conversion {fmt[i:j + 1]!r} is not modelled")
        i = j + 1
    return "".join(out)


@model("_PyEval_FormatExcCheckArg", ("ptr", "ptr", "ptr", "ptr"), "void")
def _PyEval_FormatExcCheckArg(p, tstate, exc_type, format_str, obj):
    if not obj:
        return
    if p.type_name(obj) != "str":
        raise RuntimeModelError(f"_PyEval_FormatExcCheckArg: the name is a {p.type_name(obj)}, not a str")
    tp_name = p._type_by_addr.get(exc_type)
    if tp_name is None:
        raise RuntimeModelError(f"_PyEval_FormatExcCheckArg: {exc_type:#x} is not an exception type of the process")
    exc = p.set_exception(tp_name, _format_c(p.mem.read_cstring(format_str), p.str_value(obj)))
    if tp_name == "NameError":  # the name is kept for suggestions (PyNameErrorObject.name)
        p.incref(obj)
        p.mem.set_u64(exc + p.profile.sizeof("PyBaseExceptionObject"), obj)


@model("_Py_HandlePending", ("ptr",), "i32")
def _Py_HandlePending(p, tstate):
    """Single-threaded process with no signals, pending calls or GC to run: the handled event
    bits are cleared; JIT_INVALIDATE_COLD invalidates cold executors and resets the counter;
    an async exception is raised (-1)."""
    c = p.consts
    t = p.view("PyThreadState", tstate)
    breaker = t.eval_breaker
    cleared = (c._PY_EVAL_PLEASE_STOP_BIT | c._PY_SIGNALS_PENDING_BIT | c._PY_CALLS_TO_DO_BIT
               | c._PY_GC_SCHEDULED_BIT | c._PY_GIL_DROP_REQUEST_BIT)
    if breaker & c._PY_EVAL_JIT_INVALIDATE_COLD_BIT:
        cleared |= c._PY_EVAL_JIT_INVALIDATE_COLD_BIT
        p.invalidate_cold_executors()
        p.view("PyInterpreterState", t.interp).trace_run_counter = c.JIT_CLEANUP_THRESHOLD
    result = 0
    if breaker & c._PY_ASYNC_EXCEPTION_BIT:
        cleared |= c._PY_ASYNC_EXCEPTION_BIT
        exc_type = t.async_exc
        if exc_type:
            t.async_exc = 0
            name = p._type_by_addr.get(exc_type)
            if name is None:
                raise RuntimeModelError(f"async_exc {exc_type:#x} is not an exception type of the process")
            p.set_exception(name)
            p.decref(exc_type)
            result = -1
    t.eval_breaker = breaker & ~cleared
    return result


@model("_PyOptimizer_Optimize", ("ptr", "ptr", "ptr", "i32"), "i32")
def _PyOptimizer_Optimize(p, frame, start, executor_ptr, chain_depth):
    """Declines (0, no executor) unless the process has an ``optimizer`` hook."""
    hook = getattr(p, "optimizer", None)
    if hook is None:
        return 0
    return hook(p, frame, start, executor_ptr, chain_depth)


@model("_Py_FatalErrorFunc", ("ptr", "ptr"), "void")
def _Py_FatalErrorFunc(p, func, msg):
    where = p.mem.read_cstring(func) if func else "?"
    text = p.mem.read_cstring(msg) if msg else ""
    raise FatalError(f"Fatal Python error: {where}: {text}")


# -- _PyEval_BinaryOps: the PyNumber_* functions on int, float, bool (and a few sequences) ----------

_VALUE_TYPES = ("int", "bool", "float", "str", "NoneType", "tuple", "list")
MAX_RESULT_BITS = 1 << 20  # refuse to compute ints larger than this (a hang, not a result)


def _operand(p, op, fname):
    name = p.type_name(op)
    if name not in _VALUE_TYPES:
        raise RuntimeModelError(f"{fname} on a {name} operand is not modelled")
    return p.to_python(op)


def _too_big(fname, x, y):
    if fname.endswith(("Power", "PowerNoMod")) and isinstance(x, int) and isinstance(y, int) and y > 0:
        return abs(x) > 1 and x.bit_length() * y > MAX_RESULT_BITS
    if fname.endswith("Lshift") and isinstance(x, int) and isinstance(y, int):
        return x != 0 and y > MAX_RESULT_BITS
    if fname.endswith("Multiply") and isinstance(x, (str, tuple, list)) and isinstance(y, int):
        return len(x) * y > MAX_RESULT_BITS
    return False


def _result(p, r, fname):
    """The object an operator's C function returns for the Python result ``r``."""
    if isinstance(r, str):
        if len(r) == 1 and r.isascii():  # single ASCII characters are static singletons
            return p.runtime + p.profile.const("strings.ascii") + p.o.ascii_stride * ord(r)
        if r == "":
            return p.runtime + p.profile.const("strings.empty")
    elif r is not None and not isinstance(r, (int, float)):  # bool is an int
        raise RuntimeModelError(f"{fname} producing a {type(r).__name__} is not modelled")
    return p.from_python(r)


def _getitem(x, y):
    return x[y]


_EXACT_INT = {"PyNumber_Add": long_add, "PyNumber_InPlaceAdd": long_add,
              "PyNumber_Subtract": long_sub, "PyNumber_InPlaceSubtract": long_sub,
              "PyNumber_Multiply": long_mul, "PyNumber_InPlaceMultiply": long_mul}


def _binary_model(fname: str, pyop: Callable[[Any, Any], Any]):
    def fn(p, a, b):
        x = _operand(p, a, fname)
        y = _operand(p, b, fname)
        # int (and bool, an int subclass without its own arithmetic) + - * follow long_add & co.
        if fname in _EXACT_INT and p.type_name(a) in ("int", "bool") and p.type_name(b) in ("int", "bool"):
            return _EXACT_INT[fname](p, a, b)
        if fname == "PyObject_GetItem" and isinstance(x, (tuple, list)) and isinstance(y, int) and -len(x) <= y < len(x):
            items = p.tuple_items(a) if isinstance(x, tuple) else p.list_items(a)
            item = items[y]
            p.incref(item)
            return item
        if _too_big(fname, x, y):
            raise RuntimeModelError(f"{fname}: the result would exceed {MAX_RESULT_BITS} bits")
        try:
            r = pyop(x, y)
        except ZeroDivisionError:
            # the host's wording may be older ("integer division or modulo by zero"); 3.14's:
            p.set_exception("ZeroDivisionError", p.profile.const("ZERO_POW_MSG" if pyop is operator.pow
                                                                 else "ZERO_DIVISION_MSG"))
            return 0
        except (ArithmeticError, TypeError, ValueError, LookupError) as err:
            p.set_exception(type(err).__name__, *err.args)
            return 0
        return _result(p, r, fname)

    return fn


_PYOPS: dict[str, Callable[[Any, Any], Any]] = {
    "Add": operator.add, "And": operator.and_, "FloorDivide": operator.floordiv, "Lshift": operator.lshift,
    "MatrixMultiply": operator.matmul, "Multiply": operator.mul, "Remainder": operator.mod, "Or": operator.or_,
    "Rshift": operator.rshift, "Subtract": operator.sub, "TrueDivide": operator.truediv, "Xor": operator.xor,
}

for _suffix, _op in _PYOPS.items():
    for _fname in (f"PyNumber_{_suffix}", f"PyNumber_InPlace{_suffix}"):
        MODELS[_fname] = CModel(_fname, ("ptr", "ptr"), "ptr", _binary_model(_fname, _op))
for _fname in ("_PyNumber_PowerNoMod", "_PyNumber_InPlacePowerNoMod"):
    MODELS[_fname] = CModel(_fname, ("ptr", "ptr"), "ptr", _binary_model(_fname, operator.pow))
MODELS["PyObject_GetItem"] = CModel("PyObject_GetItem", ("ptr", "ptr"), "ptr", _binary_model("PyObject_GetItem", _getitem))


# -- more of the object protocol (beyond the loop slice): truth, comparison, unary ops, sizes,
#    iteration, building tuples and lists from the stack -------------------------------------------

_SCALARS = ("int", "bool", "float", "str", "NoneType")
_COMPARE = (operator.lt, operator.le, operator.eq, operator.ne, operator.gt, operator.ge)  # Py_LT .. Py_GE


def _scalar(p, op, fname):
    name = p.type_name(op)
    if name not in _SCALARS:
        raise RuntimeModelError(f"{fname} on a {name} is not modelled")
    return p.to_python(op)


def _host_call(p, fname, fn, *args):
    """Run the host's operation; an exception it raises becomes the emulated exception."""
    try:
        return True, fn(*args)
    except (ArithmeticError, TypeError, ValueError, LookupError) as err:
        p.set_exception(type(err).__name__, *err.args)
        return False, None


@model("PyObject_IsTrue", ("ptr",), "i32")
def PyObject_IsTrue(p, op):
    name = p.type_name(op)
    if name in ("tuple", "list"):
        return 1 if p.mem.i64(op + p.o.ob_size) else 0
    return 1 if _scalar(p, op, "PyObject_IsTrue") else 0


@model("PyObject_RichCompare", ("ptr", "ptr", "i32"), "ptr")
def PyObject_RichCompare(p, a, b, cmp):
    if not 0 <= cmp < len(_COMPARE):
        raise RuntimeModelError(f"PyObject_RichCompare: bad comparison operator {cmp}")
    ok, r = _host_call(p, "PyObject_RichCompare", _COMPARE[cmp],
                       _scalar(p, a, "PyObject_RichCompare"), _scalar(p, b, "PyObject_RichCompare"))
    return p.new_bool(r) if ok else 0


def _unary(fname, fn):
    def model_fn(p, op):
        ok, r = _host_call(p, fname, fn, _scalar(p, op, fname))
        return _result(p, r, fname) if ok else 0

    return model_fn


MODELS["PyNumber_Negative"] = CModel("PyNumber_Negative", ("ptr",), "ptr", _unary("PyNumber_Negative", operator.neg))
MODELS["PyNumber_Invert"] = CModel("PyNumber_Invert", ("ptr",), "ptr", _unary("PyNumber_Invert", operator.invert))


@model("PyObject_Size", ("ptr",), "int")
def PyObject_Size(p, op):
    name = p.type_name(op)
    if name in ("tuple", "list"):
        return p.mem.i64(op + p.o.ob_size)
    ok, r = _host_call(p, "PyObject_Size", len, _scalar(p, op, "PyObject_Size"))
    return r if ok else -1


@model("PySequence_Contains", ("ptr", "ptr"), "i32")
def PySequence_Contains(p, seq, item):
    """list/tuple: identity first, then ==, as PyObject_RichCompareBool does; str: substring."""
    name = p.type_name(seq)
    if name in ("tuple", "list"):
        items = p.tuple_items(seq) if name == "tuple" else p.list_items(seq)
        needle = None
        for x in items:
            if x == item:
                return 1
            if needle is None:
                needle = _scalar(p, item, "PySequence_Contains")
            ok, eq = _host_call(p, "PySequence_Contains", operator.eq, _scalar(p, x, "PySequence_Contains"), needle)
            if not ok:
                return -1
            if eq:
                return 1
        return 0
    ok, r = _host_call(p, "PySequence_Contains", operator.contains, _scalar(p, seq, "PySequence_Contains"),
                       _scalar(p, item, "PySequence_Contains"))
    return (1 if r else 0) if ok else -1


@model("PyObject_GetIter", ("ptr",), "ptr")
def PyObject_GetIter(p, op):
    name = p.type_name(op)
    if name == "list":
        return p.new_list_iter(op)
    if name == "tuple":
        return p.new_tuple_iter(op)
    if name in ("range_iterator", "list_iterator", "tuple_iterator"):
        p.incref(op)  # an iterator is its own iterator
        return op
    ok, _ = _host_call(p, "PyObject_GetIter", iter, _scalar(p, op, "PyObject_GetIter"))
    if ok:
        raise RuntimeModelError(f"PyObject_GetIter on a {name} (a str iterator) is not modelled")
    return 0


def _steal_stackrefs(p, src, n):
    """PyStackRef_AsPyObjectSteal of n stack refs: owned ones move, borrowed ones get Py_NewRef."""
    out = []
    for i in range(n):
        bits = p.mem.u64(src + 8 * i)
        obj = bits & ~1 & MASK64
        if bits & 1:
            p.incref(obj)
        out.append(obj)
    return out


@model("_PyTuple_FromStackRefStealOnSuccess", ("ptr", "int"), "ptr")
def _PyTuple_FromStackRefStealOnSuccess(p, src, n):
    if n == 0:
        return p.empty_tuple
    op = p.new_tuple([0] * n, steal=True)  # tuple_alloc first, then the items move in
    for i, obj in enumerate(_steal_stackrefs(p, src, n)):
        p.mem.set_u64(op + p.o.tuple_items + 8 * i, obj)
    return op


@model("_PyList_FromStackRefStealOnSuccess", ("ptr", "int"), "ptr")
def _PyList_FromStackRefStealOnSuccess(p, src, n):
    op = p.new_list([0] * n, steal=True)  # PyList_New(n): zeroed items
    arr = p.mem.u64(op + p.o.list_items)
    for i, obj in enumerate(_steal_stackrefs(p, src, n)):
        p.mem.set_u64(arr + 8 * i, obj)
    return op
