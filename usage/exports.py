"""Streamed exports (CSV, JSON, NDJSON) of request logs, chats and summaries.

PostgreSQL's ``COPY (query) TO STDOUT`` produces the rows and the response relays them as they
come, in chunks of about 64 KiB: memory stays flat whatever the size of the export, and nothing
is formatted row by row in Python. JSON rows come from ``row_to_json`` (which escapes every
control character, so a row is always one line); the JSON format wraps them in an array.

Each export runs in its own transaction with a ``statement_timeout``
(``LLMAAS_EXPORT_STATEMENT_TIMEOUT_MS``): a slow query cannot hold a connection (and its
snapshot) for ever. The timeout does not cover a reader that stops reading: PostgreSQL does not
act on it while blocked writing rows Django does not take; nginx, which buffers the export and
drops a client that stops reading, is what frees the worker then. An export cut by an error
(the timeout) has sent its 200 and part of the rows already: the error is logged and raised
out of the stream, so the server aborts the response (no final chunk: the client sees an
incomplete transfer, and a JSON export lacks its closing ``]``) instead of ending it as if it
were complete. CSV text cells that a spreadsheet would run as a formula
start with a ``'`` (OWASP's advice); JSON and NDJSON keep values as they are.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Generator, Iterator
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction

log = logging.getLogger(__name__)

FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "ndjson": ("application/x-ndjson", "ndjson"),
}
CHUNK = 64 * 1024
# CSV options that never quote or escape a row_to_json line (it holds no control characters).
_VERBATIM = "FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02'"


def iso(column: str) -> str:
    """A timestamptz column as ISO 8601 UTC text (the same in every format)."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def flag(column: str, csv: bool) -> str:
    """Booleans as true/false in CSV (COPY would write t/f), as JSON booleans otherwise."""
    return f"CASE WHEN {column} THEN 'true' ELSE 'false' END" if csv else column


def text(column: str, csv: bool) -> str:
    """A text column; in CSV, a cell starting like a formula (=, +, -, @, tab, CR) gets a
    leading ' so that a spreadsheet shows it instead of running it."""
    if not csv:
        return column
    formula = f"left({column}, 1) IN ('=', '+', '-', '@', chr(9), chr(13))"
    return f"CASE WHEN {formula} THEN '''' || {column} ELSE {column} END"


def _copy(statement: str, params: dict[str, Any]) -> Iterator[bytes]:
    sent = 0
    try:
        # closing: a client that goes away closes the inner generator at once (see _copy_chunks).
        with contextlib.closing(_copy_chunks(statement, params)) as chunks:
            for chunk in chunks:
                sent += len(chunk)
                yield chunk
    except DatabaseError as exc:
        # Raised on, never swallowed: the response must break, not end like a complete export.
        log.error("export cut after %d bytes, the response is aborted: %s", sent, exc)
        raise


def _copy_chunks(statement: str, params: dict[str, Any]) -> Generator[bytes]:
    buffer = bytearray()
    timeout = int(settings.EXPORT_STATEMENT_TIMEOUT_MS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL statement_timeout = {timeout}")  # an int: nothing to quote
        # The raw psycopg cursor's errors as Django's (a timeout is an OperationalError).
        with connection.wrap_database_errors, cursor.cursor.copy(statement, params) as copy:
            # A client that goes away mid-export closes this generator: leaving the block with
            # GeneratorExit makes psycopg cancel the COPY on the server and drain the connection.
            for data in copy:
                buffer += data
                if len(buffer) >= CHUNK:
                    yield bytes(buffer)
                    buffer.clear()
    if buffer:
        yield bytes(buffer)


def _json_array(lines: Iterator[bytes]) -> Iterator[bytes]:
    """NDJSON chunks → one JSON array, looking at one chunk at a time (a row never has a newline)."""
    yield b"[\n"
    pending_separator = False
    for chunk in lines:
        if pending_separator:
            yield b",\n"
        pending_separator = chunk.endswith(b"\n")
        yield (chunk[:-1] if pending_separator else chunk).replace(b"\n", b",\n")
    yield b"\n]\n"


def stream(select: str, params: dict[str, Any], fmt: str) -> Iterator[bytes]:
    """Stream the rows of ``select`` (a SELECT statement) in ``fmt``."""
    if fmt == "csv":
        return _copy(f"COPY ({select}) TO STDOUT WITH (FORMAT csv, HEADER)", params)
    lines = _copy(f"COPY (SELECT row_to_json(x) FROM ({select}) x) TO STDOUT WITH ({_VERBATIM})", params)
    return _json_array(lines) if fmt == "json" else lines
