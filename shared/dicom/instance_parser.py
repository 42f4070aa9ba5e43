"""Incremental parser of one DICOM Part 10 stream.

The store endpoint writes an instance to blob storage while it arrives, so it cannot wait for
the whole file before naming the blob, and it cannot afford to read the file again afterwards
to learn where each frame lies. This parser therefore keeps only the head of the file (the
data set before Pixel Data), hands it to pydicom as soon as it is complete, and from then on
tracks the pixel data layout from the bytes streaming past, holding a few bytes at most.
"""

import io
import itertools
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import IO, BinaryIO, Self, cast

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileDataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_preamble
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import UID
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

PIXEL_DATA_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
"""Pixel Data, Float Pixel Data and Double Float Pixel Data: where pydicom stops the head."""

HEAD_MEMORY_LIMIT = 8 * 1024 * 1024
"""Head bytes kept in memory; beyond this the head spills to a temporary file."""

DEFER_SIZE = 1024
"""Head values longer than this are not loaded by the parse; the data set reads them from the
head buffer on first access, so large non-pixel values cost nothing unless used."""

_FIRST_ATTEMPT = 4096
_READ_CHUNK = 1024 * 1024
_PREAMBLE_LENGTH = 132
_MAX_BASIC_OFFSET_TABLE = 64 * 1024 * 1024

_ITEM_TAG = 0xFFFEE000
_SEQUENCE_DELIMITER_TAG = 0xFFFEE0DD
_UNDEFINED_LENGTH = 0xFFFFFFFF
_CODESTREAM_PEEK = 12
_CODESTREAM_STARTS = (
    b"\xff\xd8",  # JPEG and JPEG-LS start of image
    b"\xff\x4f\xff\x51",  # JPEG 2000 start of codestream followed by SIZ
    b"\x00\x00\x00\x0cjP  \r\n\x87\n",  # JPEG 2000 file format signature box
)


class InvalidInstance(ValueError):
    """The stream is not a DICOM Part 10 instance the service can store.

    Messages name the rule broken and the tags involved, never a value, because they are
    logged and returned to clients.
    """


@dataclass(frozen=True)
class PixelDataLocation:
    """Where the pixel data element sits in the file.

    `value_offset` is None when the data set is deflated, so no byte of it can be addressed in
    the file. `value_length` is None for undefined length (encapsulated) values. Big endian
    native values keep their byte order in the file; `little_endian` tells readers to swap.
    """

    tag: int
    vr: str
    value_offset: int | None
    value_length: int | None
    encapsulated: bool
    little_endian: bool


@dataclass(frozen=True)
class Frame:
    """The byte ranges (offset, length) in the file that hold one frame, in order.

    Native frames are one range; encapsulated frames have one range per fragment value.
    """

    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ParsedInstance:
    """What the store endpoint needs to know about an instance once it is written.

    `frames` is None when frames cannot be served by byte range (deflated data set, packed
    single-bit native data, or a layout that does not map onto NumberOfFrames); retrieval then
    has to decode the whole file.
    """

    dataset: Dataset
    transfer_syntax_uid: str
    size: int
    pixel_data: PixelDataLocation | None
    frames: list[Frame] | None


@dataclass(frozen=True)
class _Fragment:
    item_offset: int
    value_offset: int
    length: int
    start: bytes


