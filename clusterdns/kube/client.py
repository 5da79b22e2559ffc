"""Raw JSON list and watch calls to the Kubernetes API, through the official client.

The official ``kubernetes`` package supplies what is hard to get right: kubeconfig loading
(contexts, exec and auth-provider plugins, client certificates), the in-cluster service
account (with token refresh), TLS and proxies. Its generated API methods and model objects
are never used: a 100,000-pod list deserialised into models costs gigabytes and seconds. Every
call here is a plain ``GET`` through ``ApiClient.param_serialize``/``call_api``, whose REST layer
hands back the urllib3 response unread; lists are decoded with ``json``; watches are read line
by line from the chunked stream as they arrive.

All calls block and are meant to run in a worker thread (``clusterdns.kube.informer`` does
that). Every call has a deadline: a connect timeout, and a read timeout per socket read (for a
watch, the server-side ``timeoutSeconds`` plus a grace, so a silently dead connection is
noticed). ``WatchStream.close()`` may be called from any thread to abort a blocking watch.

Configuration follows CoreDNS's ``kubernetes`` plugin (``getClientConfig``): a kubeconfig file
(and context) wins; else ``endpoint URL``, with ``tls CERT KEY CACERT`` when given and with no
credentials at all otherwise (how ``kubectl proxy`` is used); else the in-cluster service
account. No configuration at all is a ``KubeConfigError``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import socket
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Final, NamedTuple

import urllib3
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from clusterdns import COREDNS_COMPAT_VERSION, __version__

from .errors import APIConnectionError, APIError, KubeConfigError, StatusPayload

log = logging.getLogger("clusterdns.kube")

Json = dict[str, Any]

#: The collection paths of the resources cluster DNS lists and watches (all namespaces).
RESOURCE_PATHS: Final[Mapping[str, str]] = {
    "services": "/api/v1/services",
    "endpointslices": "/apis/discovery.k8s.io/v1/endpointslices",
    "namespaces": "/api/v1/namespaces",
    "pods": "/api/v1/pods",
}

#: client-go's dial timeout is 30 s; an API server that does not accept in 10 s is retried.
DEFAULT_CONNECT_TIMEOUT_SECONDS: Final = 10.0
#: The read timeout of a list request (per socket read, so a slow but moving list is fine).
DEFAULT_REQUEST_TIMEOUT_SECONDS: Final = 60.0
#: How long past its ``timeoutSeconds`` a watch may stay silent before it is presumed dead.
WATCH_READ_GRACE_SECONDS: Final = 10.0

#: Like CoreDNS's ``coredns/<version> git_commit:<commit> (<os>/<arch>/<go version>)``.
USER_AGENT: Final = (
    f"clusterdns/{__version__} coredns_compat:{COREDNS_COMPAT_VERSION} "
    f"({platform.system().lower()}/{platform.machine()}/python{platform.python_version()})"
)

_TRANSPORT_ERRORS: Final = (urllib3.exceptions.HTTPError, OSError)


class Page(NamedTuple):
    """One page of a list: the raw items, the list's resourceVersion, the continue token."""

    items: list[Json]
    resource_version: str
    continue_token: str


