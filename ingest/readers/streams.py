"""The byte streams readers parse, and pyarrow's block reader over them.

A gzip file is read through :class:`_GzipLines`, which ends cleanly at the
last whole line before any damage; pyarrow's readers see the file through
:class:`_CountedLines`, which counts the lines they were given so the fast
path can tell whether it placed every one. :class:`BlockReader` drives
pyarrow's streaming CSV reader for both text formats, turning its errors
into :class:`~ingest.readers.files.TruncatedInput` (the file broke off) or
:class:`~ingest.readers.files.ExactReadNeeded` (read it again on the exact path).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

from ingest.readers.files import ExactReadNeeded, SourceFile, TruncatedInput

__all__ = ["BlockReader", "damage_of", "open_binary"]

#: zlib's window bits for data in a gzip wrapper (header and CRC checked)
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def _salvage(decompressor, compressed: bytes) -> bytes:
    """What ``compressed`` decompresses to before the byte where it breaks (``zcat``'s output)."""
    out = []
    for index in range(len(compressed)):
        try:
            out.append(decompressor.decompress(compressed[index:index + 1]))
        except zlib.error:
            break
    return b"".join(out)


class _ByteStream(io.RawIOBase):
    """A readable raw stream defined by its ``read`` (what pyarrow's readers take)."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _GzipLines(_ByteStream):
    """A gzip file as a byte stream that ends cleanly at the last whole line before any damage.

    A truncated or corrupt gzip member raises in the middle of a read, and
    pyarrow would discard the whole block it was parsing. This stream hands
    over complete lines only, and when the file breaks it stops there and
    keeps the error in ``damage``: the rows before the damage are parsed
    like any others, and the partial line at the break is never mistaken
    for a short but valid row.

    It drives :func:`zlib.decompressobj` rather than :mod:`gzip`:
    ``GzipFile.read`` throws away what it decompressed in the call that
    meets the damage (up to a MiB was lost, a whole small file), while a
    decompressor keeps its output. A piece that fails is fed again byte by
    byte to a copy of the decompressor taken before it, so exactly the
    bytes ``zcat`` writes before the error come out.
    """

    def __init__(self, path: Path, piece: int = 1 << 16):
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._piece = piece
        self._member = zlib.decompressobj(_GZIP_WBITS)
        self._fed = False
        self._held = b""
        self._done = False
        self.damage: BaseException | None = None

    def _finish(self, damage: BaseException | None = None) -> None:
        self.damage = damage
        if damage is not None:
            self._held = self._held[: self._held.rfind(b"\n") + 1]
        self._done = True

    def _fill(self) -> None:
        """Decompress the next piece of the file into ``_held``; members follow one another."""
        try:
            data = self._file.read(self._piece)
        except OSError as exc:
            self._finish(exc)
            return
        if not data:
            if not self._fed:  # not even a gzip header: cut to nothing (zcat says so too)
                self._finish(EOFError("the file is empty, not even a gzip header"))
            else:
                self._finish(None if self._member.eof else EOFError("the file ends inside a gzip member"))
            return
        parts = []
        while data:
            if self._member.eof:
                data = data.lstrip(b"\0")  # zero padding between members, as gzip allows
                if not data:
                    break
                self._member = zlib.decompressobj(_GZIP_WBITS)
            before = self._member.copy()
            self._fed = True
            try:
                parts.append(self._member.decompress(data))
            except zlib.error as exc:
                parts.append(_salvage(before, data))
                self._held += b"".join(parts)
                self._finish(exc)
                return
            data = self._member.unused_data if self._member.eof else b""
        self._held += b"".join(parts)

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._held) < size):
            self._fill()
        if size < 0 or size >= len(self._held):
            out, self._held = self._held, b""
        else:
            out, self._held = self._held[:size], self._held[size:]
        return out

    def close(self) -> None:
        self._file.close()
        super().close()


def open_binary(source: SourceFile):
    if source.compression == "gzip":
        return io.BufferedReader(_GzipLines(source.path))
    return open(source.path, "rb")


def damage_of(handle) -> BaseException | None:
    """The error that cut a gzip stream short, if any (``None`` for plain files)."""
    raw = getattr(handle, "raw", handle)
    return getattr(raw, "damage", None)


class _CountedLines(_ByteStream):
    """A byte stream that counts the lines passing through it, for pyarrow's readers.

    pyarrow also ends a line at a bare carriage return, where the rest of
    ingest (and the exact path) does not: the fast path compares the rows
    it placed with :meth:`lines` and takes the exact path when they differ.
    It keeps ``damage`` of the gzip stream it may wrap.
    """

    def __init__(self, inner):
        self._inner = inner
        self.newlines = 0
        self._last = b""

    @property
    def damage(self) -> BaseException | None:
        return getattr(self._inner, "damage", None)

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        if data:
            self.newlines += data.count(b"\n")
            self._last = data[-1:]
        return data

    def lines(self) -> int:
        """Lines read so far: a last line without its newline counts too."""
        return self.newlines + (1 if self._last not in (b"", b"\n") else 0)

    def close(self) -> None:
        self._inner.close()
        super().close()


def _arrow_stream(source: SourceFile):
    """A stream for pyarrow, and the object that counts its lines and knows if the file was damaged."""
    inner = _GzipLines(source.path) if source.compression == "gzip" else open(source.path, "rb")  # noqa: SIM115
    counted = _CountedLines(inner)
    return pa.PythonFile(counted, mode="r"), counted



def _is_damage(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(word in text for word in ("truncated", "compressed", "inflate", "zlib", "gzip",
                                         "unexpected end", "end-of-stream", "crc"))


class BlockReader:
    """pyarrow's streaming CSV reader over a file, with the errors both text fast paths treat alike.

    A file that breaks off raises :class:`TruncatedInput` naming its last
    whole line; a row pyarrow cannot place (its ``invalid_row_handler``
    saw it, or the lines it counted differ from the file's) raises
    :class:`ExactReadNeeded`. ``cursor`` is the line the next batch starts
    on: the caller moves it past each batch it takes, since only the
    caller knows how many lines a batch spans.

    Parameters
    ----------
    source : SourceFile
    first_line : int
        The line of the first row (2 under a CSV header).
    irregular : str
        Why a row pyarrow skipped sends the file to the exact path
        (``{count}`` is how many it skipped).
    """

    def __init__(self, source: SourceFile, first_line: int, irregular: str):
        self.source = source
        self.cursor = first_line
        self._irregular_reason = irregular
        self._irregular: list[int] = []

    def _on_invalid(self, row) -> str:
        # only its number: row.text raises on bytes that are not UTF-8, and an
        # exception here is swallowed by pyarrow, the row skipped unseen
        self._irregular.append(row.number)
        return "skip"

    def batches(self, read_options: pa_csv.ReadOptions, parse_options: dict,
                convert_options: pa_csv.ConvertOptions) -> Iterator[pa.RecordBatch]:
        """The file's record batches; ``parse_options`` are :class:`pyarrow.csv.ParseOptions` arguments."""
        stream, counted = _arrow_stream(self.source)
        try:
            yield from self._batches(stream, counted, read_options,
                                     pa_csv.ParseOptions(**parse_options, invalid_row_handler=self._on_invalid),
                                     convert_options)
        finally:
            stream.close()

    def _batches(self, stream, counted: _CountedLines, read_options, parse_options,
                 convert_options) -> Iterator[pa.RecordBatch]:
        source = self.source
        try:
            reader = pa_csv.open_csv(stream, read_options=read_options, parse_options=parse_options,
                                     convert_options=convert_options)
        except pa.ArrowInvalid as exc:
            if "empty" in str(exc).lower() and counted.damage is None:
                return
            if "empty" in str(exc).lower():
                raise TruncatedInput.after(source, 0, counted.damage) from exc
            raise ExactReadNeeded(str(exc)) from exc
        except OSError as exc:
            raise TruncatedInput.after(source, self.cursor - 1, exc) from exc
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                if _is_damage(exc):
                    raise TruncatedInput.after(source, self.cursor - 1, exc) from exc
                raise ExactReadNeeded(str(exc)) from exc
            except OSError as exc:
                raise TruncatedInput.after(source, self.cursor - 1, exc) from exc
            if self._irregular:
                raise ExactReadNeeded(self._irregular_reason.format(count=len(self._irregular)))
            yield batch
        placed = self.cursor - 1
        if self._irregular:
            raise ExactReadNeeded(f"{len(self._irregular)} row(s) pyarrow could not place")
        if placed != counted.lines():
            raise ExactReadNeeded(f"pyarrow saw {placed:,} lines where the file has {counted.lines():,} "
                                  "(a bare carriage return ends a line for it)")
        if counted.damage is not None:
            raise TruncatedInput.after(source, placed, counted.damage)
