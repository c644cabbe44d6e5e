"""Where release journals live: one JSON-lines object per run plus a small index, in a local folder
or under an S3 prefix.

    <root>/runs/<run_id>.jsonl   one record per line: {"step", "status", "data": {"run_id", ...}, "time"}
    <root>/runs/index.json       {"version": 1, "runs": [RunIndexEntry, ...]}, newest first

An append costs one run's size (a local append + fsync; in S3 one conditional PUT of that run's
object), never the whole history. The index changes only on records that change a run's state
(``journal.INDEX_STATUSES``), and on ``begin`` runs beyond ``keep_runs`` are deleted (never one
that is not finished: it may still be resumed or aborted). The index is written first, then the
old objects deleted: a crash in between leaves an unlisted object, never a listed run without one.

Earlier versions kept every run in one file or object (``.bluegreen/journal.jsonl``,
``<key>.bluegreen-journal.jsonl``). That *legacy* journal is read, never written: its runs are
listed, and the first record appended to one of its runs (``resume`` / ``abort`` of a run the old
version started) copies that run's records into its own object first.

Both stores refuse a torn or edited object the same way (``parse_lines``), and S3 writes are
conditional (``If-None-Match: *`` to create, ``If-Match: <ETag>`` to replace) so a concurrent
writer is noticed and its records kept.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ..errors import AwsError, InputError
from ..journal import (
    INDEX_STATUSES,
    RUN,
    JournalRecord,
    RunIndexEntry,
    entries_of,
    index_after,
    newest_first,
    record_time,
    retain,
)
from .lease import CONFLICT_CODES, MISSING_CODES, default_owner
from .session import aws_call

__all__ = ["FileJournalStore", "JournalRecord", "S3JournalStore", "parse_lines", "DEFAULT_KEEP_RUNS"]

Now = Callable[[], datetime]
DEFAULT_KEEP_RUNS = 100
INDEX_VERSION = 1
_ATTEMPTS = 5  # conditional-write rounds before giving up on an object that keeps changing
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # a file name and an S3 key segment
MOVE_ASIDE_HINT = "move it aside to start without it (`bluegreen abort` reads AWS, not the journal)"


def parse_lines(text: str, where: str) -> list[JournalRecord]:
    """Records from JSON-lines ``text``. A torn last line (a crash mid-append) is dropped; a bad
    line anywhere else means the journal was edited or corrupted, and resuming from it is unsafe."""
    lines = text.split("\n")
    records: list[JournalRecord] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(JournalRecord.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            if number == len(lines):  # no newline after it: the append never finished
                break
            raise InputError(
                f"release journal {where} line {number} is not a journal record", hint=MOVE_ASIDE_HINT
            ) from None
    return records


def parse_index(text: str, where: str) -> list[RunIndexEntry]:
    try:
        body = json.loads(text)
        return [RunIndexEntry.from_dict(entry) for entry in body["runs"]]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"release journal index {where} is not a journal index", hint=MOVE_ASIDE_HINT) from None


def render_index(entries: list[RunIndexEntry]) -> str:
    return json.dumps({"version": INDEX_VERSION, "runs": [e.to_dict() for e in entries]}, indent=1) + "\n"


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id or ""):
        raise InputError(f"run id {run_id!r} is not a run id (letters, digits, '.', '_' or '-')")
    return run_id


class _RunStore:
    """The store's logic over five storage primitives the subclasses implement."""

    def __init__(self, *, keep_runs: int, now: Now | None, owner: str | None) -> None:
        if keep_runs < 1:
            raise ValueError("keep_runs must be at least 1")
        self.keep_runs = keep_runs
        self._now = now or (lambda: datetime.now(timezone.utc))
        self.owner = owner or default_owner()
        self._legacy: list[JournalRecord] | None = None  # read once per store

    # -- primitives --------------------------------------------------------------------------

    def _has_run(self, run_id: str) -> bool:
        raise NotImplementedError

    def _append_records(self, run_id: str, records: list[JournalRecord], *, new: bool) -> None:
        raise NotImplementedError

    def _read_run_text(self, run_id: str) -> str | None:
        raise NotImplementedError

    def _update_index(self, change: Callable[[list[RunIndexEntry]], list[RunIndexEntry] | None]) -> None:
        """Apply ``change`` to the stored index atomically (re-applied on a concurrent write);
        ``change`` returning ``None`` means nothing to write."""
        raise NotImplementedError

    def _read_index(self) -> list[RunIndexEntry]:
        raise NotImplementedError

    def _delete_run(self, run_id: str) -> None:
        raise NotImplementedError

    def _read_legacy_text(self) -> str | None:
        raise NotImplementedError

    def _where_run(self, run_id: str) -> str:
        raise NotImplementedError

    @property
    def where_legacy(self) -> str:
        raise NotImplementedError

    # -- the protocol ------------------------------------------------------------------------

    def append(self, run_id: str, step: str, status: str,
               data: Mapping[str, Any] | None = None) -> JournalRecord:
        check_run_id(run_id)
        record = JournalRecord(step=step, status=status, data={"run_id": run_id, **(data or {})},
                               time=record_time(self._now()))
        new = status == "begin" and step == RUN
        if not new and not self._has_run(run_id):
            self._adopt_legacy(run_id)
        self._append_records(run_id, [record], new=new)
        if status in INDEX_STATUSES:
            self._index(run_id, record)
        return record

    def read_run(self, run_id: str) -> list[JournalRecord]:
        check_run_id(run_id)
        text = self._read_run_text(run_id)
        if text is None:  # not in its own object: a run of the legacy journal, or unknown
            return [r for r in self._legacy_records() if r.run_id == run_id]
        return parse_lines(text, self._where_run(run_id))

    def runs(self, limit: int | None = None) -> list[RunIndexEntry]:
        indexed = self._read_index()
        known = {e.run_id for e in indexed}
        legacy = [e for e in entries_of(self._legacy_records()) if e.run_id not in known]
        entries = newest_first([*indexed, *legacy]) if legacy else indexed
        return entries if limit is None else entries[:limit]

    def latest(self) -> str | None:
        newest = self.runs(1)
        return newest[0].run_id if newest else None

    # -- internals ---------------------------------------------------------------------------

    def _index(self, run_id: str, record: JournalRecord) -> None:
        dropped: list[RunIndexEntry] = []

        def change(entries: list[RunIndexEntry]) -> list[RunIndexEntry] | None:
            updated = index_after(entries, record, run_id, self.owner)
            dropped.clear()  # re-applied after a concurrent write: judge again from scratch
            if updated is not None and record.status == "begin":
                updated, gone = retain(updated, self.keep_runs)
                dropped.extend(gone)
            return updated

        self._update_index(change)
        for entry in dropped:  # after the index no longer lists them
            self._delete_run(entry.run_id)

    def _legacy_records(self) -> list[JournalRecord]:
        if self._legacy is None:
            text = self._read_legacy_text()
            self._legacy = [] if text is None else parse_lines(text, self.where_legacy)
        return self._legacy

    def _adopt_legacy(self, run_id: str) -> None:
        """First write to a run the legacy journal began: give it its own object and an index entry."""
        records = [r for r in self._legacy_records() if r.run_id == run_id]
        if not any(r.step == RUN and r.status == "begin" for r in records):
            return  # a stray record of an unknown run: written to its own object, never indexed
        self._append_records(run_id, records, new=True)
        entry = entries_of(records)[0]
        self._update_index(
            lambda entries: newest_first([entry, *(e for e in entries if e.run_id != run_id)])
        )