class _FragmentScanner:
    """Follows the items of an encapsulated pixel data value as its bytes stream past.

    Only the item header in progress and the first bytes of each fragment are kept, so chunk
    boundaries can fall anywhere without the scanner holding more than a few bytes.
    """

    def __init__(self, value_offset: int) -> None:
        self._position = value_offset
        self._header = bytearray()
        self._remaining = 0
        self._in_item = False
        self._item_offset = 0
        self._item_length = 0
        self._captured = bytearray()
        self._capture_limit = 0
        self.basic_offset_table: bytes | None = None
        self.fragments: list[_Fragment] = []
        self.complete = False

    def feed(self, chunk: bytes | memoryview) -> None:
        view = memoryview(chunk)
        index = 0
        while index < len(view) and not self.complete:
            if self._in_item:
                take = min(self._remaining, len(view) - index)
                wanted = self._capture_limit - len(self._captured)
                if wanted > 0:
                    self._captured += view[index : index + min(wanted, take)]
                index += take
                self._position += take
                self._remaining -= take
                if self._remaining == 0:
                    self._close_item()
                continue
            take = min(8 - len(self._header), len(view) - index)
            self._header += view[index : index + take]
            index += take
            self._position += take
            if len(self._header) == 8:
                self._open_item()

    def finish(self) -> None:
        if not self.complete:
            raise InvalidInstance(
                "encapsulated Pixel Data is truncated: the stream ends before its "
                "sequence delimiter"
            )

    def _open_item(self) -> None:
        group, element, length = struct.unpack("<HHL", self._header)
        self._header.clear()
        tag = group << 16 | element
        if tag == _SEQUENCE_DELIMITER_TAG:
            self.complete = True
            return
        if tag != _ITEM_TAG or length == _UNDEFINED_LENGTH:
            raise InvalidInstance(
                "encapsulated Pixel Data is malformed: an item of defined length was expected"
            )
        is_offset_table = self.basic_offset_table is None
        if is_offset_table and length > _MAX_BASIC_OFFSET_TABLE:
            raise InvalidInstance("encapsulated Pixel Data has an implausibly large offset table")
        self._in_item = True
        self._item_offset = self._position - 8
        self._item_length = length
        self._remaining = length
        self._capture_limit = length if is_offset_table else min(length, _CODESTREAM_PEEK)
        if length == 0:
            self._close_item()

    def _close_item(self) -> None:
        captured = bytes(self._captured)
        self._captured.clear()
        self._in_item = False
        if self.basic_offset_table is None:
            self.basic_offset_table = captured
            return
        self.fragments.append(
            _Fragment(self._item_offset, self._item_offset + 8, self._item_length, captured)
        )


