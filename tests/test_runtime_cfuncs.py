"""The C-function models against the host Python: values, types, exceptions and the small-int
cache come from the host's own arithmetic; reference counts and freelist reuse from what the
3.14.7 C code does (each expectation says which function it follows)."""

import operator
import struct
import sys

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from refjit.errors import RuntimeModelError
from refjit.profile import load_profile
from refjit.runtime import FatalError, Process, stackref_borrowed, stackref_owned
from refjit.runtime.heap import POISON_FREED

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MASK64 = (1 << 64) - 1


@pytest.fixture(scope="module", params=["x86_64", "aarch64"])
def proc_and_snap(request):
    p = Process(load_profile("3.14", request.param))
    p.snapshot_for_tests = p.snapshot()
    return p, p.snapshot_for_tests


@pytest.fixture
def proc(proc_and_snap):
    p, snap = proc_and_snap
    p.restore(snap)
    return p


def fresh(p):
    """Each hypothesis example starts from the freshly built process (the fixture runs once per test)."""
    p.restore(p.snapshot_for_tests)
    return p


def call(p, name, *args):
    """Call a model the way the machine does: through the stub's registered CModel."""
    model = p.model_at(p.symbols[name])
    assert model is not None and model.name == name
    raw = [a if isinstance(a, float) else a & MASK64 for a in args]
    return model.call(p, raw)


def check_new_int(p, op, expected):
    """A result as PyLong_* functions return it: the static small int for -5..256, else a fresh
    mortal int with refcount 1 whose digits are the host's 30-bit digits."""
    assert op != 0
    assert p.type_name(op) == "int"
    assert p.int_value(op) == expected
    if -5 <= expected <= 256:
        assert op == p.small_int(expected)
    else:
        assert p.refcnt(op) == 1 and not p.is_immortal(op)
        ndigits = (abs(expected).bit_length() + 29) // 30
        assert p.mem.u64(op + 16) >> 3 == ndigits
        assert (p.mem.u64(op + 16) & 3) == (0 if expected > 0 else 2)


# ints: small, compact (one digit), a few digits, many digits (below the Karatsuba cutoff)
ints = st.one_of(
    st.integers(-5, 256),
    st.integers(-(2**30) + 1, 2**30 - 1),
    st.integers(-(2**90), 2**90),
    st.integers(-(2**1500), 2**1500),
    st.sampled_from([2**30, -(2**30), 2**30 - 1, 2**60, -(2**60) + 1, 2**31 + 7]),
)


@pytest.mark.parametrize("name,op", [("_PyLong_Add", operator.add), ("_PyLong_Subtract", operator.sub),
                                     ("_PyLong_Multiply", operator.mul)])
@SETTINGS
@given(a=ints, b=ints)
def test_long_arith(proc, name, op, a, b):
    fresh(proc)
    x, y = proc.new_int(a), proc.new_int(b)
    rx, ry = proc.refcnt(x), proc.refcnt(y)
    r = call(proc, name, x, y)
    check_new_int(proc, r, op(a, b))
    # operands are borrowed: refcounts unchanged
    assert proc.refcnt(x) == rx and proc.refcnt(y) == ry
    # and nothing else stays allocated but the result and the operands
    live = {blk.address for blk in proc.heap.live()}
    assert live <= {x, y, r}


def test_long_add_reuses_the_ints_freelist(proc):
    # long_add of two compact ints -> _PyLong_FromMedium, which pops the ints freelist (LIFO)
    a, b, t = proc.new_int(1000), proc.new_int(2000), proc.new_int(7777)
    proc.decref(t)  # _PyLong_ExactDealloc path: compact -> freelist
    assert proc.read_object(t).state == "freelist"
    assert proc.new_int(4444) == t  # PyLong_FromLong pops it too
    proc.decref(t)
    r = call(proc, "_PyLong_Add", a, b)
    assert r == t and proc.int_value(r) == 3000 and proc.refcnt(r) == 1


