"""The system call filter of host-mode jobs, which bwrap loads before a job's first program.

Container mode gets podman's seccomp profile (without the 32-bit ABIs,
containers.py). A host-mode job runs as an unprivileged uid with no
capabilities, but the kernel still answers it much that jobs do not need
and that kernel exploits start from. bwrap loads this filter (`--seccomp
FD`) just before the sandbox's first program, so everything the job runs is
under it:

- a system call through an ABI other than the host's own (x86's `int 0x80`
  and x32 on x86-64, arm32 on arm64) kills the calling process with SIGSYS,
  as in container mode;
- a new user namespace (`clone` or `unshare` with CLONE_NEWUSER) is refused
  with EPERM: inside one a job would hold every capability over namespaces
  of its own, which opens most of the kernel it otherwise cannot reach.
  `clone3`, whose flags a filter cannot read, answers ENOSYS, so the C
  library falls back to `clone`;
- io_uring, userfaultfd, bpf, perf_event_open, the kernel's keyrings,
  loading modules, kexec and open_by_handle_at are refused with EPERM.

The filter is classic BPF, assembled here for x86-64 and arm64, the two
machines whose system call numbers are below; on any other, host mode runs
without one (the README's isolation table says so).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import platform
import struct
from collections.abc import Iterator
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# Classic BPF opcodes (linux/bpf_common.h) and seccomp's answers (linux/seccomp.h).
_LOAD_WORD = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JUMP_IF_EQUAL = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JUMP_IF_AT_LEAST = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JUMP_IF_ANY_BIT = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RETURN = 0x06  # BPF_RET | BPF_K
_KILL_PROCESS = 0x80000000
_ERRNO = 0x00050000
_ALLOW = 0x7FFF0000
# Offsets in struct seccomp_data: the call's number, the ABI, the low half of its first argument.
_NUMBER, _ARCHITECTURE, _FIRST_ARGUMENT = 0, 4, 16
CLONE_NEWUSER = 0x10000000
# The number a tracer sets to skip a call; not a call of another ABI.
_SKIPPED = 0xFFFFFFFF


@dataclass(frozen=True)
class Abi:
    """A machine's own system call ABI: its audit number and the calls the filter reads."""

    audit_arch: int
    clone: int
    unshare: int
    clone3: int
    refused: tuple[int, ...]
    # Numbers at or above this are another ABI on the same audit number (x32 on x86-64).
    foreign_from: int | None = None


# refused: io_uring_setup, _enter, _register, userfaultfd, bpf, perf_event_open,
# keyctl, add_key, request_key, kexec_load, kexec_file_load, open_by_handle_at,
# init_module, finit_module, delete_module (asm/unistd_64.h, asm-generic/unistd.h).
ABIS = {
    "x86_64": Abi(
        audit_arch=0xC000003E,
        clone=56,
        unshare=272,
        clone3=435,
        refused=(425, 426, 427, 323, 321, 298, 250, 248, 249, 246, 320, 304, 175, 313, 176),
        foreign_from=0x40000000,
    ),
    "aarch64": Abi(
        audit_arch=0xC00000B7,
        clone=220,
        unshare=97,
        clone3=435,
        refused=(425, 426, 427, 282, 280, 241, 219, 217, 218, 104, 294, 265, 105, 273, 106),
    ),
}


def _program(abi: Abi) -> list[tuple[int, int, str | None, str | None] | str]:
    """The filter as (opcode, operand, label if true, label if false) and labels."""
    program: list[tuple[int, int, str | None, str | None] | str] = [
        (_LOAD_WORD, _ARCHITECTURE, None, None),
        (_JUMP_IF_EQUAL, abi.audit_arch, None, "kill"),
        (_LOAD_WORD, _NUMBER, None, None),
    ]
    if abi.foreign_from is not None:
        program.append((_JUMP_IF_AT_LEAST, abi.foreign_from, "foreign", None))
    program.append((_JUMP_IF_EQUAL, abi.clone3, "enosys", None))
    program += [(_JUMP_IF_EQUAL, number, "eperm", None) for number in abi.refused]
    program += [
        (_JUMP_IF_EQUAL, abi.clone, "namespaces", None),
        (_JUMP_IF_EQUAL, abi.unshare, "namespaces", None),
        (_RETURN, _ALLOW, None, None),
        "namespaces",
        (_LOAD_WORD, _FIRST_ARGUMENT, None, None),
        (_JUMP_IF_ANY_BIT, CLONE_NEWUSER, "eperm", None),
        (_RETURN, _ALLOW, None, None),
        "foreign",
        (_JUMP_IF_EQUAL, _SKIPPED, None, "kill"),
        (_RETURN, _ALLOW, None, None),
        "eperm",
        (_RETURN, _ERRNO | errno.EPERM, None, None),
        "enosys",
        (_RETURN, _ERRNO | errno.ENOSYS, None, None),
        "kill",
        (_RETURN, _KILL_PROCESS, None, None),
    ]
    return program


def assemble(program: list[tuple[int, int, str | None, str | None] | str]) -> bytes:
    """struct sock_filter entries, jumps resolved from labels to offsets (BPF jumps only
    forward, at most 255 instructions)."""
    instructions = [entry for entry in program if not isinstance(entry, str)]
    labels, index = {}, 0
    for entry in program:
        if isinstance(entry, str):
            labels[entry] = index
        else:
            index += 1

    def offset(label: str | None, at: int) -> int:
        if label is None:
            return 0
        distance = labels[label] - at - 1
        if not 0 <= distance <= 255:
            raise ValueError(f"a jump to {label} from instruction {at} is {distance} long")
        return distance

    return b"".join(
        struct.pack("=HBBI", code, offset(if_true, at), offset(if_false, at), operand)
        for at, (code, operand, if_true, if_false) in enumerate(instructions)
    )


@functools.cache
def host_filter(machine: str | None = None) -> bytes | None:
    """The filter for this machine (or `machine`), None where its ABI is not known here."""
    abi = ABIS.get(machine or platform.machine())
    if abi is None:
        logger.warning(
            "host-mode jobs run without a system call filter: none is known for %s",
            machine or platform.machine(),
        )
        return None
    return assemble(_program(abi))


@dataclass(frozen=True)
class FilterFd:
    """The filter's pipe as a process started with it sees it (`fd` None: no filter)."""

    fd: int | None

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return () if self.fd is None else (self.fd,)

    @property
    def bwrap_args(self) -> list[str]:
        return [] if self.fd is None else ["--seccomp", str(self.fd)]


@contextlib.contextmanager
def filter_fd() -> Iterator[FilterFd]:
    """A pipe holding the filter, for a bwrap started in the block with its `pass_fds`
    (it may exec bwrap later); this process's copy is closed when the block ends."""
    program = host_filter()
    if program is None:
        yield FilterFd(None)
        return
    read, write = os.pipe()
    try:
        os.write(write, program)  # far below a pipe's capacity: never blocks
    finally:
        os.close(write)
    try:
        yield FilterFd(read)
    finally:
        os.close(read)
