"""One boto3 session and one client per service, built from settings, plus the single place where
botocore exceptions become one-line ``AwsError``s.

Every AWS call in ``bluegreen/aws`` goes through :func:`aws_call`, which classifies a failure by
``error.response["Error"]["Code"]`` (never by message text) and keeps the code on the raised
``AwsError``. Connectivity and credential problems get a message that says what to do, because they
are the failures a first-time user meets.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import boto3
import botocore.exceptions as bce
from botocore.config import Config

from ..errors import AwsError
from ..observe import AwsCallEvent, Listeners

NO_CREDENTIALS_HINT = (
    "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
    "or run `aws sso login` / `aws configure`"
)
CONFIG_FILE = "bluegreen.toml"

# Error codes AWS uses when credentials exist but are rejected (expired, revoked, wrong account).
# They are not retried and they deserve a credentials hint rather than "failed to attach ...".
CREDENTIAL_ERROR_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "AuthFailure",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "RequestExpired",
    }
)


@dataclass(frozen=True)
class ClientSettings:
    """How to build clients: ``[service] region`` and the ``[aws]`` table of bluegreen.toml
    (see :meth:`AwsClients.from_settings`), plus retry and timeout knobs."""

    region: str
    profile: str | None = None
    # Override for every service at once: the local emulation (moto server) serves them all on one port.
    endpoint_url: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 8  # botocore's meaning: retries after the first request


def error_code(error: BaseException) -> str | None:
    """The AWS ``Error.Code`` of a ``ClientError`` (``None`` for anything else)."""
    if isinstance(error, bce.ClientError):
        return error.response.get("Error", {}).get("Code") or None
    return None


def _aws_message(error: bce.ClientError) -> str | None:
    message = (error.response.get("Error", {}).get("Message") or "").strip()
    if not message:
        return None
    message = " ".join(message.split())  # one line, whatever AWS sent
    return message if len(message) <= 300 else message[:297] + "..."


def _unreachable(url: str | None) -> AwsError:
    where = url or "the AWS endpoint"
    host = (urlsplit(url).hostname or "") if url else ""
    # An endpoint outside amazonaws.com can only come from the [aws] endpoint_url override.
    if host and not (host.endswith(".amazonaws.com") or host.endswith(".amazonaws.com.cn")):
        hint = f"start the local emulation, or fix [aws] endpoint_url in {CONFIG_FILE}"
    else:
        hint = f"check the network/proxy and [aws] region in {CONFIG_FILE}"
    return AwsError(f"cannot reach AWS endpoint {where}", code="EndpointConnectionError", hint=hint)


def translate(error: BaseException, what: str) -> AwsError:
    """The ``AwsError`` for a botocore failure while doing ``what`` ("attach web-blue to tg")."""
    if isinstance(error, bce.ClientError):
        code = error_code(error) or "Unknown"
        if code in CREDENTIAL_ERROR_CODES:
            return AwsError(
                f"AWS rejected the credentials while trying to {what}: {code}",
                code=code,
                hint=f"refresh them: {NO_CREDENTIALS_HINT}",
            )
        return AwsError(f"failed to {what}: {code}", code=code, hint=_aws_message(error))
    if isinstance(error, bce.NoCredentialsError):
        return AwsError("no AWS credentials found", code="NoCredentials", hint=NO_CREDENTIALS_HINT)
    if isinstance(error, bce.ProfileNotFound):
        profile = error.kwargs.get("profile")
        return AwsError(
            f"AWS profile {profile!r} not found",
            code="ProfileNotFound",
            hint=f"add it to ~/.aws/config or fix [aws] profile in {CONFIG_FILE}",
        )
    if isinstance(error, bce.ReadTimeoutError):
        return AwsError(
            f"timed out waiting for AWS while trying to {what}",
            code="ReadTimeout",
            hint=f"endpoint {error.kwargs.get('endpoint_url')}; retry, or raise the read timeout",
        )
    if isinstance(error, bce.EndpointConnectionError | bce.ConnectionError):  # refused, DNS, connect timeout
        return _unreachable(error.kwargs.get("endpoint_url"))
    if isinstance(error, bce.TokenRetrievalError | bce.SSOError | bce.CredentialRetrievalError):
        return AwsError(
            f"could not load AWS credentials: {error}", code="CredentialRetrieval", hint=NO_CREDENTIALS_HINT
        )
    return AwsError(f"failed to {what}: {type(error).__name__}: {error}", code=type(error).__name__)


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Wrap one AWS call: ``with aws_call(f"attach {asg} to {tg}"): client.attach_...(...)``.

    Raises ``AwsError(f"failed to {what}: {code}", code=code)``. Adapters that accept a specific
    code as success catch ``AwsError`` and look at ``.code``.
    """
    try:
        yield
    except (bce.ClientError, bce.BotoCoreError) as error:
        raise translate(error, what) from error


def count_calls(client: Any, counter: Counter[str]) -> None:
    """Count every API call ``client`` makes into ``counter`` by operation name (``EnterStandby``).

    ``before-call`` fires once per API call, not per retry attempt. Registering the same counter
    on the same client twice counts once.
    """

    def _count(model: Any, **_: Any) -> None:
        counter[model.name] += 1

    client.meta.events.register("before-call.*.*", _count, unique_id=f"bluegreen-count-{id(counter)}")


_STARTED = "bluegreen_started"  # our key in botocore's per-call request context