def test_long_sub_to_small_int_parks_the_temporary(proc):
    # x_sub allocates the difference, maybe_small_long finds it small, decrefs it (to the ints
    # freelist) and returns the static small int.
    a, b = proc.new_int(2**31 + 5), proc.new_int(2**31)
    r = call(proc, "_PyLong_Subtract", a, b)
    assert r == proc.small_int(5)
    assert len(proc.freelists["ints"]) == 1
    assert proc.heap.freelisted()[0].type == "int"


def test_long_allocation_sizes(proc):
    # x_add allocates max(size_a, size_b) + 1 digits: two 2-digit ints -> 24 + 4*3 = 36 -> 48-byte block
    r = call(proc, "_PyLong_Add", proc.new_int(2**40), proc.new_int(2**41))
    assert proc.heap.block(r).size == 48 and proc.long_digit_count(r) == 2
    # x_sub with equal sizes allocates up to the highest differing digit: 1 digit -> 28 -> 32
    r = call(proc, "_PyLong_Add", proc.new_int(2**60 + 9), proc.new_int(-(2**60)))
    assert r == proc.small_int(9)
    (parked,) = proc.heap.freelisted()
    assert parked.size == 32
    # x_mul allocates size_a + size_b digits: 2 + 3 -> 24 + 20 = 44 -> 48, normalised to 4 digits
    r = call(proc, "_PyLong_Multiply", proc.new_int(2**40), proc.new_int(-(2**62)))
    assert proc.int_value(r) == -(2**102) and proc.long_digit_count(r) == 4
    assert proc.heap.block(r).size == 48


def test_long_multiply_karatsuba_refused(proc):
    big = proc.new_int(3**3000)  # ~160 digits each: Karatsuba
    with pytest.raises(RuntimeModelError, match="Karatsuba"):
        call(proc, "_PyLong_Multiply", big, big)


@SETTINGS
@given(v=st.integers(-(2**63), 2**63 - 1))
def test_pylong_fromlong(proc, v):
    fresh(proc)
    # the argument arrives as a raw 64-bit register value
    check_new_int(proc, call(proc, "PyLong_FromLong", v & MASK64), v)


floats = st.floats(allow_nan=False, width=64) | st.sampled_from([0.0, -0.0, 1.5, float("inf")])


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul])
@SETTINGS
@given(a=floats, b=floats, owned_a=st.booleans(), owned_b=st.booleans())
def test_float_consume_inputs(proc, op, a, b, owned_a, owned_b):
    fresh(proc)
    x, y = proc.new_float(a), proc.new_float(b)
    ra = stackref_owned(x) if owned_a else stackref_borrowed(x)
    rb = stackref_owned(y) if owned_b else stackref_borrowed(y)
    if not owned_a:
        proc.incref(x)  # someone else holds the reference the borrowed stack ref points at
    if not owned_b:
        proc.incref(y)
    res = call(proc, "_PyFloat_FromDouble_ConsumeInputs", ra, rb, op(a, b))
    obj = res & ~1
    assert res & 1 == 0  # a fresh float is mortal: PyStackRef_FromPyObjectSteal leaves bit 0 clear
    assert proc.type_name(obj) == "float"
    assert struct.pack("<d", proc.float_value(obj)) == struct.pack("<d", op(a, b))
    assert proc.refcnt(obj) == 1
    if owned_b:  # right was closed last, so PyFloat_FromDouble pops it back off the freelist
        assert obj == y
    elif owned_a:
        assert obj == x
    else:
        assert obj not in (x, y) and proc.refcnt(x) == 2 and proc.refcnt(y) == 2


def test_float_freelist_limit(proc):
    fs = [proc.new_float(float(i)) for i in range(101)]
    for f in fs:
        proc.set_refcnt(f, 0)
        call(proc, "_PyFloat_ExactDealloc", f)
    # Py_floats_MAXFREELIST = 100: the 101st is returned to the allocator and poisoned
    assert len(proc.freelists["floats"]) == 100
    assert proc.read_object(fs[-1]).state == "freed"
    assert proc.mem.read(fs[-1], 24) == bytes([POISON_FREED]) * 24
    # the freelist links through the first word (LIFO: newest first)
    assert proc.mem.u64(fs[99]) == fs[98]
    assert proc.new_float(1.0) == fs[99]


# -- _PyEval_BinaryOps -------------------------------------------------------------------------

