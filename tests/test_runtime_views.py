"""Typed views of sub-structs: a view of ``vm_data`` (or of ``vm_data.links``) inside an executor
reads and writes the bytes at the offsets FACTS gives for the whole _PyExecutorObject (layout
table of _PyExecutorObject: vm_data @0x20, valid/linked/chain_depth bitfields of byte 0x22, warm
@0x23, index @0x24, bloom.bits @0x28, links.next @0x48, links.previous @0x50), whichever view
asked for a member first."""

import pytest

from refjit.errors import RuntimeModelError
from refjit.profile import load_profile
from refjit.runtime import Process


@pytest.fixture(params=["x86_64", "aarch64"])
def proc(request):
    return Process(load_profile("3.14", request.param))


def test_sub_struct_views_use_the_outer_offsets(proc):
    e = proc.new_executor([14], trace_length=3, jit_code=proc.regions["jit"].base)
    mem = proc.mem
    whole = proc.view("_PyExecutorObject", e)
    whole["vm_data.index"] = 7          # the dotted path first: its codec is the outer one's
    vm = whole.vm_data
    assert vm.address == e + 0x20
    assert vm.index == 7 == mem.u32(e + 0x24)
    vm.warm = 0
    assert mem.u8(e + 0x23) == 0
    vm.warm = 1
    assert mem.u8(e + 0x23) == 1 and whole["vm_data.warm"] == 1
    byte = mem.u8(e + 0x22)
    vm.chain_depth = 0b101010                            # bits 2..7 of byte 0x22
    assert mem.u8(e + 0x22) == (byte & 0b11) | (0b101010 << 2)
    assert whole["vm_data.chain_depth"] == 0b101010 and vm.valid == byte & 1
    links = vm.links                                     # a sub-struct of a sub-struct
    assert links.address == e + 0x48
    links.previous = 0x1234
    assert mem.u64(e + 0x50) == 0x1234 and whole["vm_data.links.previous"] == 0x1234
    assert links.addr_of("next") == e + 0x48 and links.offset_of("next") == 0x48
    bits = vm.bloom.bits
    bits[3] = 0xDEADBEEF
    assert mem.u32(e + 0x28 + 4 * 3) == 0xDEADBEEF
    # A second view of the same sub-struct elsewhere: same table, its own address.
    other = proc.view("_PyExecutorObject", e + 0x200).vm_data
    assert other.address == e + 0x220
    other.index = -3
    assert mem.i32(e + 0x224) == -3 and mem.u32(e + 0x24) == 7


def test_sub_struct_view_errors_name_the_whole_path(proc):
    e = proc.new_executor([14], trace_length=3, jit_code=proc.regions["jit"].base)
    vm = proc.view("_PyExecutorObject", e).vm_data
    with pytest.raises(RuntimeModelError, match=r"1-bit field _PyExecutorObject.vm_data.valid"):
        vm.valid = 2
    with pytest.raises(RuntimeModelError, match=r"_PyExecutorObject.vm_data.index \(4 bytes\)"):
        vm.index = 1 << 40
    with pytest.raises(RuntimeModelError, match=r"_PyExecutorObject.vm_data.links is not a scalar"):
        vm.links = 0
    with pytest.raises(RuntimeModelError, match="no field"):
        vm.nope
    assert repr(vm) == f"<_PyExecutorObject.vm_data view at {e + 0x20:#x}>"
