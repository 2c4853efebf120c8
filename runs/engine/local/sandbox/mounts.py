"""The mount and namespace system calls a root worker makes for a ready sandbox (ready.py).

Python has no wrappers for Linux's mount API (open_tree, mount_setattr,
move_mount: Linux 5.12 and later) nor for setns before 3.12, so they are
called through libc's `syscall`. A bind made this way is read-only from the
moment it is attached, which matters because that is the moment it
propagates into a sandbox: a read-only remount after a classic bind would
not follow it there.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)

# x86_64 and aarch64 share these numbers (the new mount API is numbered alike everywhere).
_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
_SYS_MOUNT_SETATTR = 442
_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000
_AT_RECURSIVE = 0x8000
_OPEN_TREE_CLONE = 1
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_MOUNT_ATTR_RDONLY = 0x1
_MOUNT_ATTR_NOSUID = 0x2
_MOUNT_ATTR_NODEV = 0x4
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_PRIVATE = 1 << 18
_MS_SHARED = 1 << 20
_MNT_DETACH = 0x2
_CLONE_NEWUTS = 0x04000000


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def _checked(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def bind(source: Path, target: Path, *, read_only: bool) -> None:
    """Bind `source` (and what is mounted under it) at `target`, never setuid or devices."""
    tree = _checked(
        _libc.syscall(
            _SYS_OPEN_TREE,
            _AT_FDCWD,
            os.fsencode(source),
            _OPEN_TREE_CLONE | os.O_CLOEXEC | _AT_RECURSIVE,
        ),
        f"bind {source}",
    )
    try:
        flags = _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV | (_MOUNT_ATTR_RDONLY if read_only else 0)
        attributes = _MountAttr(attr_set=flags)
        _checked(
            _libc.syscall(
                _SYS_MOUNT_SETATTR,
                tree,
                b"",
                _AT_EMPTY_PATH | _AT_RECURSIVE,
                ctypes.byref(attributes),
                ctypes.sizeof(attributes),
            ),
            f"bind {source}",
        )
        _checked(
            _libc.syscall(
                _SYS_MOVE_MOUNT, tree, b"", _AT_FDCWD, os.fsencode(target), _MOVE_MOUNT_F_EMPTY_PATH
            ),
            f"bind {source} at {target}",
        )
    finally:
        os.close(tree)


def shared_tmpfs(folder: Path) -> None:
    """Mount a small tmpfs on `folder` whose later submounts reach every copy of it.

    Private first: where the host's / is shared (systemd's), the new mount
    would otherwise join the peer group of the mounts under it came from.
    """
    path = os.fsencode(folder)
    options = b"mode=755,size=1m"
    _checked(
        _libc.mount(b"tmpfs", path, b"tmpfs", _MS_NOSUID | _MS_NODEV, options), f"mount {folder}"
    )
    _checked(_libc.mount(None, path, None, _MS_PRIVATE, None), f"make {folder} private")
    _checked(_libc.mount(None, path, None, _MS_SHARED, None), f"share {folder}")


def detach(target: Path) -> bool:
    """Unmount `target` and everything under it (lazily); False when nothing was mounted there."""
    if _libc.umount2(os.fsencode(target), _MNT_DETACH) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOENT):
        return False
    raise OSError(code, f"unmount {target}: {os.strerror(code)}")


def hostname_set(pid: int, name: str) -> None:
    """Name the UTS namespace process `pid` is in, from outside it.

    Only the calling thread enters that namespace, and it returns to its own
    before this returns.
    """
    own = os.open("/proc/thread-self/ns/uts", os.O_RDONLY | os.O_CLOEXEC)
    try:
        theirs = os.open(f"/proc/{pid}/ns/uts", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _checked(_libc.setns(theirs, _CLONE_NEWUTS), "enter the job's UTS namespace")
        finally:
            os.close(theirs)
        try:
            encoded = name.encode()
            _checked(_libc.sethostname(encoded, len(encoded)), "set the job's hostname")
        finally:
            _checked(_libc.setns(own, _CLONE_NEWUTS), "return to the worker's UTS namespace")
    finally:
        os.close(own)
