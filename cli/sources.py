"""Finding the DICOM files to import: files, folders walked recursively, and members of zips.

A file is DICOM when its content says so (a Part 10 file: 128-byte preamble, then ``DICM``),
whatever its name; DICOM files often have no extension at all. Zip members are read in place,
never extracted to disk. Each DICOM file carries its SOP Instance UID, read from its header, so
that the server's per-instance answer can be matched back to the file it came from.
"""

from __future__ import annotations

import functools
import io
import os
import threading
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING

from pydicom import dcmread
from pydicom.tag import Tag

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

PREAMBLE = 128
MAGIC = b"DICM"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# Separates an archive's path from a member's name in reported paths.
MEMBER_SEPARATOR = "!"
SOP_INSTANCE_UID = Tag(0x0008, 0x0018)
# Values longer than this are not loaded while reading a header.
DEFER_BYTES = 4096

Opener = Callable[[], IO[bytes]]


class Outcome(StrEnum):
    """What became of one file, as the summary and the report name it."""

    STORED = "stored"
    PRESENT = "already-present"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class DicomFile:
    """A DICOM file to send: where it is shown as coming from, its size, and how to read it."""

    path: str
    size: int
    sop_instance_uid: str | None
    open: Opener = field(repr=False, compare=False)


@dataclass(frozen=True)
class Rejected:
    """A file that is not sent: skipped (not DICOM) or failed (could not be read)."""

    path: str
    outcome: Outcome
    reason: str


Found = DicomFile | Rejected


def is_dicom(head: bytes) -> bool:
    """Whether the first bytes of a file are those of a DICOM Part 10 file."""
    return head[PREAMBLE : PREAMBLE + len(MAGIC)] == MAGIC


def sop_instance_uid(stream: IO[bytes]) -> str | None:
    """The SOP Instance UID in a Part 10 stream's data set, or None when it cannot be read.

    A file whose header does not parse is still sent: the server decides, and its failure reason
    is what the user needs to see.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(
                stream,
                stop_before_pixels=True,
                defer_size=DEFER_BYTES,
                specific_tags=[SOP_INSTANCE_UID],
            )
        value = ds.get(SOP_INSTANCE_UID)
    except Exception:  # any content at all can be in a file; none of it may stop the import
        return None
    uid = str(value.value).strip("\0 ") if value is not None and value.value else ""
    return uid or None


def _examine(path: str, size: int, opener: Opener) -> Found:
    with opener() as stream:
        if not is_dicom(stream.read(PREAMBLE + len(MAGIC))):
            return Rejected(path, Outcome.SKIPPED, "not DICOM")
        stream.seek(0)
        return DicomFile(path, size, sop_instance_uid(stream), opener)


def _unreadable(path: str, exc: Exception) -> Rejected:
    """The error's own words (an OSError's without the path, which is in the report already)."""
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return Rejected(path, Outcome.FAILED, f"cannot read: {detail or type(exc).__name__}")


class Scanner:
    """Walks the given paths in a stable order (sorted names) and yields what it finds.

    Archives stay open until ``close`` so that their members can be read while they are sent.
    Symbolic links to folders are not followed, so a link loop cannot make the walk endless.
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self._archives: list[_Archive] = []

    def scan(self) -> Iterator[Found]:
        for path in self.paths:
            if path.is_dir():
                for folder, dirs, files in os.walk(path):
                    dirs.sort()
                    for name in sorted(files):
                        yield from self._file(Path(folder, name))
            else:
                yield from self._file(path)

    def close(self) -> None:
        for archive in self._archives:
            archive.zip.close()
        self._archives.clear()

    def _file(self, path: Path) -> Iterator[Found]:
        shown = str(path)
        try:
            size = path.stat().st_size
            with path.open("rb") as stream:
                head = stream.read(PREAMBLE + len(MAGIC))
            if head[:4] in ZIP_MAGIC and not is_dicom(head) and zipfile.is_zipfile(path):
                yield from self._archive(path)
                return
            yield _examine(shown, size, _file_opener(path))
        except (OSError, zipfile.BadZipFile) as exc:
            yield _unreadable(shown, exc)

    def _archive(self, path: Path) -> Iterator[Found]:
        archive = _Archive(path)
        self._archives.append(archive)
        for info in archive.zip.infolist():
            if info.is_dir():
                continue
            shown = f"{path}{MEMBER_SEPARATOR}{info.filename}"
            try:
                yield _examine(shown, info.file_size, archive.opener(info))
            except (OSError, RuntimeError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
                # RuntimeError: an encrypted member; the others: a damaged archive.
                yield _unreadable(shown, exc)


def _file_opener(path: Path) -> Opener:
    return lambda: path.open("rb")


class _Archive:
    """A zip archive whose members are read from several threads at once (scan and requests).

    zipfile counts the open members of an archive without a lock, and a miscount closes the
    archive under a reader; opening and closing members under one lock keeps the count right.
    Reads need no lock of ours: zipfile serialises them itself.
    """

    def __init__(self, path: Path) -> None:
        self.zip = zipfile.ZipFile(path)
        self._lock = threading.Lock()

    def opener(self, info: zipfile.ZipInfo) -> Opener:
        return functools.partial(self._open, info)

    def _open(self, info: zipfile.ZipInfo) -> IO[bytes]:
        with self._lock:
            return io.BufferedReader(_Member(self.zip.open(info), self._lock))


class _Member(io.RawIOBase):
    """A zip member's stream whose close takes the archive's lock."""

    def __init__(self, member: IO[bytes], lock: threading.Lock) -> None:
        super().__init__()
        self._member = member
        self._lock = lock

    @property
    def name(self) -> str:
        """The member's name, which readers such as pydicom's take as the stream's file name."""
        return str(getattr(self._member, "name", ""))

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._member.read(-1 if size is None else size)

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._member.read(len(view))
        view[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._member.seek(offset, whence)

    def tell(self) -> int:
        return self._member.tell()

    def close(self) -> None:
        if not self.closed:
            with self._lock:
                self._member.close()
        super().close()
