"""Example traces shipped inside the package, so that ``refjit demo`` runs from an installed wheel.

``INT_SUM`` is examples/int_sum.trace verbatim (tests/test_demo.py checks that they stay equal):
the optimised loop of ``int_sum`` as CPython 3.14.7 builds it (FACTS.md section g.2).
"""

INT_SUM_NAME = "examples/int_sum.trace"

INT_SUM = """\
refjit-trace 1
# int_sum, the optimised trace of FACTS.md §g.2 (CPython 3.14.7, PYTHON_JIT=1):
#
#     def int_sum(n):
#         total = 0
#         for i in range(n):
#             total += i
#         return total
#
# Entered at the loop's JUMP_BACKWARD (unit 25) with a fresh range iterator: total = 0 and i = 0,
# as when int_sum(20000) starts looping. The run leaves when the range is exhausted, through
# _GUARD_NOT_EXHAUSTED_RANGE's exit (exit 1, tier-1 target 28 = the POP_ITER after END_FOR),
# with total = sum(range(20000)) = 199990000.

# bytecode: co_code_adaptive of a CPython 3.14.7 JIT build after int_sum(20000): specialised
# instructions, inline caches and ENTER_EXECUTOR where the executors were inserted.
code int_sum units=31 varnames=n,total,i bytecode=c4005e0070015c010100000000000000560034010100000000001000ad0b400370025712820d400300000000000000007001ff00fcff09001e0056012300
executor chain_depth=0
# Where the executors sit in the bytecode (co_executors), as in the real process.
enter_executor 25 executor

object n  = int 20000 extra=1           # the caller's constant also holds it
object it = range_iterator 0 20000 1

frame locals=3 stacksize=3
local 0 = n owned
local 1 = 0 immortal                    # total: the small int 0 is static and immortal
local 2 = 0 immortal                    # i
stack 0 = it owned

   0 _START_EXECUTOR            oparg=0   target=25 operand0=&executor
   1 _MAKE_WARM                 oparg=0   target=0
   2 _SET_IP                    oparg=0   target=25 operand0=&bytecode+0x32
   3 _CHECK_PERIODIC            oparg=0   jump_target=0 error_target=20
   4 _CHECK_VALIDITY            oparg=0   jump_target=21 error_target=0
   5 _ITER_CHECK_RANGE          oparg=11  jump_target=22 error_target=0
   6 _GUARD_NOT_EXHAUSTED_RANGE oparg=11  jump_target=23 error_target=0
   7 _ITER_NEXT_RANGE           oparg=11  jump_target=0 error_target=24
   8 _SET_IP                    oparg=0   target=16 operand0=&bytecode+0x20
   9 _STORE_FAST_2              oparg=2   target=16
  10 _CHECK_VALIDITY            oparg=0   jump_target=25 error_target=0
  11 _LOAD_FAST_BORROW_1        oparg=1   target=17
  12 _LOAD_FAST_BORROW_2        oparg=2   target=17
  13 _SET_IP                    oparg=0   target=18 operand0=&bytecode+0x24
  14 _GUARD_NOS_INT             oparg=13  jump_target=26 error_target=0
  15 _BINARY_OP_ADD_INT         oparg=13  jump_target=0 error_target=27
  16 _CHECK_VALIDITY            oparg=0   jump_target=28 error_target=0
  17 _SET_IP                    oparg=0   target=24 operand0=&bytecode+0x30
  18 _STORE_FAST_1              oparg=1   target=24
  19 _JUMP_TO_TOP               oparg=0   jump_target=1 error_target=0
  20 _ERROR_POP_N               oparg=0   target=0  operand0=0x19
  21 _DEOPT                     oparg=0   target=14
  22 _EXIT_TRACE                oparg=0   target=14 operand0=&exit0
  23 _EXIT_TRACE                oparg=0   target=28 operand0=&exit1
  24 _ERROR_POP_N               oparg=0   target=0  operand0=0xe
  25 _DEOPT                     oparg=0   target=17
  26 _EXIT_TRACE                oparg=0   target=18 operand0=&exit2
  27 _ERROR_POP_N               oparg=0   target=0  operand0=0x12
  28 _DEOPT                     oparg=0   target=24
"""