def observe_calls(client: Any, service: str, events: Listeners[AwsCallEvent],
                  clock: Callable[[], float] = time.monotonic) -> None:
    """Emit an ``AwsCallEvent`` on ``events`` for every API call ``client`` makes.

    botocore emits ``before-call`` once per call and then either ``after-call`` (any HTTP answer,
    errors included: a ``ClientError`` is raised after it) or ``after-call-error`` (no answer:
    connection refused, a read timeout), in the calling thread and after its retries. The start
    time travels in that call's own request context, so concurrent calls (the lease heartbeat's
    thread) never mix their timings. The before handler must return ``None``: anything else
    would become the call's response."""

    def before(context: dict[str, Any], **_: Any) -> None:
        context[_STARTED] = clock()

    def spent(context: dict[str, Any]) -> float:
        started = context.get(_STARTED)
        return clock() - started if isinstance(started, (int, float)) else 0.0

    def after(model: Any, context: dict[str, Any], http_response: Any = None, parsed: Any = None,
              **_: Any) -> None:
        status = getattr(http_response, "status_code", None)
        error = None
        if status is not None and status >= 300:
            error = (parsed or {}).get("Error", {}).get("Code") or f"HTTP {status}"
        events.emit(AwsCallEvent(service, model.name, spent(context), error, status,
                                 parsed if isinstance(parsed, dict) else None))

    def failed(event_name: str = "", context: dict[str, Any] | None = None, exception: Any = None,
               **_: Any) -> None:
        # after-call-error carries no model: its event name ends with the operation.
        operation = event_name.rsplit(".", 1)[-1] if event_name else "?"
        events.emit(AwsCallEvent(service, operation, spent(context or {}), type(exception).__name__))

    unique = f"bluegreen-observe-{id(events)}"
    client.meta.events.register("before-call.*.*", before, unique_id=f"{unique}-before")
    client.meta.events.register("after-call.*.*", after, unique_id=f"{unique}-after")
    client.meta.events.register("after-call-error.*.*", failed, unique_id=f"{unique}-error")


class AwsClients:
    """A boto3 session and one client per service, all counting into :attr:`calls` and
    reporting every call to :attr:`events` (the seam the lab and benchmarks subscribe to:
    ``clients.events.add(listener)``, see ``bluegreen.observe``)."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        session: boto3.session.Session | None = None,
        events: Listeners[AwsCallEvent] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.calls: Counter[str] = Counter()
        self.events: Listeners[AwsCallEvent] = events if events is not None else Listeners()
        self._clock = clock
        self._clients: dict[str, Any] = {}
        # Who AWS says we are ({"account", "arn"}), from the preflight's GetCallerIdentity: a run
        # records it as its caller (``bluegreen history``: who released what), no extra call.
        self.identity: dict[str, str] = {}
        try:
            self._session = session or boto3.session.Session(
                profile_name=settings.profile, region_name=settings.region
            )
        except bce.BotoCoreError as error:
            raise translate(error, "open an AWS session") from error

    @classmethod
    def from_settings(cls, settings: Any, *, events: Listeners[AwsCallEvent] | None = None) -> "AwsClients":
        """From ``config.Settings``: region from ``[service]``, profile and endpoint from ``[aws]``."""
        return cls(
            ClientSettings(
                region=settings.service.region,
                profile=settings.aws.profile or None,
                endpoint_url=settings.aws.endpoint_url or None,
            ),
            events=events,
        )

    @property
    def region(self) -> str:
        return self.settings.region

    def config(self, *, max_attempts: int | None = None) -> Config:
        # botocore reads retries["max_attempts"] as *retries* after the first try: 8 means up to
        # 9 requests (it reports total_max_attempts=9); 0 means a single request.
        attempts = self.settings.max_attempts if max_attempts is None else max_attempts
        return Config(
            region_name=self.settings.region,
            retries={"mode": "standard", "max_attempts": attempts},
            connect_timeout=self.settings.connect_timeout,
            read_timeout=self.settings.read_timeout,
        )

    def client(self, service: str) -> Any:
        """The one client for ``service`` ("autoscaling", "ec2", "elbv2", "elb", "s3", "sts")."""
        if service not in self._clients:
            self._clients[service] = self._make(service, self.config())
        return self._clients[service]

    def _make(self, service: str, config: Config) -> Any:
        try:
            client = self._session.client(service, endpoint_url=self.settings.endpoint_url, config=config)
        except bce.BotoCoreError as error:
            raise translate(error, f"create the {service} client") from error
        count_calls(client, self.calls)
        observe_calls(client, service, self.events, self._clock)
        return client

    def preflight(self) -> dict[str, str]:
        """Fail early with a clear message when credentials or the endpoint are missing.

        Looks for credentials locally first, then calls STS GetCallerIdentity (needs no IAM
        permission) once, without retries: standard-mode retries would spend half a minute on a
        refused connection before saying so. Returns ``{"account": ..., "arn": ...}``.
        """
        try:
            credentials = self._session.get_credentials()
        except bce.BotoCoreError as error:
            raise translate(error, "load AWS credentials") from error
        if credentials is None:
            raise translate(bce.NoCredentialsError(), "load AWS credentials")
        sts = self._make("sts", self.config(max_attempts=0))
        with aws_call("check the AWS identity (sts:GetCallerIdentity)"):
            identity = sts.get_caller_identity()
        self.identity = {"account": identity.get("Account", ""), "arn": identity.get("Arn", "")}
        return dict(self.identity)


def chunks(items: list[str] | tuple[str, ...], size: int) -> Iterator[list[str]]:
    """``items`` in lists of at most ``size``, order kept."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