NB = ["add", "and_", "floordiv", "lshift", "matmul", "mul", "mod", "or_", "pow", "rshift", "sub", "truediv", "xor"]
HOST_OPS = [getattr(operator, n) for n in NB] * 2 + [operator.getitem]

operands = st.one_of(
    st.integers(-1000, 1000), st.integers(-(2**70), 2**70), st.booleans(),
    st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0, 0.0, -1, 2**64, 1e308]),
)


def _host(op, a, b):
    try:
        return "ok", op(a, b)
    except ZeroDivisionError:
        # CPython 3.14's wording, measured on a 3.14.7 build: every int/float division or modulo
        # by zero says "division by zero", a zero base to a negative power "zero to a negative
        # power" (the host may be older: "integer division or modulo by zero", ...).
        return "exc", ("ZeroDivisionError", ("zero to a negative power" if op is operator.pow else "division by zero",))
    except (ArithmeticError, TypeError, ValueError, LookupError) as e:
        return "exc", (type(e).__name__, e.args)


@pytest.mark.parametrize("nb", range(27))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=operands, b=operands)
def test_binary_ops_table(proc, nb, a, b):
    fresh(proc)
    host_op = HOST_OPS[nb]
    if host_op is operator.pow and isinstance(b, int) and abs(b) > 64:
        b = b % 64
    if host_op in (operator.lshift,) and isinstance(b, int) and not isinstance(b, bool) and b > 200:
        b = b % 200
    kind, expected = _host(host_op, a, b)
    assume(not isinstance(expected, complex))  # complex numbers are not modelled (a clear error)
    fn = proc.mem.u64(proc.symbols["_PyEval_BinaryOps"] + 8 * nb)
    model = proc.model_at(fn)
    x, y = proc.from_python(a), proc.from_python(b)
    rx, ry = proc.refcnt(x), proc.refcnt(y)
    r = model.call(proc, [x, y])
    assert proc.refcnt(x) == rx and proc.refcnt(y) == ry
    if kind == "exc":
        assert r == 0
        exc = proc.current_exception()
        assert proc.exception_info(exc) == expected
        return
    assert r != 0 and proc.current_exception() == 0
    got = proc.to_python(r)
    assert type(got) is type(expected)
    if isinstance(expected, float):
        assert struct.pack("<d", got) == struct.pack("<d", expected)
    else:
        assert got == expected
    if isinstance(expected, bool):
        assert r == proc.new_bool(expected)
    elif isinstance(expected, int):
        check_new_int(proc, r, expected)
    else:
        assert proc.refcnt(r) == 1


def test_binary_ops_table_names(proc):
    # Python/ceval.c: _PyEval_BinaryOps[NB_ADD] = PyNumber_Add ... [NB_SUBSCR] = PyObject_GetItem
    base = proc.symbols["_PyEval_BinaryOps"]
    names = [proc.model_at(proc.mem.u64(base + 8 * i)).name for i in range(27)]
    assert names[0] == "PyNumber_Add" and names[8] == "_PyNumber_PowerNoMod"
    assert names[13] == "PyNumber_InPlaceAdd" and names[26] == "PyObject_GetItem"
    assert len(set(names)) == 27


def test_binary_op_getitem_sequences(proc):
    t = proc.from_python((10, 2000, 3.5))
    item = proc.mem.u64(t + 32 + 8)
    rc = proc.refcnt(item)
    r = proc.model_at(proc.mem.u64(proc.symbols["_PyEval_BinaryOps"] + 8 * 26)).call(proc, [t, proc.new_int(-2)])
    assert r == item and proc.refcnt(item) == rc + 1  # a new reference to the same object


# -- lists and tuples ----------------------------------------------------------------------------

