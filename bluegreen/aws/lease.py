"""The release lease: one holder at a time per service, for the whole multi-step release.

Terraform's own state lock is taken and released around each Terraform command, so it cannot
protect a release that spans several commands and AWS calls; this lease does (AWS-SEMANTICS.md).

Two backends with one API (``acquire`` / ``renew`` / ``release`` / ``break_`` / ``read``):

- :class:`S3Lease`: one S3 object. Created with ``If-None-Match: *`` (S3 answers 412
  PreconditionFailed, or 409 ConditionalRequestConflict during a concurrent write, when it exists).
  Renewal, takeover of an expired lease and release are conditional on the ETag we last saw
  (``If-Match`` on PutObject and on DeleteObject, both supported by S3 for general purpose buckets
  and by moto 5.2.5), so two processes can never both believe they took over the same stale lease.
- :class:`FileLease`: a local file for local backends, created with ``O_CREAT | O_EXCL``; the
  read-decide-write of takeover, renew, release and break happens under ``flock`` on a sidecar
  ``.guard`` file, which gives the same compare-and-swap guarantee on one machine.

The body is JSON: ``owner`` (user@host), ``run_id``, ``service``, ``started_at``, ``expires_at``
(ISO 8601, UTC) and the holder's identity: ``host``, ``pid``, ``pid_ns`` (the PID namespace, so two
containers sharing a hostname are not confused) and a random ``nonce`` per lease object.

A run is driven by one live process. A lease may be taken over when it has expired, or at once when
its holder is provably dead: on this host (same hostname and PID namespace) with a pid that no
longer exists, or with this process's own pid but a nonce no live lease object here holds (the pid
was reused, or the holder was abandoned as a killed process would be). Otherwise acquiring it, for
any run id including the holder's own, is refused: ``bluegreen resume`` or ``abort`` while the
release still runs must not drive the same groups from a second process. Another host's holder
cannot be checked, so its lease is honoured until it expires (or ``bluegreen unlock`` breaks it).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import AwsError, LockedError
from .session import aws_call

Now = Callable[[], datetime]

# 412: the precondition (If-None-Match / If-Match) failed. 409: S3 saw a concurrent conditional
# write to the same key; the other writer won, which for us means the same as 412.
CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_ATTEMPTS = 5  # rounds of "create failed, read holder, take over" before giving up on a busy key


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def default_owner() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _short(moment_iso: str) -> str:
    """2026-11-21T20:00:00Z -> 2026-11-21T20:00Z, for messages."""
    try:
        return parse_iso(moment_iso).strftime("%Y-%m-%dT%H:%MZ")
    except ValueError:
        return moment_iso


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")  # e.g. "pid:[4026531836]"; Linux only
    except OSError:
        return ""


@dataclass(frozen=True)
class Identity:
    """Who holds a lease: one per lease object (one per process in production)."""

    host: str
    pid: int
    pid_ns: str
    nonce: str

    @classmethod
    def current(cls) -> "Identity":
        return cls(socket.gethostname(), os.getpid(), _pid_namespace(), uuid.uuid4().hex[:12])


# Nonces of the lease objects in this process that hold a lease now. A holder with this process's
# pid is alive only if its nonce is here: anything else with our pid is a dead process whose pid was
# reused (or a holder abandoned the way a killed process abandons it).
_LIVE_NONCES: set[str] = set()
_LIVE_GUARD = threading.Lock()


def _set_live(nonce: str, live: bool) -> None:
    with _LIVE_GUARD:
        (_LIVE_NONCES.add if live else _LIVE_NONCES.discard)(nonce)


@dataclass(frozen=True)
class Lease:
    owner: str
    run_id: str
    service: str
    started_at: str
    expires_at: str
    host: str = ""  # empty in a lease written before holders had an identity
    pid: int = 0
    pid_ns: str = ""
    nonce: str = ""

    def expired(self, now: datetime) -> bool:
        return parse_iso(self.expires_at) <= now

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> "Lease":
        try:
            body = json.loads(data)
            base = {k: str(body[k]) for k in ("owner", "run_id", "service", "started_at", "expires_at")}
            return cls(**base, host=str(body.get("host", "")), pid=int(body.get("pid") or 0),
                       pid_ns=str(body.get("pid_ns", "")), nonce=str(body.get("nonce", "")))
        except (ValueError, KeyError, TypeError):
            # Unreadable lease: treat it as held by nobody we know, expired long ago.
            return cls("unknown", "unknown", "", "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z")

    @property
    def where(self) -> str:
        """``pid 4242 on ci-7`` for messages; empty for a lease without an identity."""
        return f"pid {self.pid} on {self.host}" if self.pid and self.host else ""


def holder_alive(holder: Lease, me: Identity) -> bool | None:
    """Whether the process holding ``holder`` still runs: ``True``, ``False`` (provably gone), or
    ``None`` when it cannot be told from here (another host or PID namespace, or no identity)."""
    if not holder.pid or not holder.host or holder.host != me.host or holder.pid_ns != me.pid_ns:
        return None
    if holder.pid == me.pid:
        with _LIVE_GUARD:
            return holder.nonce in _LIVE_NONCES
    try:
        os.kill(holder.pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return None
    return True


def may_take_over(holder: Lease, run_id: str, now: datetime, me: Identity) -> bool:
    """The one rule for taking an existing lease (see the module docstring)."""
    if holder.expired(now):
        return True
    if holder.nonce and holder.nonce == me.nonce:
        return holder.run_id == run_id  # this very object, re-acquiring its own run
    return holder_alive(holder, me) is False


def locked_error(holder: Lease, run_id: str | None = None) -> LockedError:
    who = f"{holder.owner} ({holder.where})" if holder.where else holder.owner
    if run_id is not None and holder.run_id == run_id:
        # resume/abort of a run whose process still drives it: two drivers would fight.
        return LockedError(
            f"run {run_id} is still driven by {who} since {_short(holder.started_at)} "
            f"(lock expires {_short(holder.expires_at)}); wait for it to finish or stop that process, "
            f"or `bluegreen unlock {run_id}` if it is gone"
        )
    where = f" ({holder.where})" if holder.where else ""
    return LockedError(
        f"release lock held by {holder.owner} run {holder.run_id}{where} since {_short(holder.started_at)} "
        f"(expires {_short(holder.expires_at)}); wait, or `bluegreen unlock {holder.run_id}` if it is stale"
    )


class LeaseLostError(LockedError):
    """Renewal found the lease gone or someone else's; ``holder`` is who holds it now (or None)."""

    def __init__(self, message: str, *, holder: Lease | None) -> None:
        super().__init__(message)
        self.holder = holder