class FileJournalStore(_RunStore):
    """``<directory>/<run_id>.jsonl`` and ``<directory>/index.json`` (``directory`` is
    ``<stack>/.bluegreen/runs`` for a local backend)."""

    def __init__(self, directory: str | os.PathLike[str], *, legacy_path: str | os.PathLike[str] | None = None,
                 keep_runs: int = DEFAULT_KEEP_RUNS, now: Now | None = None, owner: str | None = None) -> None:
        super().__init__(keep_runs=keep_runs, now=now, owner=owner)
        self.directory = Path(directory)
        self.index_path = self.directory / "index.json"
        self.legacy_path = Path(legacy_path) if legacy_path is not None else None

    def run_path(self, run_id: str) -> Path:
        return self.directory / f"{check_run_id(run_id)}.jsonl"

    def _where_run(self, run_id: str) -> str:
        return str(self.run_path(run_id))

    @property
    def where_legacy(self) -> str:
        return str(self.legacy_path)

    def _has_run(self, run_id: str) -> bool:
        return self.run_path(run_id).exists()

    def _append_records(self, run_id: str, records: list[JournalRecord], *, new: bool) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # One write() of whole lines in append mode, then fsync: the record survives a crash
        # right after the step it describes.
        with open(self.run_path(run_id), "a", encoding="utf-8") as handle:
            handle.write("".join(record.to_line() + "\n" for record in records))
            handle.flush()
            os.fsync(handle.fileno())

    def _read_run_text(self, run_id: str) -> str | None:
        try:
            return self.run_path(run_id).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    @contextmanager
    def _guard(self) -> Iterator[None]:
        import fcntl  # POSIX only, like the rest of the local tooling

        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / ".index.guard", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the flock

    def _read_index(self) -> list[RunIndexEntry]:
        try:
            text = self.index_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return parse_index(text, str(self.index_path))

    def _update_index(self, change: Callable[[list[RunIndexEntry]], list[RunIndexEntry] | None]) -> None:
        with self._guard():
            updated = change(self._read_index())
            if updated is None:
                return
            temporary = self.directory / f".index.{uuid.uuid4().hex}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(render_index(updated))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.index_path)

    def _delete_run(self, run_id: str) -> None:
        self.run_path(run_id).unlink(missing_ok=True)

    def _read_legacy_text(self) -> str | None:
        if self.legacy_path is None:
            return None
        try:
            return self.legacy_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None


