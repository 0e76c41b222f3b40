"""The profile against facts measured on a real CPython 3.14.7 build (FACTS.md), typed in here
independently of the spec files, so a wrong spec row or a wrong override rule fails."""

import pytest

from refjit.errors import SpecError
from refjit.profile import load_profile


@pytest.fixture(scope="module", params=["x86_64", "aarch64"])
def profile(request):
    return load_profile("3.14", request.param)


X86 = load_profile("3.14", "x86_64")
ARM = load_profile("3.14", "aarch64")


def test_cached():
    assert load_profile() is load_profile("3.14", "x86_64")


def test_uop_counts(profile):
    # FACTS a.2: 289 uops in the tier-2 tables, 285 with an executor case / stencil.
    assert len(profile.uops) == 289
    assert sum(u.has_tier2_case for u in profile.uops.values()) == 285
    no_case = {u.name for u in profile.uops.values() if not u.has_tier2_case}
    assert no_case == {"_LOAD_FAST_LOAD_FAST", "_LOAD_FAST_BORROW_LOAD_FAST_BORROW",
                       "_STORE_FAST_LOAD_FAST", "_STORE_FAST_STORE_FAST"}
    assert sum(u.id < 300 for u in profile.uops.values()) == 89


def test_flag_census(profile):
    # FACTS a.3 table, last column.
    census = {"HAS_ARG": 119, "HAS_CONST": 2, "HAS_NAME": 15, "HAS_JUMP": 0, "HAS_FREE": 4,
              "HAS_LOCAL": 36, "HAS_EVAL_BREAK": 2, "HAS_DEOPT": 49, "HAS_ERROR": 108,
              "HAS_ESCAPES": 146, "HAS_EXIT": 46, "HAS_PURE": 44, "HAS_ERROR_NO_POP": 21,
              "HAS_NO_SAVE_IP": 1}
    for flag, n in census.items():
        assert sum(u.has(flag) for u in profile.uops.values()) == n, flag
    assert sum(u.flags_value == 0 for u in profile.uops.values()) == 20
    # flags_value agrees with the bit values of the constants
    for u in profile.uops.values():
        assert u.flags_value == sum(profile.const(f + "_FLAG") for f in u.flags)
        assert not (u.has("HAS_DEOPT") and u.has("HAS_EXIT"))


def test_replication_and_ids(profile):
    reps = {u.name: u.replication for u in profile.uops.values() if u.replication}
    assert reps == {"_LOAD_FAST": 8, "_LOAD_FAST_BORROW": 8, "_STORE_FAST": 8,
                    "_LOAD_SMALL_INT": 4, "_INIT_CALL_PY_EXACT_ARGS": 5}
    assert profile.uops["_LOAD_FAST"].id == 442
    assert profile.uops["_LOAD_FAST_0"].id == 443 and profile.uops["_LOAD_FAST_7"].id == 450
    assert profile.uops["_LOAD_FAST_3"].const_oparg == 3
    assert profile.uops["_NOP"].id == 27 and profile.uops["_STORE_GLOBAL"].id == 115
    assert profile.uop_by_id[27].name == "_NOP"
    assert max(profile.uop_by_id) <= profile.max_uop_id == 516


def test_operand_users(profile):
    op1 = {u.name for u in profile.uops.values() if u.uses_operand1}
    assert op1 == {"_LOAD_GLOBAL_MODULE", "_LOAD_GLOBAL_BUILTINS", "_LOAD_ATTR_MODULE",
                   "_CHECK_FUNCTION_VERSION_INLINE"}
    stencils = [u for u in profile.uops.values() if u.has_tier2_case]
    assert sum(u.uses_operand0 for u in stencils) == 41
    # 107 uops use oparg (FACTS a.4): the 103 stencils with an OPARG hole (one GOT slot each in the
    # aarch64 census of FACTS b.5) plus the 4 super-instructions, which have no stencil.
    assert sum(u.uses_oparg for u in stencils) == 103
    assert sum(u.uses_oparg for u in profile.uops.values()) == 107
    assert [u.name for u in stencils if u.uses_target] == ["_DEOPT"]


def test_stencil_sizes():
    # FACTS d.2 totals and a few rows of the "selected stencils" table.
    assert sum(u.stencil_bytes or 0 for u in X86.uops.values()) == 37284
    assert sum(u.stencil_data_bytes or 0 for u in X86.uops.values()) == 3200
    assert sum(u.stencil_bytes or 0 for u in ARM.uops.values()) == 41096
    assert sum(u.stencil_data_bytes or 0 for u in ARM.uops.values()) == 5672
    assert (X86.uops["_BINARY_OP_ADD_INT"].stencil_bytes, X86.uops["_BINARY_OP_ADD_INT"].stencil_data_bytes) == (211, 16)
    assert (ARM.uops["_MAKE_WARM"].stencil_bytes, ARM.uops["_MAKE_WARM"].stencil_data_bytes) == (64, 8)
    assert X86.uops["_SET_IP"].stencil_bytes == 15 and ARM.uops["_EXIT_TRACE"].stencil_bytes == 448