def _lost_error(holder: Lease | None, run_id: str) -> LeaseLostError:
    if holder is None:
        return LeaseLostError(
            f"release lock of run {run_id} was removed (broken by `bluegreen unlock`?)", holder=None
        )
    where = f" ({holder.where})" if holder.where else ""
    return LeaseLostError(
        f"release lock of run {run_id} was taken over by {holder.owner} run {holder.run_id}{where} "
        f"(it had expired, or was broken); stop: another release may be running",
        holder=holder,
    )


def _refuse_break(holder: Lease, run_id: str) -> LockedError:
    return LockedError(
        f"release lock is held by {holder.owner} run {holder.run_id}, not run {run_id}; "
        f"nothing broken (`bluegreen unlock {holder.run_id}` breaks that one)"
    )


class _LeaseBase:
    def __init__(self, *, service: str = "", now: Now = utcnow) -> None:
        self.service = service
        self._now = now
        self.identity = Identity.current()
        self._held: Lease | None = None
        self.ttl_seconds: float = 0.0  # of the last acquire or renew: the default for the next renew
        # The heartbeat thread renews while the main thread may release: one operation at a time.
        self._mutex = threading.RLock()

    @property
    def held(self) -> Lease | None:
        return self._held

    @held.setter
    def held(self, lease: Lease | None) -> None:
        self._held = lease
        _set_live(self.identity.nonce, lease is not None)

    def _new(self, run_id: str, owner: str, ttl_seconds: float, started_at: str | None = None) -> Lease:
        now = self._now()
        me = self.identity
        return Lease(
            owner=owner,
            run_id=run_id,
            service=self.service,
            started_at=started_at or iso(now),
            expires_at=iso(now + timedelta(seconds=ttl_seconds)),
            host=me.host,
            pid=me.pid,
            pid_ns=me.pid_ns,
            nonce=me.nonce,
        )

    def abandon(self) -> None:
        """Forget the lease without touching it, as a killed process does: its body stays until it
        expires or is taken over as the lease of a dead holder."""
        with self._mutex:
            self.held = None


    def _require_held(self) -> Lease:
        if self.held is None:
            raise LockedError("release lock is not held by this process; acquire it first")
        return self.held