class S3JournalStore(_RunStore):
    """``s3://bucket/<prefix>/runs/<run_id>.jsonl`` and ``.../runs/index.json``.

    A run's object is rewritten whole on each append (a run is a few KB), conditional on the ETag
    last seen, which this object caches, so an append is one PUT. On a conflict the object is
    re-read and the append retried, keeping both writers' records. The index is updated the same
    way, re-applying the change to what the other writer left.
    """

    def __init__(self, s3: Any, bucket: str, prefix: str, *, legacy_key: str | None = None,
                 keep_runs: int = DEFAULT_KEEP_RUNS, now: Now | None = None, owner: str | None = None) -> None:
        super().__init__(keep_runs=keep_runs, now=now, owner=owner)
        self._s3 = s3
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.legacy_key = legacy_key
        self._runs: dict[str, tuple[list[str], str | None]] = {}  # run id -> (lines, ETag)
        self._index_cache: tuple[list[RunIndexEntry], str | None] | None = None

    def key(self, name: str) -> str:
        return f"{self.prefix}/runs/{name}" if self.prefix else f"runs/{name}"

    def run_key(self, run_id: str) -> str:
        return self.key(f"{check_run_id(run_id)}.jsonl")

    @property
    def index_key(self) -> str:
        return self.key("index.json")

    def _url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _where_run(self, run_id: str) -> str:
        return self._url(self.run_key(run_id))

    @property
    def where_legacy(self) -> str:
        return self._url(self.legacy_key or "")

    # -- S3 calls ----------------------------------------------------------------------------

    def _get(self, key: str, what: str) -> tuple[str, str] | None:
        try:
            with aws_call(f"read the {what} {self._url(key)}"):
                answer = self._s3.get_object(Bucket=self.bucket, Key=key)
                return answer["Body"].read().decode("utf-8"), answer["ETag"]
        except AwsError as error:
            if error.code in MISSING_CODES:
                return None
            raise

    def _put(self, key: str, body: str, etag: str | None, what: str, content_type: str) -> str | None:
        """Conditional put; the new ETag, or ``None`` when another writer got there first."""
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            with aws_call(f"write the {what} {self._url(key)}"):
                answer = self._s3.put_object(Bucket=self.bucket, Key=key, Body=body.encode("utf-8"),
                                             ContentType=content_type, **condition)
        except AwsError as error:
            if error.code in CONFLICT_CODES or error.code in MISSING_CODES:
                return None
            raise
        return answer["ETag"]

    def _busy(self, key: str) -> AwsError:
        return AwsError(
            f"failed to write the release journal {self._url(key)}: it keeps changing",
            code="PreconditionFailed",
            hint="another process is writing the same journal; is a second release running?",
        )

    # -- primitives --------------------------------------------------------------------------

    def _load_run(self, run_id: str) -> tuple[list[str], str | None] | None:
        found = self._get(self.run_key(run_id), "release journal")
        if found is None:
            return None
        text, etag = found
        return [line for line in text.split("\n") if line.strip()], etag

    def _has_run(self, run_id: str) -> bool:
        if run_id not in self._runs:
            loaded = self._load_run(run_id)
            if loaded is None:
                return False
            self._runs[run_id] = loaded
        return True

    def _append_records(self, run_id: str, records: list[JournalRecord], *, new: bool) -> None:
        key = self.run_key(run_id)
        added = [record.to_line() for record in records]
        # A new run's object does not exist yet: create it without reading (If-None-Match).
        cached = self._runs.get(run_id) or (([], None) if new else None)
        for _ in range(_ATTEMPTS):
            if cached is None:
                cached = self._load_run(run_id) or ([], None)
            lines, etag = cached
            body = "\n".join([*lines, *added]) + "\n"
            new_etag = self._put(key, body, etag, "release journal", "application/x-ndjson")
            if new_etag is not None:
                self._runs[run_id] = ([*lines, *added], new_etag)
                return
            cached = None  # someone else wrote: read theirs and append after it
        self._runs.pop(run_id, None)
        raise self._busy(key)

    def _read_run_text(self, run_id: str) -> str | None:
        found = self._get(self.run_key(run_id), "release journal")
        if found is None:
            return None
        text, etag = found
        self._runs[run_id] = ([line for line in text.split("\n") if line.strip()], etag)
        return text

    def _load_index(self) -> tuple[list[RunIndexEntry], str | None]:
        found = self._get(self.index_key, "release journal index")
        if found is None:
            return [], None
        text, etag = found
        return parse_index(text, self._url(self.index_key)), etag

    def _read_index(self) -> list[RunIndexEntry]:
        self._index_cache = self._load_index()
        return list(self._index_cache[0])

    def _update_index(self, change: Callable[[list[RunIndexEntry]], list[RunIndexEntry] | None]) -> None:
        cached = self._index_cache
        for _ in range(_ATTEMPTS):
            if cached is None:
                cached = self._load_index()
            entries, etag = cached
            updated = change(list(entries))
            if updated is None:
                self._index_cache = cached
                return
            new_etag = self._put(self.index_key, render_index(updated), etag, "release journal index",
                                 "application/json")
            if new_etag is not None:
                self._index_cache = (updated, new_etag)
                return
            cached = None  # changed meanwhile: apply our change to the new index
        self._index_cache = None
        raise self._busy(self.index_key)

    def _delete_run(self, run_id: str) -> None:
        key = self.run_key(run_id)
        try:
            with aws_call(f"delete the old release journal {self._url(key)}"):
                self._s3.delete_object(Bucket=self.bucket, Key=key)
        except AwsError as error:
            if error.code not in MISSING_CODES:
                raise
        self._runs.pop(run_id, None)

    def _read_legacy_text(self) -> str | None:
        if not self.legacy_key:
            return None
        found = self._get(self.legacy_key, "legacy release journal")
        return None if found is None else found[0]
