"""Zip files written byte-for-byte reproducibly, and read defensively.

Writing: members in the given order, fixed timestamps and permissions, one compression level,
so the same inputs give the same bytes. Reading: names, types, sizes and compression ratios are
checked before anything is read, every read is bounded, and files are only ever written inside
a given directory.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold


@dataclass(frozen=True)
class Limits:
    """What a submission's members may be: size per member, in total, compression ratio."""

    member_bytes: int = 1 << 30
    total_bytes: int = 8 << 30
    ratio: float = 200.0
    ratio_min_bytes: int = 1 << 20  # smaller members compress as they like


def write_zip(path: Path, members: list[tuple[str, bytes]]) -> None:
    """Write ``members`` (name, bytes) to ``path`` deterministically (atomic rename)."""
    tmp = Path(path).with_name(Path(path).name + ".partial")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever the platform
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, data, compresslevel=9)
    tmp.replace(path)


def unsafe_name(name: str) -> str | None:
    """Why a member name must not be extracted (absolute, ``..``, backslashes), or None."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if "\\" in name:
        return "contains a backslash"
    if ".." in PurePosixPath(name).parts:
        return "contains '..'"
    return None


def is_symlink(info: zipfile.ZipInfo) -> bool:
    """Whether a member is stored as a symbolic link."""
    return stat.S_ISLNK(info.external_attr >> 16)


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A member's bytes, reading at most ``limit`` (a header that lies about its size fails)."""
    with zf.open(info) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{info.filename}: more than {limit} bytes")
    return data


def extract_member(data: bytes, name: str, root: Path) -> Path:
    """Write ``data`` as ``root/name``; refuses any path that would land outside ``root``."""
    root = root.resolve()
    target = (root / name).resolve()
    if not target.is_relative_to(root):
        raise ValueError(f"{name}: would be written outside {root}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target