@pytest.mark.parametrize("struct,field,off", [
    ("PyObject", "ob_refcnt", 0), ("PyObject", "ob_flags", 6), ("PyObject", "ob_type", 8),
    ("PyVarObject", "ob_size", 16),
    ("PyLongObject", "long_value.lv_tag", 16), ("PyLongObject", "long_value.ob_digit", 24),
    ("PyFloatObject", "ob_fval", 16),
    ("PyTupleObject", "ob_hash", 24), ("PyTupleObject", "ob_item", 32),
    ("PyListObject", "ob_item", 24), ("PyListObject", "allocated", 32),
    ("_PyInterpreterFrame", "instr_ptr", 56), ("_PyInterpreterFrame", "stackpointer", 64),
    ("_PyInterpreterFrame", "return_offset", 72), ("_PyInterpreterFrame", "owner", 74),
    ("_PyInterpreterFrame", "localsplus", 80),
    ("PyThreadState", "interp", 16), ("PyThreadState", "eval_breaker", 24),
    ("PyThreadState", "py_recursion_remaining", 48), ("PyThreadState", "current_frame", 72),
    ("PyThreadState", "current_exception", 112), ("PyThreadState", "exc_info", 120),
    ("PyThreadState", "datastack_top", 240), ("PyThreadState", "datastack_limit", 248),
    ("PyThreadState", "current_executor", 0x110),
    ("PyCodeObject", "co_code_adaptive", 0xD0), ("PyCodeObject", "co_framesize", 76),
    ("PyCodeObject", "co_executors", 152),
    ("PyTypeObject", "tp_basicsize", 32), ("PyTypeObject", "tp_dealloc", 48),
    ("PyTypeObject", "tp_flags", 168), ("PyTypeObject", "tp_version_tag", 384),
    ("PyTypeObject", "tp_iternext", 224),
    ("_PyExecutorObject", "vm_data.valid", 0x22), ("_PyExecutorObject", "vm_data.warm", 0x23),
    ("_PyExecutorObject", "jit_side_entry", 120), ("_PyExecutorObject", "exits", 128),
    ("_PyExitData", "executor", 8), ("_PyRangeIterObject", "len", 32),
    ("_PyListIterObject", "it_seq", 24), ("_PyUOpInstruction", "operand1", 16),
    ("_PyRuntimeState", "ref_tracer.tracer_func", 0x2920),
    ("_PyRuntimeState", "static_objects.singletons.small_ints", 0x36F0),
])
def test_common_offsets(profile, struct, field, off):
    assert profile.offset(struct, field) == off


def test_sizes(profile):
    for name, size in [("PyObject", 16), ("PyLongObject", 32), ("PyTupleObject", 40), ("PyTypeObject", 416),
                       ("_PyInterpreterFrame", 88), ("PyThreadState", 832), ("_PyThreadStateImpl", 936),
                       ("PyCodeObject", 216), ("_PyExecutorObject", 144), ("_PyExitData", 16),
                       ("_PyUOpInstruction", 24)]:
        assert profile.sizeof(name) == size, name


def test_interpreter_differs_by_arch():
    # FACTS f: glibc's pthread_mutex_t makes the aarch64 interpreter 16 bytes longer after _gil.
    rows = {"eval_frame": (0x2148, 0x2158), "callable_cache.isinstance": (0x36788, 0x36798),
            "callable_cache.len": (0x36790, 0x367A0), "callable_cache.list_append": (0x36798, 0x367A8),
            "common_consts": (0x367A8, 0x367B8), "trace_run_counter": (0x367F0, 0x36800),
            "sysdict": (7672, 7672), "_gil": (7784, 7784), "dict": (8496, 8512), "jit": (0x367D0, 0x367E0),
            "executor_deletion_list_head": (0x367E0, 0x367F0)}
    for f, (x, a) in rows.items():
        assert (X86.offset("PyInterpreterState", f), ARM.offset("PyInterpreterState", f)) == (x, a), f
    assert (X86.sizeof("PyInterpreterState"), ARM.sizeof("PyInterpreterState")) == (225864, 225880)
    assert (X86.sizeof("_PyRuntimeState"), ARM.sizeof("_PyRuntimeState")) == (316616, 316632)
    # the main interpreter is the runtime's last member on both
    for p in (X86, ARM):
        assert p.main_interpreter_offset + p.sizeof("PyInterpreterState") == p.sizeof("_PyRuntimeState")


def test_bitfields(profile):
    f = profile.field("_PyExecutorObject", "vm_data.chain_depth")
    assert (f.offset, f.bit, f.width) == (34, 2, 6)
    f = profile.field("_PyUOpInstruction", "format")
    assert (f.offset * 8 + f.bit, f.width) == (15, 1)