class S3Lease(_LeaseBase):
    """The release lease as one S3 object (``s3://bucket/key``)."""

    def __init__(self, s3: Any, bucket: str, key: str, *, service: str = "", now: Now = utcnow) -> None:
        super().__init__(service=service, now=now)
        self._s3 = s3
        self.bucket = bucket
        self.key = key
        self._etag: str | None = None

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def read(self) -> Lease | None:
        found = self._get()
        return found[0] if found else None

    def _get(self) -> tuple[Lease, str] | None:
        try:
            with aws_call(f"read the release lock {self.where}"):
                answer = self._s3.get_object(Bucket=self.bucket, Key=self.key)
                body = answer["Body"].read()
        except AwsError as error:
            if error.code in MISSING_CODES:
                return None
            raise
        return Lease.from_json(body), answer["ETag"]

    def _put(self, lease: Lease, what: str, **condition: str) -> str | None:
        """Conditional put; the new ETag, or ``None`` when the condition failed."""
        try:
            with aws_call(f"{what} {self.where}"):
                answer = self._s3.put_object(
                    Bucket=self.bucket, Key=self.key, Body=lease.to_json(),
                    ContentType="application/json", **condition,
                )
        except AwsError as error:
            if error.code in CONFLICT_CODES or error.code in MISSING_CODES:
                return None
            raise
        return answer["ETag"]

    def acquire(self, run_id: str, owner: str | None = None, ttl_seconds: float = 900) -> Lease:
        owner = owner or default_owner()
        with self._mutex:
            for _ in range(_ATTEMPTS):
                lease = self._new(run_id, owner, ttl_seconds)
                etag = self._put(lease, "create the release lock", IfNoneMatch="*")
                if etag is None:
                    found = self._get()
                    if found is None:
                        continue  # released between our put and our get: try to create again
                    holder, holder_etag = found
                    if not may_take_over(holder, run_id, self._now(), self.identity):
                        raise locked_error(holder, run_id)
                    # Expired, or its holder is dead: swap it only if it is still exactly the
                    # object we judged; a concurrent taker makes this fail and we look again.
                    etag = self._put(lease, "take over the release lock", IfMatch=holder_etag)
                    if etag is None:
                        continue
                self.held, self._etag, self.ttl_seconds = lease, etag, ttl_seconds
                return lease
            holder = self.read()
            if holder is not None:
                raise locked_error(holder, run_id)
            raise LockedError(f"release lock {self.where} is changing too fast to acquire; try again")

    def renew(self, ttl_seconds: float | None = None) -> Lease:
        with self._mutex:
            held = self._require_held()
            lease = self._new(held.run_id, held.owner, ttl_seconds or self.ttl_seconds, started_at=held.started_at)
            etag = self._put(lease, "renew the release lock", IfMatch=self._etag or "")
            if etag is None:
                holder = self.read()
                self.held = self._etag = None
                raise _lost_error(holder, held.run_id)
            self.held, self._etag = lease, etag
            self.ttl_seconds = ttl_seconds or self.ttl_seconds
            return lease

    def release(self) -> bool:
        """Delete our lease; ``False`` when it is no longer ours (expired and taken, or broken)."""
        with self._mutex:
            if self.held is None:
                return False
            try:
                with aws_call(f"release the release lock {self.where}"):
                    self._s3.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self._etag or "")
            except AwsError as error:
                if error.code in CONFLICT_CODES or error.code in MISSING_CODES:
                    self.held = self._etag = None
                    return False
                raise
            self.held = self._etag = None
            return True

    def break_(self, run_id: str) -> Lease | None:
        """Remove the lease of ``run_id`` whoever holds it (``bluegreen unlock``). Refuses, with
        ``LockedError``, when another run holds it. The broken lease, or ``None`` if none was held."""
        with self._mutex:
            return self._break(run_id)

    def _break(self, run_id: str) -> Lease | None:
        for _ in range(_ATTEMPTS):
            found = self._get()
            if found is None:
                return None
            holder, etag = found
            if holder.run_id != run_id:
                raise _refuse_break(holder, run_id)
            try:
                with aws_call(f"break the release lock {self.where}"):
                    self._s3.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=etag)
            except AwsError as error:
                if error.code in CONFLICT_CODES or error.code in MISSING_CODES:
                    continue  # renewed or replaced meanwhile: judge again
                raise
            if self.held is not None and self.held.run_id == run_id:
                self.held = self._etag = None
            return holder
        raise LockedError(f"release lock {self.where} is changing too fast to break; try again")


