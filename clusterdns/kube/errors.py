"""The errors of the Kubernetes side, owned here rather than leaked from the HTTP client.

The official client raises urllib3 exceptions for transport failures and its own
``ApiException`` for some HTTP statuses; its newer REST layer returns most error statuses
without raising at all. Callers of ``clusterdns.kube`` should not need to know any of that, so
``client`` translates every failure into this tree (kopf ``_cogs/clients/errors.py`` does the
same for aiohttp) and chains the original exception:

- ``KubeConfigError``: no usable configuration (no kubeconfig, endpoint or in-cluster
  service account). CoreDNS fails its setup in that case.
- ``APIConnectionError``: the API server could not be reached, the connection broke, or a
  read timed out. Worth retrying with backoff.
- ``APIError(status, payload)``: the API server answered with an error ``Status`` (an HTTP
  error status, or an ``ERROR`` event inside a watch stream). Subclasses by class of failure;
  ``ResourceExpired`` (410 Gone) means "your resourceVersion or continue token is too old:
  list again".
"""

from __future__ import annotations

from typing import Any, TypedDict

from clusterdns.errors import ClusterDNSError


class StatusDetails(TypedDict, total=False):
    name: str
    group: str
    kind: str
    causes: list[dict[str, Any]]
    retryAfterSeconds: int


class StatusPayload(TypedDict, total=False):
    """A ``meta/v1 Status`` object, as the API server sends it with an error."""

    kind: str  # "Status"
    apiVersion: str
    metadata: dict[str, Any]
    status: str  # "Failure"
    message: str
    reason: str  # "Expired", "Gone", "NotFound", "Forbidden", "InternalError", ...
    details: StatusDetails
    code: int


class KubeError(ClusterDNSError):
    """Base class of the errors of talking to the Kubernetes API."""


class KubeConfigError(KubeError):
    """No configuration to reach the Kubernetes API could be found or loaded."""


class APIConnectionError(KubeError):
    """The API server could not be reached, or the connection broke or timed out."""


class APIError(KubeError):
    """The API server answered with an error status."""

    def __init__(
        self, status: int, payload: StatusPayload | None = None, *, reason: str = ""
    ) -> None:
        self.status = status
        self.payload: StatusPayload = payload or {}
        self.reason = self.payload.get("reason") or reason
        message = self.payload.get("message") or reason or "no message"
        head = f"{status} {self.reason}" if self.payload.get("reason") else str(status)
        super().__init__(f"API error {head}: {message}")

    @staticmethod
    def from_status(
        status: int, payload: StatusPayload | None = None, *, reason: str = ""
    ) -> APIError:
        """The most specific error class for ``status`` (falls back on the payload's code)."""
        code = status or int((payload or {}).get("code") or 0)
        cls: type[APIError] = _BY_STATUS.get(code) or (
            APIServerError if code >= 500 else APIClientError if code >= 400 else APIError
        )
        return cls(code, payload, reason=reason)


class APIClientError(APIError):
    """A 4xx answer: the request was refused."""


class APIUnauthorizedError(APIClientError):
    """401: the credentials were rejected."""


class APIForbiddenError(APIClientError):
    """403: RBAC does not allow the list or watch (for example a missing ClusterRole rule)."""


class APINotFoundError(APIClientError):
    """404: the resource does not exist on this API server (an API group it does not serve)."""


class ResourceExpired(APIClientError):
    """410 Gone: the resourceVersion or continue token is too old; list again."""


class APITooManyRequestsError(APIClientError):
    """429: the API server asks the client to slow down."""


class APIServerError(APIError):
    """A 5xx answer: the API server failed; worth retrying."""


_BY_STATUS: dict[int, type[APIError]] = {
    401: APIUnauthorizedError,
    403: APIForbiddenError,
    404: APINotFoundError,
    410: ResourceExpired,
    429: APITooManyRequestsError,
}

__all__ = [
    "APIClientError",
    "APIConnectionError",
    "APIError",
    "APIForbiddenError",
    "APINotFoundError",
    "APIServerError",
    "APITooManyRequestsError",
    "APIUnauthorizedError",
    "KubeConfigError",
    "KubeError",
    "ResourceExpired",
    "StatusPayload",
]
