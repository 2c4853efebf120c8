"""Host mode's system call filter, read back instruction by instruction.

The integration tests (tests/security/test_job_attacks.py) run it in the
kernel on this machine; here a small classic-BPF reader answers what the
filter decides for each machine's ABI, arm64's included.
"""

import errno
import os
import struct

import pytest

from runs.engine.local.sandbox import seccomp
from runs.engine.local.sandbox.seccomp import ABIS, CLONE_NEWUSER, assemble, host_filter

KILL, ALLOW = "kill", "allow"


def decide(program: bytes, number: int, arch: int, first_argument: int = 0) -> str | int:
    """What the filter answers a call: KILL, ALLOW, or the errno it fails with."""
    data = struct.pack("=iIQ6Q", number, arch, 0, first_argument, 0, 0, 0, 0, 0)
    instructions = [struct.unpack_from("=HBBI", program, at) for at in range(0, len(program), 8)]
    accumulator, at = 0, 0
    while True:
        code, if_true, if_false, operand = instructions[at]
        at += 1
        if code == 0x20:
            accumulator = struct.unpack_from("=I", data, operand)[0]
        elif code == 0x06:
            if operand == 0x80000000:
                return KILL
            if operand == 0x7FFF0000:
                return ALLOW
            assert operand & 0xFFFF0000 == 0x00050000, hex(operand)
            return operand & 0xFFFF
        else:
            test = {0x15: accumulator == operand, 0x35: accumulator >= operand}.get(
                code, bool(accumulator & operand) if code == 0x45 else None
            )
            assert test is not None, f"unknown opcode {code:#x}"
            at += if_true if test else if_false


@pytest.mark.parametrize("machine", sorted(ABIS))
def test_the_filter_answers_each_kind_of_call(machine):
    abi = ABIS[machine]
    program = host_filter(machine)

    assert decide(program, 0, abi.audit_arch) == ALLOW
    assert decide(program, abi.clone, abi.audit_arch, first_argument=0x11) == ALLOW
    assert decide(program, abi.clone, abi.audit_arch, CLONE_NEWUSER | 0x11) == errno.EPERM
    assert decide(program, abi.unshare, abi.audit_arch, CLONE_NEWUSER) == errno.EPERM
    assert decide(program, abi.unshare, abi.audit_arch, 0x00020000) == ALLOW
    assert decide(program, abi.clone3, abi.audit_arch) == errno.ENOSYS
    for number in abi.refused:
        assert decide(program, number, abi.audit_arch) == errno.EPERM
    assert decide(program, 0, 0x40000003) == KILL, "i386 (and arm32) is another ABI"


def test_x32_calls_are_killed_and_a_skipped_call_is_not():
    abi = ABIS["x86_64"]
    program = host_filter("x86_64")

    assert decide(program, 0x40000000 | 1, abi.audit_arch) == KILL
    assert decide(program, -1, abi.audit_arch) == ALLOW


def test_a_machine_without_known_numbers_gets_no_filter_and_the_log_says_so(caplog):
    assert host_filter("riscv64") is None
    assert "without a system call filter" in caplog.text and "riscv64" in caplog.text


def test_a_jump_backwards_is_refused():
    with pytest.raises(ValueError, match="to start"):
        assemble(["start", (0x06, 0, None, None), (0x15, 0, "start", None)])


def test_the_filter_reaches_bwrap_through_a_pipe_it_can_read_once():
    with seccomp.filter_fd() as passed:
        assert passed.bwrap_args == ["--seccomp", str(passed.fd)]
        assert passed.pass_fds == (passed.fd,)
        assert os.read(passed.fd, 4096) == host_filter()