class FileLease(_LeaseBase):
    """The release lease as a local file (for local Terraform backends)."""

    def __init__(self, path: str | os.PathLike[str], *, service: str = "", now: Now = utcnow) -> None:
        super().__init__(service=service, now=now)
        self.path = Path(path)
        self._guard_path = self.path.with_name(self.path.name + ".guard")

    @contextmanager
    def _guard(self) -> Iterator[None]:
        import fcntl  # POSIX only, like the rest of the local tooling

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._guard_path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the flock

    def read(self) -> Lease | None:
        try:
            return Lease.from_json(self.path.read_bytes())
        except FileNotFoundError:
            return None

    def _create(self, lease: Lease) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as handle:
            handle.write(lease.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        return True

    def _replace(self, lease: Lease) -> None:
        temporary = self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex}.tmp")
        with open(temporary, "wb") as handle:
            handle.write(lease.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def acquire(self, run_id: str, owner: str | None = None, ttl_seconds: float = 900) -> Lease:
        owner = owner or default_owner()
        with self._mutex, self._guard():
            lease = self._new(run_id, owner, ttl_seconds)
            if not self._create(lease):
                holder = self.read()
                if holder is not None and not may_take_over(holder, run_id, self._now(), self.identity):
                    raise locked_error(holder, run_id)
                self._replace(lease)
            self.held, self.ttl_seconds = lease, ttl_seconds
            return lease

    def renew(self, ttl_seconds: float | None = None) -> Lease:
        with self._mutex:
            return self._renew(ttl_seconds)

    def _renew(self, ttl_seconds: float | None) -> Lease:
        held = self._require_held()
        with self._guard():
            holder = self.read()
            if holder != held:
                self.held = None
                raise _lost_error(holder, held.run_id)
            lease = self._new(held.run_id, held.owner, ttl_seconds or self.ttl_seconds, started_at=held.started_at)
            self._replace(lease)
            self.held = lease
            self.ttl_seconds = ttl_seconds or self.ttl_seconds
            return lease

    def release(self) -> bool:
        with self._mutex:
            if self.held is None:
                return False
            with self._guard():
                ours = self.read() == self.held
                if ours:
                    self.path.unlink(missing_ok=True)
                self.held = None
                return ours

    def break_(self, run_id: str) -> Lease | None:
        with self._mutex, self._guard():
            holder = self.read()
            if holder is None:
                return None
            if holder.run_id != run_id:
                raise _refuse_break(holder, run_id)
            self.path.unlink(missing_ok=True)
            if self.held is not None and self.held.run_id == run_id:
                self.held = None
            return holder
