"""One webhook request: a POST with a timeout, no redirects followed, to http(s) targets only.

Unless private targets are allowed, the address actually connected to is
checked before anything is sent, so a host name that resolves (or re-resolves)
to loopback, a private network or link-local space is refused.
"""

import http.client
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

SCHEMES = ("http", "https")
# Read no more of a receiver's answer than this: only its status matters.
RESPONSE_READ_LIMIT = 64 * 1024
USER_AGENT = "Salesmgr-Webhooks/1"


class TargetRefused(Exception):
    """The target lies where webhooks may not go."""


@dataclass(frozen=True)
class Outcome:
    response_code: int | None
    error: str
    ms: int

    @property
    def ok(self) -> bool:
        return self.response_code is not None and 200 <= self.response_code < 300


def address_forbidden(address: str) -> bool:
    """Whether ``address`` (an IP) is loopback, private, link-local or otherwise not public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def url_errors(url: str, *, allow_private: bool) -> list[str]:
    """What is wrong with ``url`` as a webhook target, judged without a network lookup."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ["Enter a valid URL."]
    if parts.scheme not in SCHEMES:
        return ["Use an http:// or https:// URL."]
    if not parts.hostname:
        return ["The URL must name a host."]
    if parts.username or parts.password:
        return ["Put no user name or password in the URL; the signature authenticates us."]
    if port == 0:
        return ["Enter a valid port."]
    if allow_private:
        return []
    host = parts.hostname
    if host == "localhost" or host.endswith(".localhost"):
        return ["Webhooks cannot be sent to this machine."]
    try:
        forbidden = address_forbidden(host)
    except ValueError:
        return []  # a name: its address is checked when connecting
    return ["Webhooks cannot be sent to private or loopback addresses."] if forbidden else []


def _check_peer(sock: socket.socket, allow_private: bool) -> None:
    if not allow_private and address_forbidden(sock.getpeername()[0]):
        sock.close()
        raise TargetRefused("The host resolves to a private or loopback address.")


class _HTTPConnection(http.client.HTTPConnection):
    allow_private = False

    def connect(self):
        super().connect()
        _check_peer(self.sock, self.allow_private)


class _HTTPSConnection(http.client.HTTPSConnection):
    allow_private = False

    def connect(self):
        super().connect()
        _check_peer(self.sock, self.allow_private)


def post(
    *, url: str, body: bytes, headers: dict[str, str], timeout: float, allow_private: bool
) -> Outcome:
    """POST ``body`` to ``url``; the answer's status, or why there was none. Never raises."""
    started = time.monotonic()

    def outcome(code: int | None, error: str = "") -> Outcome:
        return Outcome(code, error[:300], int((time.monotonic() - started) * 1000))

    problems = url_errors(url, allow_private=allow_private)
    if problems:
        return outcome(None, problems[0])
    parts = urlsplit(url)
    connection_class = _HTTPSConnection if parts.scheme == "https" else _HTTPConnection
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    connection.allow_private = allow_private
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        connection.request(
            "POST",
            target,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                **headers,
            },
        )
        response = connection.getresponse()
        response.read(RESPONSE_READ_LIMIT)
        return outcome(response.status)
    except TargetRefused as exc:
        return outcome(None, str(exc))
    except TimeoutError:
        return outcome(None, f"No answer within {timeout:g} s.")
    except (OSError, http.client.HTTPException) as exc:
        return outcome(None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    finally:
        connection.close()
