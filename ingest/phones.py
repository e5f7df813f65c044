"""Phone lookups: each distinct phone value's pseudonyms and facts, optionally in two processes.

Ingest looks every distinct number of a chunk up once (see
:mod:`ingest.pipeline`). Normalizing, hashing (:mod:`ingest.pseudonymize`)
and classifying (:func:`ingest.enrich.classify_phones`) are single-threaded
Python and numpy, about a second a 524k-row chunk at incident scale, while
DuckDB waits: :class:`PhoneHelper` hands half of each large lookup to a
second process so that the other core works too.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ingest.enrich import classify_phones
from ingest.pseudonymize import BLOCK_DIGITS, hmac_hex_array, normalize_e164_array

__all__ = ["PHONE_SPLIT_MIN", "PhoneHelper", "phone_facts"]


def phone_facts(values: pa.Array, secret: bytes) -> pa.Table:
    """Pseudonyms and facts of each distinct phone value.

    ``value`` is the keyed hash when the value can be a phone number (else
    NULL: quarantined as ``invalid phone``); ``block_hash`` is computed once
    per distinct block. The raw numbers exist only in this process's Arrow
    memory: they are hashed here, in Python, and never handed to DuckDB, so
    not even a spill file of the database can hold one.
    """
    e164 = normalize_e164_array(values)
    facts = classify_phones(e164.fill_null(""))
    valid = pc.and_(facts.column("possible"), pc.is_valid(facts.column("calling_code"))).combine_chunks()
    e164 = pc.if_else(valid, e164, pa.scalar(None, pa.string()))
    blocks = pc.dictionary_encode(pc.utf8_slice_codeunits(e164, 0, -BLOCK_DIGITS))
    none = pa.nulls(len(values))
    return pa.table({
        "value": hmac_hex_array(secret, e164),
        "block_hash": hmac_hex_array(secret, blocks.dictionary).take(blocks.indices),
        "block_ordinal": pc.cast(pc.utf8_slice_codeunits(e164, -BLOCK_DIGITS), pa.int16()),
        "calling_code": pc.if_else(valid, facts.column("calling_code"), none.cast(pa.int16())),
        "region": pc.if_else(valid, facts.column("region"), none.cast(pa.string())),
        "number_type": pc.if_else(valid, facts.column("number_type"), none.cast(pa.string())),
    })


#: distinct phone values from which a lookup is split with the helper process (fewer: not worth a round trip)
PHONE_SPLIT_MIN = 50_000


def _serve(fd: int) -> None:
    """The helper process: :func:`phone_facts` of whatever arrives on ``fd``, until the ingest hangs up."""
    conn = Connection(fd)
    while True:
        try:
            values, secret = conn.recv()
        except EOFError:  # the ingest finished, or died: nothing left to do
            return
        try:
            conn.send(phone_facts(values, secret))
        except Exception as exc:  # noqa: BLE001 - handed back to the ingest, which raises it
            conn.send(exc)


class PhoneHelper:
    """A second process that computes half of each large phone lookup while this one does the other half.

    Hashing and classifying numbers is single-threaded Python and numpy,
    and DuckDB is idle meanwhile: one core of two did nothing. The helper
    is a fresh interpreter (not a fork: DuckDB's threads; not
    ``multiprocessing``'s spawn, which re-imports the caller's main script)
    started on first use, holding only its end of a socket pair: it exits
    when the ingest hangs up or dies. Raw numbers cross the socket in
    memory only, like the Arrow memory they come from.
    """

    def __init__(self) -> None:
        self._conn: Connection | None = None
        self._process: subprocess.Popen | None = None

    def _start(self) -> Connection:
        if self._conn is None:
            mine, theirs = socket.socketpair()
            with theirs:
                self._process = subprocess.Popen(
                    [sys.executable, "-c",
                     f"from ingest.phones import _serve; _serve({theirs.fileno()})"],
                    pass_fds=(theirs.fileno(),), cwd=Path(__file__).resolve().parent.parent,
                )
            self._conn = Connection(mine.detach())
        return self._conn

    def phone_facts(self, values: pa.Array, secret: bytes) -> pa.Table:
        """:func:`phone_facts` of ``values``, the second half computed by the helper."""
        if len(values) < PHONE_SPLIT_MIN:
            return phone_facts(values, secret)
        conn = self._start()
        half = len(values) // 2
        # a compact copy: a slice would carry (and pickle) the whole buffer
        conn.send((pa.concat_arrays([values.slice(half)]), secret))
        try:
            first = phone_facts(values.slice(0, half), secret)
        finally:  # the helper's answer is taken even when this half failed: the next call must not get it
            second = conn.recv()
        if isinstance(second, Exception):
            raise second
        return pa.concat_tables([first, second])

    def close(self) -> None:
        """Hang up and wait for the helper to finish."""
        if self._conn is not None:
            self._conn.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._conn = self._process = None
