"""Where a release journal lives: a local JSON-lines file, or one JSON-lines object in S3.

Each record is one step transition: ``{"step": ..., "status": ..., "data": {...}, "time": ISO}``.
The executor appends as it goes and reads everything back to decide ``resume`` / ``abort``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import AwsError, InputError
from .lease import CONFLICT_CODES, MISSING_CODES, iso
from .session import aws_call

Now = Callable[[], datetime]


@dataclass(frozen=True)
class JournalRecord:
    step: str
    status: str
    data: Mapping[str, Any] = field(default_factory=dict)
    time: str = ""

    def to_line(self) -> str:
        return json.dumps(
            {"step": self.step, "status": self.status, "data": dict(self.data), "time": self.time},
            sort_keys=True,
            default=str,
        )

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> "JournalRecord":
        return cls(
            step=str(body["step"]),
            status=str(body["status"]),
            data=dict(body.get("data") or {}),
            time=str(body.get("time", "")),
        )


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
                f"release journal {where} line {number} is not a journal record",
                hint="move the file aside to start without it (`bluegreen abort` reads AWS, not the journal)",
            ) from None
    return records


class _StoreBase:
    def __init__(self, now: Callable[[], datetime] | None) -> None:
        self._now = now or (lambda: datetime.now(timezone.utc))

    def _record(self, step: str, status: str, data: Mapping[str, Any] | None) -> JournalRecord:
        return JournalRecord(step=step, status=status, data=dict(data or {}), time=iso(self._now()))


class FileJournalStore(_StoreBase):
    def __init__(self, path: str | os.PathLike[str], *, now: Now | None = None) -> None:
        super().__init__(now)
        self.path = Path(path)

    def append(self, step: str, status: str, data: Mapping[str, Any] | None = None) -> JournalRecord:
        record = self._record(step, status, data)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One write() of a whole line in append mode, then fsync: the record survives a crash
        # right after the step it describes.
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(record.to_line() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return record

    def read(self) -> list[JournalRecord]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return parse_lines(text, str(self.path))


class S3JournalStore(_StoreBase):
    """One JSON-lines object, rewritten whole on each append (a journal is a few KB).

    Writes are conditional on the ETag we last saw (``If-Match``, or ``If-None-Match: *`` for the
    first record) so a concurrent writer is noticed; on a conflict the object is re-read and the
    append retried, keeping both writers' records.
    """

    def __init__(self, s3: Any, bucket: str, key: str, *, now: Now | None = None) -> None:
        super().__init__(now)
        self._s3 = s3
        self.bucket = bucket
        self.key = key
        self._lines: list[str] | None = None  # what we last read or wrote
        self._etag: str | None = None

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def _load(self) -> None:
        try:
            with aws_call(f"read the release journal {self.where}"):
                answer = self._s3.get_object(Bucket=self.bucket, Key=self.key)
                text = answer["Body"].read().decode("utf-8")
        except AwsError as error:
            if error.code in MISSING_CODES:
                self._lines, self._etag = [], None
                return
            raise
        self._lines = [line for line in text.split("\n") if line.strip()]
        self._etag = answer["ETag"]

    def append(self, step: str, status: str, data: Mapping[str, Any] | None = None) -> JournalRecord:
        record = self._record(step, status, data)
        for _ in range(3):
            if self._lines is None:
                self._load()
            assert self._lines is not None
            body = "\n".join([*self._lines, record.to_line()]) + "\n"
            condition = {"IfMatch": self._etag} if self._etag else {"IfNoneMatch": "*"}
            try:
                with aws_call(f"append to the release journal {self.where}"):
                    answer = self._s3.put_object(
                        Bucket=self.bucket, Key=self.key, Body=body.encode("utf-8"),
                        ContentType="application/x-ndjson", **condition,
                    )
            except AwsError as error:
                if error.code in CONFLICT_CODES or error.code in MISSING_CODES:
                    self._lines = None  # someone else wrote: read theirs and append after it
                    continue
                raise
            self._lines.append(record.to_line())
            self._etag = answer["ETag"]
            return record
        raise AwsError(
            f"failed to append to the release journal {self.where}: it keeps changing",
            code="PreconditionFailed",
            hint="another process is writing the same journal; is a second release running?",
        )

    def read(self) -> list[JournalRecord]:
        self._load()
        assert self._lines is not None
        return parse_lines("\n".join(self._lines) + "\n", self.where)