class KubeClient:
    """GETs raw JSON from one API server; safe to share between threads."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS,
        watch_grace_seconds: float = WATCH_READ_GRACE_SECONDS,
    ) -> None:
        self.api_client = api_client
        self.connect_timeout_seconds = connect_timeout_seconds
        self.request_timeout_seconds = request_timeout_seconds
        self.watch_grace_seconds = watch_grace_seconds
        api_client.user_agent = USER_AGENT

    @classmethod
    def create(
        cls,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        endpoint: str | None = None,
        tls: tuple[str, str, str] | None = None,
        connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS,
        watch_grace_seconds: float = WATCH_READ_GRACE_SECONDS,
    ) -> KubeClient:
        """A client configured the way CoreDNS's kubernetes plugin finds its API server.

        ``tls`` is ``(CERT, KEY, CACERT)`` in the order of the Corefile's ``tls`` option.
        Raises ``KubeConfigError`` when no configuration can be loaded.
        """
        configuration = load_configuration(
            kubeconfig=kubeconfig, context=context, endpoint=endpoint, tls=tls
        )
        return cls(
            ApiClient(configuration),
            connect_timeout_seconds=connect_timeout_seconds,
            request_timeout_seconds=request_timeout_seconds,
            watch_grace_seconds=watch_grace_seconds,
        )

    @property
    def host(self) -> str:
        """The API server's base URL."""
        return str(self.api_client.configuration.host)

    def close(self) -> None:
        """Close the idle pooled connections (open watches are closed by their streams)."""
        self.api_client.rest_client.close()

    # --- list ------------------------------------------------------------------------------
    def list_page(
        self,
        resource: str,
        *,
        limit: int = 500,
        continue_token: str = "",
        label_selector: str = "",
        field_selector: str = "",
    ) -> Page:
        """One page of a list of ``resource`` in all namespaces.

        Raises ``APIError`` for an error status (``ResourceExpired`` when the continue token
        is too old) and ``APIConnectionError`` when the server cannot be reached or read.
        """
        query: list[tuple[str, str]] = []
        if limit:
            query.append(("limit", str(limit)))
        if continue_token:
            query.append(("continue", continue_token))
        _add_selectors(query, label_selector, field_selector)
        timeout = (self.connect_timeout_seconds, self.request_timeout_seconds)
        response = self._get(resource, query, timeout)
        try:
            body = response.data
        except _TRANSPORT_ERRORS as exc:
            raise APIConnectionError(f"reading the {resource} list: {exc}") from exc
        finally:
            response.release_conn()
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise APIConnectionError(f"malformed {resource} list: {exc}") from exc
        meta = document.get("metadata") or {}
        return Page(
            items=document.get("items") or [],
            resource_version=str(meta.get("resourceVersion") or ""),
            continue_token=str(meta.get("continue") or ""),
        )

    # --- watch -----------------------------------------------------------------------------
    def watch(
        self,
        resource: str,
        *,
        resource_version: str,
        label_selector: str = "",
        field_selector: str = "",
        timeout_seconds: int = 300,
    ) -> WatchStream:
        """A watch of ``resource`` from ``resource_version``, with bookmarks.

        Nothing is sent until the stream is iterated (in the thread that will block on it);
        iteration yields ``(type, object)`` pairs as the server sends them and ends when the
        server ends the stream (``timeout_seconds``) or ``close()`` is called.
        """
        query: list[tuple[str, str]] = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(int(timeout_seconds))),
        ]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        _add_selectors(query, label_selector, field_selector)
        read_timeout = timeout_seconds + self.watch_grace_seconds
        return WatchStream(self, resource, query, (self.connect_timeout_seconds, read_timeout))

    # --- plumbing --------------------------------------------------------------------------
    def _get(
        self, resource: str, query: list[tuple[str, str]], timeout: tuple[float, float]
    ) -> urllib3.BaseHTTPResponse:
        """Send a GET and return the unread urllib3 response, or raise for an error status."""
        try:
            path = RESOURCE_PATHS[resource]
        except KeyError:
            raise ValueError(f"unknown resource {resource!r}") from None
        method, url, headers, body, post = self.api_client.param_serialize(
            "GET",
            path,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        try:
            rest = self.api_client.call_api(
                method,
                url,
                header_params=headers,
                body=body,
                post_params=post,
                _request_timeout=timeout,
            )
        except ApiException as exc:  # the REST layer's wrapping of TLS failures
            raise APIConnectionError(f"GET {path}: {exc.reason or exc}") from exc
        except _TRANSPORT_ERRORS as exc:
            raise APIConnectionError(f"GET {path}: {exc}") from exc
        response: urllib3.BaseHTTPResponse = rest.response
        if response.status >= 400:
            raise _error_from_response(response, path)
        return response


class WatchStream:
    """One watch request; iterate for ``(type, object)``; ``close()`` aborts from any thread."""

    def __init__(
        self,
        client: KubeClient,
        resource: str,
        query: list[tuple[str, str]],
        timeout: tuple[float, float],
    ) -> None:
        self._client = client
        self._resource = resource
        self._query = query
        self._timeout = timeout
        self._lock = threading.Lock()
        self._response: urllib3.BaseHTTPResponse | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Abort the stream: a thread blocked reading it wakes up and the iteration ends."""
        with self._lock:
            self._closed = True
            response = self._response
        if response is not None:
            _abort(response)

    def __iter__(self) -> Iterator[tuple[str, Json]]:
        if self._closed:
            return
        response = self._client._get(self._resource, self._query, self._timeout)
        with self._lock:
            self._response = response
            closed = self._closed
        if closed:  # closed while the request was on its way
            _abort(response)
            with contextlib.suppress(*_TRANSPORT_ERRORS):
                response.close()
            response.release_conn()
            return
        finished = False
        try:
            for line in _lines(response):
                try:
                    event = json.loads(line)
                    item = str(event["type"]), event["object"]
                except (ValueError, KeyError, TypeError) as exc:
                    raise APIConnectionError(
                        f"malformed {self._resource} watch event: {line[:200]!r}"
                    ) from exc
                yield item
            finished = True
        except _TRANSPORT_ERRORS as exc:
            if not self._closed:
                raise APIConnectionError(f"{self._resource} watch: {exc}") from exc
        finally:
            with self._lock:
                self._response = None
            if not finished:
                _abort(response)
                with contextlib.suppress(*_TRANSPORT_ERRORS):
                    response.close()
            response.release_conn()


def _lines(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """The newline-separated records of a streamed body, each as soon as it is complete.

    A large event (an EndpointSlice of 1,000 endpoints) may span many chunks; it is gathered
    in one growing buffer rather than by repeated concatenation.
    """
    buffer = bytearray()
    segments: Iterator[bytes]
    if response.chunked:
        segments = response.read_chunked(decode_content=True)
    else:
        segments = iter(lambda: response.read1(65536), b"")
    for segment in segments:
        start = len(buffer)
        buffer += segment
        end = buffer.find(b"\n", start)
        if end < 0:
            continue
        begin = 0
        while end >= 0:
            if end > begin:
                yield bytes(buffer[begin:end])
            begin = end + 1
            end = buffer.find(b"\n", begin)
        del buffer[:begin]
    if buffer.strip():
        yield bytes(buffer)


def _abort(response: urllib3.BaseHTTPResponse) -> None:
    """Shut the socket under a response so that a blocked read returns at once.

    Closing a socket another thread is reading does not wake that thread; shutting it down
    does (the official client's ``Watch.stop`` does the same).
    """
    try:
        response.shutdown()  # urllib3 >= 2.3
        return
    except (AttributeError, ValueError, RuntimeError, OSError):
        pass
    connection = getattr(response, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _add_selectors(query: list[tuple[str, str]], label_selector: str, field_selector: str) -> None:
    if label_selector:
        query.append(("labelSelector", label_selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))


def _error_from_response(response: urllib3.BaseHTTPResponse, path: str) -> APIError:
    try:
        body = response.data
    except _TRANSPORT_ERRORS:
        body = b""
    finally:
        response.release_conn()
    payload: StatusPayload | None = None
    with contextlib.suppress(ValueError):
        decoded = json.loads(body) if body else None
        if isinstance(decoded, dict) and decoded.get("kind") == "Status":
            payload = decoded  # type: ignore[assignment]
    reason = response.reason or ""
    if payload is None and body:
        reason = f"{reason} {body[:200].decode('utf-8', 'replace')}".strip()
    return APIError.from_status(response.status, payload, reason=f"GET {path}: {reason}")


# --- configuration ---------------------------------------------------------------------------


def load_configuration(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    endpoint: str | None = None,
    tls: tuple[str, str, str] | None = None,
) -> Configuration:
    """The official client's ``Configuration``, found as CoreDNS finds its API server."""
    configuration = Configuration()
    if kubeconfig:
        try:
            kube_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig,
                context=context or None,
                client_configuration=configuration,
                persist_config=False,
            )
        except (ConfigException, OSError, ValueError, KeyError, TypeError) as exc:
            raise KubeConfigError(f"kubeconfig {kubeconfig}: {exc}") from exc
    elif endpoint:
        if "://" not in endpoint:
            # client-go's DefaultServerURL: https when TLS is configured, else http.
            endpoint = ("https://" if tls else "http://") + endpoint
        if not endpoint.startswith(("http://", "https://")):
            raise KubeConfigError(f"endpoint {endpoint}: not an http or https URL")
        configuration.host = endpoint.rstrip("/")
        if tls:
            cert, key, cacert = tls
            configuration.cert_file = cert
            configuration.key_file = key
            configuration.ssl_ca_cert = cacert
    else:
        try:
            kube_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        except ConfigException as exc:
            raise KubeConfigError(
                f"no kubeconfig or endpoint configured, and no in-cluster service account: {exc}"
            ) from exc
    # Our own backoff retries; urllib3's silent retries would only hide a dead server.
    configuration.retries = False
    # TCP keepalive with client-go's timings, so an idle watch through a proxy survives.
    configuration.keep_alive = True
    return configuration


__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_SECONDS",
    "DEFAULT_REQUEST_TIMEOUT_SECONDS",
    "RESOURCE_PATHS",
    "USER_AGENT",
    "WATCH_READ_GRACE_SECONDS",
    "KubeClient",
    "Page",
    "WatchStream",
    "load_configuration",
]