def test_list_append_growth_matches_host(proc):
    lst = proc.new_list([])
    host = []
    for i in range(60):
        item = proc.new_int(100000 + i)
        # _PyList_AppendTakeRef calls the resize path when allocated == len
        if proc.mem.i64(lst + 32) == proc.mem.i64(lst + 16):
            assert call(proc, "_PyList_AppendTakeRefListResize", lst, item) == 0
        else:
            n = proc.mem.i64(lst + 16)
            proc.mem.set_u64(proc.mem.u64(lst + 24) + 8 * n, item)
            proc.mem.set_i64(lst + 16, n + 1)
        host.append(i)
        # the host's list_resize is the same algorithm: allocated = (getsizeof - header) / 8
        host_allocated = (sys.getsizeof(host) - sys.getsizeof([])) // 8
        assert proc.mem.i64(lst + 32) == host_allocated
        assert proc.refcnt(item) == 1  # the reference was taken, not copied
    assert proc.to_python(lst) == [100000 + i for i in range(60)]


@SETTINGS
@given(items=st.lists(st.integers(-10, 10**12), max_size=6), i=st.integers(-3, 8))
def test_tuple_getitem(proc, items, i):
    fresh(proc)
    t = proc.from_python(tuple(items))
    r = call(proc, "PyTuple_GetItem", t, i)
    try:
        expected = ("ok", tuple(items)[i]) if i >= 0 else ("exc", ("IndexError", ("tuple index out of range",)))
    except IndexError as e:
        expected = ("exc", ("IndexError", e.args))
    if expected[0] == "ok":
        assert r == proc.tuple_items(t)[i]
        assert proc.to_python(r) == expected[1]
    else:
        assert r == 0 and proc.exception_info(proc.current_exception()) == expected[1]


def test_tuple_getitem_not_a_tuple(proc):
    assert call(proc, "PyTuple_GetItem", proc.from_python([1]), 0) == 0
    assert proc.exception_info(proc.current_exception())[0] == "SystemError"


# -- _Py_Dealloc per type ---------------------------------------------------------------------

def _drop(p, op):
    """Take the last reference away and call _Py_Dealloc, as Py_DECREF does."""
    assert p.refcnt(op) == 1
    p.set_refcnt(op, 0)
    call(p, "_Py_Dealloc", op)


def test_dealloc_tuple_releases_items(proc):
    a, b = proc.new_int(10**12), proc.new_float(2.0)
    t = proc.new_tuple([a, b], steal=True)
    _drop(proc, t)
    assert proc.read_object(a).state == "freed"  # multi-digit int: PyObject_Free
    assert proc.read_object(b).state == "freelist"
    assert proc.read_object(t).state == "freelist" and proc.freelists["tuples[1]"] == [t]
    assert proc.new_tuple([proc.new_int(1), proc.new_int(2)]) == t  # tuple_alloc reuses it


def test_dealloc_list_frees_array(proc):
    a = proc.new_int(5000)
    lst = proc.new_list([a, a], allocated=8)
    arr = proc.mem.u64(lst + 24)
    assert proc.refcnt(a) == 3
    proc.decref(a)
    _drop(proc, lst)
    assert proc.read_object(a).state == "freelist"
    assert proc.heap.block(arr).state == "freed"
    assert proc.mem.read(arr, 64) == bytes([POISON_FREED]) * 64
    assert proc.read_object(lst).state == "freelist"


def test_dealloc_iterators(proc):
    lst = proc.from_python([1, 2])
    it = proc.new_list_iter(lst)
    proc.decref(lst)
    _drop(proc, it)
    assert proc.read_object(lst).state == "freelist"  # the iterator held the last reference
    r = proc.new_range_iter(0, 10)
    _drop(proc, r)
    assert proc.freelists["range_iters"] == [r]


def test_dealloc_small_int_reimmortalises(proc):
    z = proc.small_int(0)
    proc.set_refcnt(z, 0)
    call(proc, "_Py_Dealloc", z)
    assert proc.is_immortal(z) and proc.mem.u16(z + 6) & 1


def test_dealloc_unknown_type_is_an_error(proc):
    e = proc.new_executor([])
    proc.set_refcnt(e, 0)
    call(proc, "_Py_Dealloc", e)  # executors are modelled
    code = proc.new_code(b"\0\0")
    with pytest.raises(RuntimeModelError, match="deallocation of a code object"):
        proc.dealloc(code)


# -- iterators' tp_iternext --------------------------------------------------------------------

