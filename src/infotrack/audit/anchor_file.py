"""The anchor file: append-only, one anchor document per line.

The file holds one anchor document per line (JSON). It is only ever appended to: opened with
``O_APPEND``, each write followed by ``fsync`` (and the directory's, when the file is new), under
an exclusive ``flock`` so that two processes on one host cannot interleave lines. The writer asks
which anchors the file lacks after its last line and appends all of them in order, so a write
that failed earlier is made good by the next one and the lines always follow the database's
order. A line cut short (a full disk) is never rewritten: the next write starts on a new line
and the reader reports the cut line.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from infotrack.audit.anchor_documents import anchor_line, parse_anchor_line

_TAIL_BLOCK = 65_536

_OS_REASONS = {
    errno.EACCES: "权限不足",
    errno.EPERM: "操作不被允许",
    errno.ENOENT: "目录不存在",
    errno.ENOTDIR: "路径中有一段不是目录",
    errno.EEXIST: "路径中有一段不是目录",
    errno.EISDIR: "该路径是一个目录",
    errno.ENOSPC: "磁盘空间不足",
    errno.EROFS: "文件系统只读",
    errno.EDQUOT: "超出磁盘配额",
}


class AnchorFileError(Exception):
    """The anchor file could not be written; ``reason`` is short and in Chinese."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def os_reason(exc: OSError) -> str:
    """An OS error in a few Chinese words (the system's text when we have none)."""
    if exc.errno is not None and exc.errno in _OS_REASONS:
        return _OS_REASONS[exc.errno]
    return exc.strerror or type(exc).__name__


def append_anchors(
    path: Path,
    pending: Callable[[int | None], Sequence[dict[str, Any]]],
    genuine: Callable[[dict[str, Any]], bool],
) -> tuple[int, int | None]:
    """Append what the file lacks; ``(lines written, id of the file's last anchor)``.

    The file's last anchor is its last line that is ``genuine`` (its MAC holds): a forged line
    with a large id cannot stop later anchors from being written. ``pending(last_id)`` returns
    the anchors to append after it (``last_id`` is None for a file without one), in order.
    Raises :class:`AnchorFileError`.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    except OSError as exc:
        raise AnchorFileError(os_reason(exc)) from exc
    try:
        _lock(fd)
        last_id, ends_clean = _tail(fd, genuine)
        documents = pending(last_id)
        if documents:
            data = b"".join(anchor_line(d) + b"\n" for d in documents)
            # After a line cut short, start afresh rather than glue a good line to it.
            _write_all(fd, data if ends_clean else b"\n" + data)
            os.fsync(fd)
            if created:
                _fsync_dir(path.parent)
            last_id = int(documents[-1]["id"])
        return len(documents), last_id
    except OSError as exc:
        raise AnchorFileError(os_reason(exc)) from exc
    finally:
        os.close(fd)  # releases the lock


def _lock(fd: int) -> None:
    """An exclusive advisory lock, held until the file is closed (POSIX; none on Windows)."""
    if sys.platform != "win32":
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)


def _tail(fd: int, genuine: Callable[[dict[str, Any]], bool]) -> tuple[int | None, bool]:
    """The id of the last genuine anchor line, and whether the file ends with a newline.

    Read backwards a block at a time: the file grows for years, its last line is what counts.
    """
    size = os.fstat(fd).st_size
    if size == 0:
        return None, True
    ends_clean = _read_at(fd, size - 1, 1) == b"\n"
    position, partial = size, b""
    while position > 0:
        step = min(_TAIL_BLOCK, position)
        position -= step
        pieces = (_read_at(fd, position, step) + partial).split(b"\n")
        # The first piece may be the end of a line that starts further back.
        partial = pieces[0] if position > 0 else b""
        for raw in reversed(pieces[1:] if position > 0 else pieces):
            document = parse_anchor_line(raw) if raw.strip() else None
            if document is not None and genuine(document):
                return int(document["id"]), ends_clean
    return None, ends_clean


def _read_at(fd: int, offset: int, size: int) -> bytes:
    os.lseek(fd, offset, os.SEEK_SET)
    chunks, left = [], size
    while left > 0:
        chunk = os.read(fd, left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    """Make a new file's directory entry durable too (not possible on every platform)."""
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
