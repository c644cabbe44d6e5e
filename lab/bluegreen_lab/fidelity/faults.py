"""Fault injection and call observation at moto's response layer.

Hooked on ``moto.core.responses.BaseResponse.call_action``, which every moto service goes through
for both ``mock_aws`` (in-process, via botocore's before-send hook) and ``ThreadedMotoServer`` (HTTP,
e.g. from Terraform), so an injected fault is seen by any client, with the service's own error
serialization (query XML for Auto Scaling/ELB, EC2's format for EC2)."""

from __future__ import annotations

import threading
import warnings
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse

from ._patching import Patcher

if TYPE_CHECKING:
    from .core import Fidelity

# HTTP statuses AWS uses for these codes; botocore's standard retry mode retries all of them.
DEFAULT_STATUS = {
    "Throttling": 400,
    "ThrottlingException": 400,
    "RequestLimitExceeded": 503,
    "ResourceContention": 500,
    "ServiceUnavailable": 503,
    "InternalFailure": 500,
    "InternalError": 500,
}

CallListener = Callable[[str, int], None]
"""Called after every API call moto served: (action name, HTTP status)."""


@dataclass(frozen=True)
class Fault:
    api_name: str
    error_code: str
    message: str
    http_status: int


class _InjectedError(ServiceException):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


class FaultInjector:
    """Queued faults per API name (``EnterStandby``, ``DescribeTargetHealth``, ...): each call of
    that API takes one and fails with it instead of running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: dict[str, deque[Fault]] = {}
        self.fired: list[Fault] = []

    def inject(
        self,
        api_name: str,
        error_code: str = "Throttling",
        times: int = 1,
        *,
        message: str | None = None,
        http_status: int | None = None,
    ) -> None:
        if times < 0:
            raise ValueError("times must be >= 0")
        fault = Fault(
            api_name,
            error_code,
            message or ("Rate exceeded" if "Throttl" in error_code else f"Injected {error_code}"),
            http_status or DEFAULT_STATUS.get(error_code, 400),
        )
        with self._lock:
            self._queued.setdefault(api_name, deque()).extend([fault] * times)

    def take(self, api_name: str) -> Fault | None:
        with self._lock:
            queue = self._queued.get(api_name)
            if not queue:
                return None
            fault = queue.popleft()
            self.fired.append(fault)
            return fault

    def pending(self, api_name: str | None = None) -> int:
        with self._lock:
            if api_name is not None:
                return len(self._queued.get(api_name, ()))
            return sum(len(q) for q in self._queued.values())

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()


def _fault_response(response: BaseResponse, fault: Fault) -> tuple[int, dict[str, Any], Any]:
    with warnings.catch_warnings():
        # moto warns that e.g. Throttling is not an error shape of the service model: AWS's
        # common errors (Throttling, RequestLimitExceeded, ...) never are.
        warnings.simplefilter("ignore")
        status, headers, body = response.serialized(ActionResult(_InjectedError(fault.error_code, fault.message)))
    headers = dict(headers)
    headers["status"] = str(fault.http_status)
    return fault.http_status, headers, body


def response_layer(p: Patcher, fid: "Fidelity") -> None:
    """Not an AWS behaviour but the test hook for AWS's failure modes: "Throttling -- Rate
    exceeded" (HTTP 400) and friends, which botocore's standard retry mode retries. Wraps
    ``BaseResponse.call_action`` to (1) fail the next N calls of an API with an injected error,
    (2) serialize every moto call under ``fid.lock`` so the registry stays consistent when a
    ThreadedMotoServer and a test (or the lab's data plane) touch it at once, (3) complete the
    asynchronous transitions due by now (``fid.settle()``, e.g. Pending -> InService after
    ExitStandby, with its registrations) before the call sees any state, and (4) tell ``fid``'s
    call listeners about each call."""

    def make_call_action(original: Any) -> Any:
        def call_action(self: BaseResponse) -> Any:
            action = self._get_action()
            with fid.lock, fid.busy():
                fid.settle()
                fault = fid.faults.take(action)
                result = _fault_response(self, fault) if fault is not None else original(self)
            fid._notify(action, int(result[0]))
            return result

        return call_action

    p.wrap(BaseResponse, "call_action", make_call_action)