@SETTINGS
@given(start=st.integers(-50, 50), stop=st.integers(-50, 50), step=st.integers(-7, 7).filter(bool))
def test_rangeiter_next(proc, start, stop, step):
    fresh(proc)
    it = proc.new_range_iter(start, stop, step)
    fn = proc.model_at(proc.view("PyTypeObject", proc.symbols["PyRangeIter_Type"]).tp_iternext)
    got = []
    while True:
        r = fn.call(proc, [it])
        if r == 0:
            break
        got.append(proc.int_value(r))
        assert len(got) <= 200
    assert got == list(range(start, stop, step))


def test_list_and_tuple_iter_next(proc):
    for make, tp in ((proc.new_list_iter, "PyListIter_Type"), (proc.new_tuple_iter, "PyTupleIter_Type")):
        seq = proc.from_python([5000, 6000] if tp == "PyListIter_Type" else (5000, 6000))
        it = make(seq)
        fn = proc.model_at(proc.view("PyTypeObject", proc.symbols[tp]).tp_iternext)
        a = fn.call(proc, [it])
        assert proc.int_value(a) == 5000 and proc.refcnt(a) == 2  # a new reference
        fn.call(proc, [it])
        assert proc.refcnt(seq) == 2
        assert fn.call(proc, [it]) == 0  # exhausted: the iterator drops its sequence
        assert proc.refcnt(seq) == 1 and proc.mem.u64(it + 24) == 0


# -- errors and the interpreter's helpers -----------------------------------------------------

def test_format_exc_check_arg_matches_host(proc):
    msg = proc.mem_malloc(64)
    proc.mem.write(msg, b"name '%.200s' is not defined\0")  # NAME_ERROR_MSG
    name = proc.new_str("undefined_thing")
    call(proc, "_PyEval_FormatExcCheckArg", proc.tstate, proc.mem.u64(proc.symbols["PyExc_NameError"]), msg, name)
    try:
        undefined_thing  # noqa: F821
    except NameError as e:
        host = ("NameError", e.args)
    assert proc.exception_info(proc.current_exception()) == host
    assert proc.refcnt(name) == 2  # kept as NameError.name
    proc.clear_exception()  # deallocating the NameError releases the name again
    assert proc.refcnt(name) == 1


def test_handle_pending(proc):
    t = proc.view("PyThreadState", proc.tstate)
    iv = proc.view("PyInterpreterState", proc.interp)
    cold = proc.new_executor([])
    warm = proc.new_executor([])
    proc.view("_PyExecutorObject", cold)["vm_data.warm"] = 0
    iv.trace_run_counter = 0
    t.eval_breaker = 0x80 | 0x10 | (3 << 8)  # JIT_INVALIDATE_COLD | GC_SCHEDULED, instrumentation version 3
    assert call(proc, "_Py_HandlePending", proc.tstate) == 0
    assert t.eval_breaker == 3 << 8  # event bits handled, version bits kept
    assert iv.trace_run_counter == 100000  # JIT_CLEANUP_THRESHOLD
    assert proc.view("_PyExecutorObject", cold)["vm_data.valid"] == 0
    w = proc.view("_PyExecutorObject", warm)
    assert w["vm_data.valid"] == 1 and w["vm_data.warm"] == 0


def test_optimizer_declines_and_fatal_error(proc):
    assert call(proc, "_PyOptimizer_Optimize", 0, 0, 0, 0) == 0
    f = proc.mem_malloc(32)
    proc.mem.write(f, b"_JIT_ENTRY\0")
    m = proc.mem_malloc(32)
    proc.mem.write(m, b"Fatal error uop executed.\0")
    with pytest.raises(FatalError, match="_JIT_ENTRY: Fatal error uop executed"):
        call(proc, "_Py_FatalErrorFunc", f, m)


def test_unmodelled_function_names_itself(proc):
    with pytest.raises(RuntimeModelError, match="PyDict_New has no model"):
        proc.model_at(proc.symbols["PyDict_New"]).call(proc, [])