def test_field_lookup_by_leaf_name(profile):
    assert profile.offset("PyTupleObject", "ob_size") == 16
    assert profile.field("PyTupleObject", "ob_item").array_length == 1
    with pytest.raises(SpecError, match="no field 'nope'"):
        profile.offset("PyTupleObject", "nope")
    with pytest.raises(SpecError, match="no layout for struct"):
        profile.sizeof("PyNope")


def test_abi():
    assert (X86.abi.frame_reg, X86.abi.stack_pointer_reg, X86.abi.tstate_reg, X86.abi.return_reg) == ("r12", "r13", "r14", "rax")
    assert (ARM.abi.frame_reg, ARM.abi.stack_pointer_reg, ARM.abi.tstate_reg, ARM.abi.return_reg) == ("x20", "x21", "x22", "x0")
    assert (X86.abi.shim_code_size, ARM.abi.shim_code_size) == (33, 104)
    assert (X86.abi.code_alignment, ARM.abi.code_alignment) == (1, 8)
    assert X86.abi.c_int_args[:3] == ("rdi", "rsi", "rdx")
    assert X86.abi.patch_function("R_X86_64_REX_GOTPCRELX") == "patch_x86_64_32rx"
    assert ARM.abi.patch_function("R_AARCH64_JUMP26") == "patch_aarch64_26r"
    assert ARM.abi.patch_function("R_AARCH64_LD64_GOT_LO12_NC") == "patch_aarch64_12"
    with pytest.raises(SpecError, match="no patch function"):
        X86.abi.patch_function("R_AARCH64_ABS64")


def test_constants(profile):
    c = profile.consts
    assert c._Py_IMMORTAL_INITIAL_REFCNT == 0xC0000000 and c._Py_STATIC_FLAG_BITS == 5
    assert (c.Py_TAG_BITS, c.Py_TAG_REFCNT, c.Py_INT_TAG, c.PyStackRef_NULL_BITS) == (3, 1, 3, 1)
    assert c._PY_EVAL_JIT_INVALIDATE_COLD_BIT == 0x80 and c._PY_EVAL_EVENTS_MASK == 0xFF
    assert c.Py_TPFLAGS_LONG_SUBCLASS == 1 << 24 and c.Py_TPFLAGS_VALID_VERSION_TAG == 1 << 19
    assert c.co_code_adaptive_offset == profile.offset("PyCodeObject", "co_code_adaptive")
    # small_ints[5] is the int 0: _PyRuntime+0x3790 in the stencils
    assert profile.const("static_objects.singletons.small_ints") + 5 * c.small_int_size == 0x3790
    assert (c._PyLong_FALSE_TAG, c._PyLong_TRUE_TAG) == (1, 8)
    with pytest.raises(SpecError, match="no constant"):
        profile.const("NOPE")


def test_symbols(profile):
    assert len(profile.symbols) == 142
    assert profile.symbols["_Py_Dealloc"].kind == "function" and profile.symbols["_Py_Dealloc"].stencils == 124
    assert profile.symbols["_PyRuntime"].kind == "data"
    assert profile.symbols["_PyFloat_FromDouble_ConsumeInputs"].nm == "t"
    assert "PyFloat_FromDouble" not in profile.symbols
    # every symbol a stencil references is known
    used = set().union(*(u.external_symbols for u in profile.uops.values()))
    assert used == set(profile.symbols)


def test_bad_requests():
    with pytest.raises(SpecError, match="unknown architecture"):
        load_profile("3.14", "riscv64")
    with pytest.raises(SpecError, match="no specs for CPython '2.7'"):
        load_profile("2.7", "x86_64")
    with pytest.raises(SpecError, match="no tier-2 uop"):
        X86.uop("_NOPE")


def test_stack_effects():
    # From the DSL signatures (bytecodes.c), e.g. _BINARY_OP (lhs, rhs -- res),
    # _UNPACK_SEQUENCE_TUPLE (seq -- values[oparg]), _COPY (bottom, unused[oparg-1] -- bottom, unused[oparg-1], top)
    assert X86.uops["_BINARY_OP"].stack_effect(0) == (2, 1)
    assert X86.uops["_UNPACK_SEQUENCE_TUPLE"].stack_effect(3) == (1, 3)
    assert X86.uops["_COPY"].stack_effect(2) == (2, 3)
    assert X86.uops["_SWAP"].stack_effect(3) == (3, 3)
    assert X86.uops["_LOAD_FAST_3"].stack_effect() == (0, 1)
    assert X86.uops["_CALL_BUILTIN_FAST"].stack_effect(2) == (4, 1)
    assert X86.uops["_POP_TOP"].stack_effect() == (1, 0)
    # every signature evaluates for a few opargs (no unknown expression forms)
    for u in X86.uops.values():
        for oparg in (2, 3, 0x103):
            ins, outs = u.stack_effect(oparg)
            assert ins >= 0 and outs >= 0


def test_patchlevel_version():
    assert load_profile("3.14.7", "aarch64").patchlevel == "3.14.7"
    with pytest.raises(SpecError, match="describes 3.14.7, not 3.14.2"):
        load_profile("3.14.2", "x86_64")