class InstanceParser:
    """Feed the chunks of one Part 10 stream in order, then call finish().

    Until the head is parsed, fed bytes are buffered (spilling to disk past
    HEAD_MEMORY_LIMIT); the caller takes them once with buffered() and from then on handles
    each further chunk itself, because the parser no longer keeps them. Parses are attempted
    each time the buffer doubles, which keeps the total parsing cost linear in the head size.
    The head buffer stays open until close(): values longer than DEFER_SIZE are read from it on
    first access to the data set.
    """

    def __init__(self) -> None:
        # Lives as long as the parser: the data set reads deferred values from it. In memory
        # until HEAD_MEMORY_LIMIT, then on disk (``_buffer``). Not a SpooledTemporaryFile: its
        # read() is Python code in front of the buffer's, and a parse reads every element.
        self._head: IO[bytes] = io.BytesIO()
        self._size = 0
        self._head_size = 0
        self._next_attempt = _FIRST_ATTEMPT
        self._dataset: FileDataset | None = None
        self._pixel_data: PixelDataLocation | None = None
        self._pixel_tag_offset: int | None = None
        self._scanner: _FragmentScanner | None = None
        self._buffered_taken = False
        self._finished = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the head buffer; deferred values of the data set become unreadable."""
        self._head.close()

    @property
    def head_ready(self) -> bool:
        return self._dataset is not None

    @property
    def dataset(self) -> Dataset:
        """File meta and data set up to, not including, the pixel data element."""
        if self._dataset is None:
            raise RuntimeError("the data set is not parsed yet")
        return self._dataset

    def feed(self, chunk: bytes) -> None:
        if self._finished:
            raise RuntimeError("feed() after finish()")
        if self._dataset is not None:
            if self._scanner is not None:
                self._scanner.feed(chunk)
            self._size += len(chunk)
            return
        self._buffer(chunk)
        previous = self._size
        self._size += len(chunk)
        self._head_size = self._size
        if previous < _PREAMBLE_LENGTH <= self._size:
            self._check_preamble()
        if self._size >= self._next_attempt:
            self._next_attempt = 2 * self._size
            self._parse_head(final=False)

    def _buffer(self, chunk: bytes) -> None:
        """Append a chunk of the head, moving the buffer to disk once it passes the limit."""
        head = self._head
        head.seek(0, 2)
        head.write(chunk)
        if isinstance(head, io.BytesIO) and head.tell() > HEAD_MEMORY_LIMIT:
            # Closed by close(), as the head buffer always is.
            spilled = tempfile.TemporaryFile()  # noqa: SIM115
            spilled.write(head.getbuffer())
            head.close()
            self._head = spilled

    def buffered(self) -> Iterator[bytes]:
        """The bytes fed until the head was parsed, for the caller to write first; once only."""
        if self._dataset is None:
            raise RuntimeError("the head is not parsed yet")
        if self._buffered_taken:
            raise RuntimeError("buffered() was already taken")
        self._buffered_taken = True
        return self._read_buffered()

    def finish(self) -> ParsedInstance:
        """Validate the stream as a whole and return its layout."""
        if self._finished:
            raise RuntimeError("finish() was already called")
        self._finished = True
        if self._dataset is None:
            if self._size == 0:
                raise InvalidInstance("not a valid DICOM Part 10 file: the stream is empty")
            if self._size < _PREAMBLE_LENGTH:
                raise InvalidInstance(
                    "not a valid DICOM Part 10 file: too short for the preamble and prefix"
                )
            self._parse_head(final=True)
        dataset = self.dataset
        if self._scanner is not None:
            self._scanner.finish()
        return ParsedInstance(
            dataset=dataset,
            transfer_syntax_uid=_transfer_syntax(dataset),
            size=self._size,
            pixel_data=self._pixel_data,
            frames=self._frames(dataset),
        )

    def _check_preamble(self) -> None:
        self._head.seek(0)
        try:
            read_preamble(cast(BinaryIO, self._head), force=False)
        except InvalidDicomError:
            raise InvalidInstance(
                "not a valid DICOM Part 10 file: the 'DICM' prefix is missing at byte 128"
            ) from None

    def _parse_head(self, *, final: bool) -> None:
        """Parse the buffered head; on success at a pixel data tag, switch to streaming.

        A parse of a truncated buffer either fails or ends at the end of the buffer, so only a
        parse that stopped at a pixel data tag inside the buffer is complete. Before the end
        of the stream any failure just means more bytes are needed.
        """
        self._head.seek(0)
        try:
            dataset = pydicom.dcmread(self._head, defer_size=DEFER_SIZE, stop_before_pixels=True)
        except Exception as exc:
            if not final:
                return
            raise InvalidInstance(
                f"not a valid DICOM Part 10 file: the data set cannot be parsed "
                f"({type(exc).__name__})"
            ) from None
        # The head buffer, or for a deflated data set the inflated copy pydicom made of it.
        source = cast(IO[bytes], dataset.buffer)
        stop = source.tell()
        source.seek(0, 2)
        source_end = source.tell()
        source.seek(stop)
        header = source.read(12)
        deflated = source is not self._head
        location = _pixel_data_header(header, stop, dataset, deflated)
        if location is None and not final:
            if len(dataset) > 0:
                # The file meta group is complete: refuse early if it lacks a transfer syntax.
                _transfer_syntax(dataset)
            return
        transfer_syntax = _transfer_syntax(dataset)
        if location is None and (stop < source_end or not _values_within(dataset, source_end)):
            raise InvalidInstance(
                "not a valid DICOM Part 10 file: the data set cannot be parsed to its end"
            )
        self._dataset = dataset
        self._pixel_data = location
        if location is None or location.value_offset is None:
            return
        self._pixel_tag_offset = stop
        _check_pixel_encoding(location, transfer_syntax)
        if location.encapsulated:
            self._scanner = _FragmentScanner(location.value_offset)
            for chunk in self._read_head(location.value_offset, self._head_size):
                self._scanner.feed(chunk)

    def _read_head(self, start: int, end: int) -> Iterator[bytes]:
        position = start
        while position < end:
            self._head.seek(position)
            chunk = self._head.read(min(_READ_CHUNK, end - position))
            if not chunk:
                return
            position += len(chunk)
            yield chunk

    def _read_buffered(self) -> Iterator[bytes]:
        yield from self._read_head(0, self._head_size)
        if self._pixel_tag_offset is not None:
            # Deferred values all lie before the pixel data, so the rest can go.
            self._head.truncate(self._pixel_tag_offset)

    def _frames(self, dataset: Dataset) -> list[Frame] | None:
        location = self._pixel_data
        if location is None or location.value_offset is None:
            return None
        if self._scanner is not None:
            return _encapsulated_frames(self._scanner, dataset)
        value_length = location.value_length or 0
        if self._size < location.value_offset + value_length:
            raise InvalidInstance(
                f"Pixel Data {_tag_text(location.tag)} is truncated: the stream ends before "
                "its declared length"
            )
        return _native_frames(location.value_offset, value_length, location.tag, dataset)


def _pixel_data_header(
    header: bytes, offset: int, dataset: FileDataset, deflated: bool
) -> PixelDataLocation | None:
    """Decode the pixel data element header at `offset`, or None if there is none.

    pydicom leaves the stream at the pixel data tag but does not report the element's length
    or where its value starts, which are needed to locate frames.
    """
    if len(header) < 8:
        return None
    is_implicit, is_little = dataset.original_encoding[:2]
    order = "<" if is_little else ">"
    group, element = struct.unpack(f"{order}HH", header[:4])
    tag = group << 16 | element
    if tag not in PIXEL_DATA_TAGS:
        return None
    explicit_vr = header[4:6]
    # Like pydicom, read an element without a plausible VR as implicit VR.
    if is_implicit or not (explicit_vr.isalpha() and explicit_vr.isupper()):
        (length,) = struct.unpack(f"{order}L", header[4:8])
        header_length = 8
        vr = dictionary_VR(tag)
        if " or " in vr:
            # PS3.5 A.4 and A.1: encapsulated Pixel Data is OB, native implicit VR is OW.
            vr = "OB" if length == _UNDEFINED_LENGTH else "OW"
    else:
        vr = explicit_vr.decode("ascii")
        if vr in EXPLICIT_VR_LENGTH_32:
            if len(header) < 12:
                return None
            (length,) = struct.unpack(f"{order}L", header[8:12])
            header_length = 12
        else:
            (length,) = struct.unpack(f"{order}H", header[6:8])
            header_length = 8
    undefined = length == _UNDEFINED_LENGTH
    return PixelDataLocation(
        tag=tag,
        vr=vr,
        value_offset=None if deflated else offset + header_length,
        value_length=None if undefined else length,
        encapsulated=undefined,
        little_endian=bool(is_little),
    )


def _values_within(dataset: Dataset, end: int) -> bool:
    """Whether every top-level value of defined length ends inside the stream.

    pydicom returns a short value without complaint when the stream ends inside it, so a
    truncated file that has no pixel data is only recognisable by its declared lengths.
    """
    for element in dataset.values():
        if (
            isinstance(element, RawDataElement)
            and element.length != _UNDEFINED_LENGTH
            and element.value_tell + element.length > end
        ):
            return False
    return True


def _transfer_syntax(dataset: Dataset) -> str:
    try:
        value = dataset.file_meta.get("TransferSyntaxUID")
    except Exception:  # pydicom raises assorted errors for malformed values
        value = None
    if not value or not isinstance(value, str):
        raise InvalidInstance(
            "not a valid DICOM Part 10 file: (0002,0010) TransferSyntaxUID is missing "
            "from the file meta information or unreadable"
        )
    return str(value)


def _check_pixel_encoding(location: PixelDataLocation, transfer_syntax: str) -> None:
    """Refuse pixel data whose framing contradicts the transfer syntax (PS3.5 A.4).

    A transfer syntax pydicom does not know (a private one) is trusted to frame its pixel
    data the way the element's own length says.
    """
    try:
        encapsulated_syntax = UID(transfer_syntax).is_encapsulated
    except ValueError:
        return
    if location.encapsulated and not encapsulated_syntax:
        raise InvalidInstance(
            f"Pixel Data {_tag_text(location.tag)} has undefined length in a native transfer syntax"
        )
    if encapsulated_syntax and not location.encapsulated:
        raise InvalidInstance(
            f"Pixel Data {_tag_text(location.tag)} has a defined length in an encapsulated "
            "transfer syntax"
        )


def _number_of_frames(dataset: Dataset) -> int | None:
    """NumberOfFrames as pydicom reads it (absent, empty or 0 mean 1); None when unusable."""
    try:
        value = dataset.get("NumberOfFrames")
        if value is None or value == "":
            return 1
        frames = int(value)
    except Exception:  # pydicom raises assorted errors for malformed values
        return None
    if frames != value or frames < 0:
        return None
    return max(frames, 1)


def _native_frames(
    value_offset: int, value_length: int, tag: int, dataset: Dataset
) -> list[Frame] | None:
    """Equal-sized frames laid end to end; packed single-bit frames need not start on a byte."""
    count = _number_of_frames(dataset)
    try:
        if count is None or int(dataset.BitsAllocated) == 1:
            return None
        total = get_expected_length(dataset, unit="bytes")
    except Exception:  # missing or malformed attributes: the geometry is unknown
        return None
    # Attributes of a text VR where a number belongs make pydicom's product a string.
    if not isinstance(total, int) or total <= 0 or total % count:
        return None
    if value_length < total:
        raise InvalidInstance(
            f"Pixel Data {_tag_text(tag)} is shorter than Rows, Columns, SamplesPerPixel, "
            "BitsAllocated and NumberOfFrames require"
        )
    frame_length = total // count
    return [Frame(((value_offset + index * frame_length, frame_length),)) for index in range(count)]


def _encapsulated_frames(scanner: _FragmentScanner, dataset: Dataset) -> list[Frame] | None:
    """Group fragments into frames following PS3.5 A.4, most explicit evidence first."""
    fragments = scanner.fragments
    if not fragments:
        return None
    count = _number_of_frames(dataset)
    return (
        _by_basic_offsets(fragments, scanner.basic_offset_table or b"")
        or _by_extended_offsets(fragments, dataset)
        or _by_count(fragments, count)
        or _by_codestream_starts(fragments, count)
    )


def _by_basic_offsets(fragments: list[_Fragment], table: bytes) -> list[Frame] | None:
    if not table or len(table) % 4:
        return None
    offsets = struct.unpack(f"<{len(table) // 4}L", table)
    base = fragments[0].item_offset
    starts = {fragment.item_offset - base: index for index, fragment in enumerate(fragments)}
    # PS3.5 A.4: offsets start at 0, increase, and each points at a fragment's item tag.
    ordered = offsets[0] == 0 and list(offsets) == sorted(set(offsets))
    if not ordered or any(offset not in starts for offset in offsets):
        return None
    bounds = [starts[offset] for offset in offsets] + [len(fragments)]
    return [
        Frame(tuple((f.value_offset, f.length) for f in fragments[start:end]))
        for start, end in itertools.pairwise(bounds)
    ]


def _by_extended_offsets(fragments: list[_Fragment], dataset: Dataset) -> list[Frame] | None:
    """PS3.3 C.7.6.3.1.8: one fragment per frame; the lengths exclude item padding."""
    try:
        offsets_value = dataset.get("ExtendedOffsetTable")
        lengths_value = dataset.get("ExtendedOffsetTableLengths")
    except Exception:  # pydicom raises assorted errors for malformed values
        return None
    if not isinstance(offsets_value, bytes) or not isinstance(lengths_value, bytes):
        return None
    if not offsets_value or len(offsets_value) % 8 or len(offsets_value) != len(lengths_value):
        return None
    count = len(offsets_value) // 8
    offsets = struct.unpack(f"<{count}Q", offsets_value)
    lengths = struct.unpack(f"<{count}Q", lengths_value)
    base = fragments[0].item_offset
    by_start = {fragment.item_offset - base: fragment for fragment in fragments}
    frames = []
    for offset, length in zip(offsets, lengths, strict=True):
        fragment = by_start.get(offset)
        if fragment is None or length > fragment.length:
            return None
        frames.append(Frame(((fragment.value_offset, length),)))
    return frames


def _by_count(fragments: list[_Fragment], count: int | None) -> list[Frame] | None:
    if count == len(fragments):
        return [Frame(((f.value_offset, f.length),)) for f in fragments]
    if count == 1:
        return [Frame(tuple((f.value_offset, f.length) for f in fragments))]
    return None


def _by_codestream_starts(fragments: list[_Fragment], count: int | None) -> list[Frame] | None:
    """Split where a fragment opens a new JPEG, JPEG-LS or JPEG 2000 codestream."""
    if count is None or not fragments[0].start.startswith(_CODESTREAM_STARTS):
        return None
    groups: list[list[_Fragment]] = []
    for fragment in fragments:
        if fragment.start.startswith(_CODESTREAM_STARTS):
            groups.append([])
        groups[-1].append(fragment)
    if len(groups) != count:
        return None
    return [Frame(tuple((f.value_offset, f.length) for f in group)) for group in groups]


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