def test_unbound_local_message_matches_host(proc):
    # _LOAD_FAST_CHECK: PyTuple_GetItem(co_localsplusnames, oparg) formatted with UNBOUNDLOCAL_ERROR_MSG
    code = proc.new_code(b"\0\0", nlocals=2, varnames=["total", "i"])
    names = proc.view("PyCodeObject", code).co_localsplusnames
    name = call(proc, "PyTuple_GetItem", names, 1)
    msg = proc.mem_malloc(128)
    proc.mem.write(msg, b"cannot access local variable '%s' where it is not associated with a value\0")
    call(proc, "_PyEval_FormatExcCheckArg", proc.tstate, proc.mem.u64(proc.symbols["PyExc_UnboundLocalError"]),
         msg, name)

    def host():
        i  # noqa: F821
        i = 0  # noqa: F841

    with pytest.raises(UnboundLocalError) as info:
        host()
    assert proc.exception_info(proc.current_exception()) == ("UnboundLocalError", info.value.args)


# -- deallocation of random object graphs, against independent reference bookkeeping --------------

leaf = st.one_of(
    st.tuples(st.just("int"), st.integers(-(2**80), 2**80)),
    st.tuples(st.just("float"), st.floats(allow_nan=False)),
    st.tuples(st.just("str"), st.text("abcxyz", min_size=2, max_size=5)),
)


@st.composite
def graphs(draw):
    """Objects in creation order; containers refer to earlier objects (sharing allowed)."""
    nodes = []
    for _ in range(draw(st.integers(1, 14))):
        if nodes and draw(st.booleans()):
            kind = draw(st.sampled_from(["tuple", "list"]))
            kids = draw(st.lists(st.integers(0, len(nodes) - 1), min_size=1, max_size=4))
            nodes.append((kind, kids))
        else:
            nodes.append(draw(leaf))
    order = draw(st.permutations(range(len(nodes))))
    return nodes, order


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(g=graphs())
def test_dealloc_graphs(proc, g):
    fresh(proc)
    nodes, order = g
    addrs = []
    for kind, arg in nodes:
        if kind == "int":
            addrs.append(proc.new_int(arg))
        elif kind == "float":
            addrs.append(proc.new_float(arg))
        elif kind == "str":
            addrs.append(proc.new_str(arg))
        elif kind == "tuple":
            addrs.append(proc.new_tuple([addrs[k] for k in arg]))  # PyTuple_Pack: new references
        else:
            addrs.append(proc.new_list([addrs[k] for k in arg]))
    mortal = [not proc.is_immortal(a) for a in addrs]
    # Independent bookkeeping: one external reference per created object plus one per container slot.
    refs = [1] * len(nodes)
    for kind, arg in nodes:
        if kind in ("tuple", "list"):
            for k in arg:
                refs[k] += 1
    dead = [False] * len(nodes)

    def release(i):
        refs[i] -= 1
        if refs[i] == 0 and mortal[i]:
            dead[i] = True
            kind, arg = nodes[i]
            if kind in ("tuple", "list"):
                for k in arg:
                    release(k)

    for i in range(len(nodes)):  # refcounts as built
        if mortal[i]:
            assert proc.refcnt(addrs[i]) == refs[i]
    for i in order:
        proc.decref(addrs[i])
        release(i)
        for j, a in enumerate(addrs):
            if not mortal[j]:
                continue
            if dead[j]:
                assert proc.read_object(a).state in ("freed", "freelist"), (j, nodes[j])
            else:
                assert proc.read_object(a).state == "live" and proc.refcnt(a) == refs[j], (j, nodes[j])
    # everything was released: nothing of ours is left live
    assert not {b.address for b in proc.heap.live()} & {a for a, m in zip(addrs, mortal) if m}


# -- the object protocol beyond the loop slice ------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text("ab", max_size=3))


@SETTINGS
@given(v=scalars | st.lists(st.integers(), max_size=3).map(tuple) | st.lists(st.integers(), max_size=3))
def test_is_true_and_size(proc, v):
    fresh(proc)
    op = proc.from_python(v)
    assert call(proc, "PyObject_IsTrue", op) == (1 if v else 0)
    n = call(proc, "PyObject_Size", op)
    try:
        assert n == len(v)
    except TypeError as e:
        assert n == MASK64  # -1
        assert proc.exception_info(proc.current_exception()) == ("TypeError", e.args)


@SETTINGS
@given(a=scalars, b=scalars, cmp=st.integers(0, 5))
def test_rich_compare(proc, a, b, cmp):
    fresh(proc)
    kind, expected = _host([operator.lt, operator.le, operator.eq, operator.ne, operator.gt, operator.ge][cmp], a, b)
    r = call(proc, "PyObject_RichCompare", proc.from_python(a), proc.from_python(b), cmp)
    if kind == "ok":
        assert r == proc.new_bool(expected)
    else:
        assert r == 0 and proc.exception_info(proc.current_exception()) == expected


@SETTINGS
@given(v=scalars)
def test_unary(proc, v):
    fresh(proc)
    for name, op in (("PyNumber_Negative", operator.neg), ("PyNumber_Invert", operator.invert)):
        kind, expected = _host(lambda x, _: op(x), v, None)
        r = call(proc, name, proc.from_python(v))
        if kind == "exc":
            assert r == 0 and proc.exception_info(proc.current_exception()) == expected
            proc.clear_exception()
        else:
            got = proc.to_python(r)
            assert type(got) is type(expected) and struct.pack("<d", got) == struct.pack("<d", expected) \
                if isinstance(expected, float) else got == expected


@SETTINGS
@given(items=st.lists(st.integers(-3, 3) | st.floats(allow_nan=True), max_size=5), needle=st.integers(-3, 3) | st.floats())
def test_contains_identity_then_equality(proc, items, needle):
    fresh(proc)
    addrs = [proc.from_python(x) for x in items]
    lst = proc.new_list(addrs, steal=True)
    n = proc.from_python(needle)
    assert call(proc, "PySequence_Contains", lst, n) == (1 if needle in items else 0)
    if addrs:  # the very same object is found even when it is a NaN (identity before ==)
        assert call(proc, "PySequence_Contains", lst, addrs[-1]) == 1


def test_get_iter_and_build_from_stack(proc):
    lst = proc.from_python([1, 2])
    it = call(proc, "PyObject_GetIter", lst)
    assert proc.type_name(it) == "list_iterator" and proc.refcnt(lst) == 2
    assert call(proc, "PyObject_GetIter", it) == it and proc.refcnt(it) == 2
    assert call(proc, "PyObject_GetIter", proc.new_int(5)) == 0
    assert proc.exception_info(proc.current_exception()) == ("TypeError", ("'int' object is not iterable",))
    # BUILD_TUPLE / BUILD_LIST: owned refs move in, borrowed ones are increfed
    a, b = proc.new_int(10**6), proc.new_float(1.5)
    src = proc.mem_malloc(16)
    proc.mem.set_u64(src, stackref_owned(a))
    proc.mem.set_u64(src + 8, stackref_borrowed(b))
    t = call(proc, "_PyTuple_FromStackRefStealOnSuccess", src, 2)
    assert proc.to_python(t) == (10**6, 1.5) and proc.refcnt(a) == 1 and proc.refcnt(b) == 2
    lst2 = call(proc, "_PyList_FromStackRefStealOnSuccess", src, 2)
    assert proc.to_python(lst2) == [10**6, 1.5] and proc.refcnt(a) == 1 and proc.refcnt(b) == 3
    assert call(proc, "_PyTuple_FromStackRefStealOnSuccess", src, 0) == proc.empty_tuple


@SETTINGS
@given(n=st.integers(0, 3000))
def test_list_append_resize_from_full_list_matches_host(proc, n):
    fresh(proc)
    # [None] * n has allocated == n on the host, the precondition of _PyList_AppendTakeRefListResize
    host = [None] * n
    assert (sys.getsizeof(host) - sys.getsizeof([])) // 8 == n
    host.append(0)
    lst = proc.new_list([proc.none] * n)
    item = proc.new_int(10**9)
    assert call(proc, "_PyList_AppendTakeRefListResize", lst, item) == 0
    assert proc.mem.i64(lst + 32) == (sys.getsizeof(host) - sys.getsizeof([])) // 8
    assert proc.mem.i64(lst + 16) == n + 1
    assert proc.list_items(lst)[-1] == item and proc.refcnt(item) == 1
    assert proc.list_items(lst)[:n] == [proc.none] * n
