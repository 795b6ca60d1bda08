"""Fetching user-supplied URLs without letting them reach the farm's own network.

PSD and artwork URLs come from API clients, and webhook URLs too. Left unchecked,
such a URL is a way into whatever the workers can reach: the cloud metadata service
(credentials), Redis, PostgreSQL, the S3 server, an admin page on the LAN. So every
request made for a user goes through this module, which

- accepts http and https only, and no credentials inside the URL;
- resolves the host name once, refuses it if *any* of its addresses is loopback,
  private, link-local, cloud metadata or otherwise not public (unless the operator
  allowed that network or host for on-premises sources), and then connects to the
  very address it checked, so DNS cannot answer differently a moment later;
- follows redirects itself, checking every hop like the first URL, up to a limit;
- stops a download as soon as it passes its byte cap, and stops the whole request
  when its total deadline passes, however slowly the server trickles bytes.

All limits are fields of `FetchPolicy`; `FetchPolicy.from_env()` reads them from
`MOCKFARM_*` variables. Failures raise one family of exceptions (`FetchError`) whose
messages name the URL, with secrets in it masked, and the reason.
"""
from __future__ import annotations

import http.client
import ipaddress
import math
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Mapping
from urllib.parse import parse_qsl, urlencode, urljoin

import certifi
import urllib3
from urllib3.util import parse_url
from urllib3.util.ssl_match_hostname import CertificateError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# socket.getaddrinfo, or a stand-in with the same signature and result shape (tests).
Resolver = Callable[..., list]

MB = 1024 * 1024


# --------------------------------------------------------------------------- errors

class FetchError(Exception):
    """A user-supplied URL could not be fetched. `url` is safe to show (secrets masked)."""

    # The HTTP status an API or a task result should report for this kind of failure.
    http_status = 502

    def __init__(self, url: str, reason: str):
        self.url = redact_url(url)
        self.reason = reason
        super().__init__(f"{self.url}: {reason}")


class URLNotAllowed(FetchError):
    """The URL itself is refused: scheme, credentials, or an address we never contact."""

    http_status = 422


class DownloadFailed(FetchError):
    """The server could not be reached or did not deliver: DNS, connection, TLS,
    timeout, HTTP error status, too many redirects."""

    http_status = 502


class TooLarge(FetchError):
    """The response body is larger than the caller's byte cap."""

    http_status = 413

    def __init__(self, url: str, limit: int):
        self.limit = limit
        super().__init__(url, f"the response is larger than the limit of {limit} bytes")


def redact_url(url: str) -> str:
    """The URL with user:password and query values masked, for messages and logs.

    Signed S3 or CDN links carry their credentials in the query string, so values
    are replaced while keys are kept (they help tell URLs apart)."""
    try:
        parts = parse_url(url)
    except Exception:
        # Unparseable: show only a short prefix, never the whole thing.
        return repr(url[:60] + ("..." if len(url) > 60 else ""))
    query = parts.query
    if query:
        query = urlencode([(key, "***") for key, _ in parse_qsl(query, keep_blank_values=True)], safe="*")
    return parts._replace(auth="***" if parts.auth else None, query=query, fragment=None).url


# --------------------------------------------------------------------------- policy

@dataclass(frozen=True)
class FetchPolicy:
    """Every limit on outgoing requests made for users, in one place (README, "Limits and hostile input")."""

    allowed_schemes: frozenset[str] = frozenset({"http", "https"})
    # On-premises sources: addresses in these networks are allowed although private,
    # e.g. "10.0.5.0/24". Strings are accepted and parsed.
    allow_networks: tuple[IPNetwork, ...] = ()
    # Host names whose addresses are allowed whatever they are (exact names, no wildcards).
    allow_hosts: frozenset[str] = frozenset()
    # Seconds to open the TCP connection, seconds a single read may wait, and seconds
    # for the whole request including redirects and the body.
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_redirects: int = 5
    # Byte caps; the caller picks the one that fits what it downloads.
    max_asset_bytes: int = 50 * MB
    max_psd_bytes: int = 500 * MB
    user_agent: str = "mockfarm/0.1 (self-hosted mockup renderer)"
    # CA certificates for https; None means certifi's bundle (what requests uses).
    # Point it at a file holding an internal CA for on-premises https sources.
    ca_bundle: str | None = None

    def __post_init__(self):
        for name in ("allow_networks", "allow_hosts", "allowed_schemes"):
            if isinstance(getattr(self, name), str):  # would be read letter by letter
                raise ValueError(f"{name} must be a list of entries, not the string {getattr(self, name)!r}")
        # Frozen: normalise through object.__setattr__ so callers may pass plain strings.
        object.__setattr__(self, "allowed_schemes", frozenset(s.lower() for s in self.allowed_schemes))
        object.__setattr__(self, "allow_networks", tuple(_parse_network(n) for n in self.allow_networks))
        object.__setattr__(self, "allow_hosts", frozenset(_normalise_host(h) for h in self.allow_hosts))
        unknown = self.allowed_schemes - {"http", "https"}
        if unknown:
            raise ValueError(f"allowed_schemes may only hold http and https, not {sorted(unknown)}")
        for name in ("connect_timeout", "read_timeout", "total_timeout", "max_asset_bytes", "max_psd_bytes"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if self.max_redirects < 0:
            raise ValueError(f"max_redirects must be 0 or more, got {self.max_redirects!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "FetchPolicy":
        """Read the MOCKFARM_* variables (README, "Limits and hostile input"); unset means default."""
        env = os.environ if environ is None else environ
        values: dict = {}
        for variable, name, parse in _ENV_VARIABLES:
            raw = env.get(variable, "").strip()
            if raw:
                try:
                    values[name] = parse(raw)
                except ValueError as exc:
                    raise ValueError(f"{variable}: {exc}") from None
        try:
            return cls(**values)
        except ValueError as exc:
            # Validation messages start with the field's name; say which variable set it.
            message = str(exc)
            for variable, name, _ in _ENV_VARIABLES:
                if message.startswith(name + " "):
                    message = f"{variable}: {message}"
            raise ValueError(message) from None


def _split_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _parse_int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"expected a whole number, got {raw!r}") from None


def _parse_seconds(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {raw!r}") from None


_ENV_VARIABLES = (
    ("MOCKFARM_FETCH_ALLOW_NETWORKS", "allow_networks", lambda raw: tuple(_split_list(raw))),
    ("MOCKFARM_FETCH_ALLOW_HOSTS", "allow_hosts", lambda raw: frozenset(_split_list(raw))),
    ("MOCKFARM_FETCH_CONNECT_TIMEOUT", "connect_timeout", _parse_seconds),
    ("MOCKFARM_FETCH_READ_TIMEOUT", "read_timeout", _parse_seconds),
    ("MOCKFARM_FETCH_TIMEOUT", "total_timeout", _parse_seconds),
    ("MOCKFARM_FETCH_MAX_REDIRECTS", "max_redirects", _parse_int),
    ("MOCKFARM_MAX_ASSET_BYTES", "max_asset_bytes", _parse_int),
    ("MOCKFARM_MAX_PSD_BYTES", "max_psd_bytes", _parse_int),
    ("MOCKFARM_FETCH_USER_AGENT", "user_agent", str),
    ("MOCKFARM_FETCH_CA_BUNDLE", "ca_bundle", str),
)


def _parse_network(value: str | IPNetwork) -> IPNetwork:
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return value
    try:
        # strict: "10.0.5.1/24" is probably a typo for 10.0.5.0/24 (or /32); say so.
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        raise ValueError(f"allow_networks entry {value!r} is not a network in CIDR form ({exc})") from None


def _normalise_host(host: str) -> str:
    return host.strip().lower().rstrip(".")


# --------------------------------------------------------------------------- addresses

# Addresses never contacted unless an allowlist says so. Python's `is_global` is
# checked as well; this table is the floor that does not depend on the Python
# version, and its labels are what error messages say.
_FORBIDDEN_NETWORKS: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(cidr), label) for cidr, label in (
        ("0.0.0.0/8", "an unspecified ('this network') address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a 6to4 relay address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        # ::a.b.c.d, deprecated "IPv4-compatible" form; nothing legitimate uses it.
        ("::/96", "an IPv4-compatible IPv6 address"),
        ("100::/64", "a discard address"),
        ("2001::/23", "an IETF protocol address"),
        ("2001:db8::/32", "a documentation address"),
        ("fc00::/7", "a unique-local (private) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    )
)

# Instance metadata services hand out cloud credentials. Refused even inside an
# allowed network: no mockup source lives there, and a broad allowlist entry such
# as 100.64.0.0/10 or 169.254.0.0/16 should not open them by accident.
_CLOUD_METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean
    "169.254.169.253",  # AWS DNS resolver
    "169.254.170.2",    # AWS ECS task credentials
    "169.254.170.23",   # AWS EKS pod identity
    "100.100.100.200",  # Alibaba Cloud
    "fd00:ec2::254",    # AWS over IPv6
    "fd00:ec2::23",     # AWS EKS pod identity over IPv6
))

# IPv6 ranges that carry an IPv4 address inside; the inner address is checked too.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if address.version != 6:
        return None
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _canonical(address: IPAddress) -> IPAddress:
    """::ffff:a.b.c.d is IPv4 a.b.c.d on a dual-stack socket; check and connect to that."""
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_refusal(address: str | IPAddress, policy: FetchPolicy, *, host_allowed: bool = False) -> str | None:
    """Why `address` may not be contacted under `policy`, or None if it may.

    `host_allowed` is True when the URL's host name is in `policy.allow_hosts`."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address)
    address = _canonical(address)
    if address in _CLOUD_METADATA:
        return "a cloud metadata address"
    if host_allowed or any(address in network for network in policy.allow_networks):
        return None
    for network, label in _FORBIDDEN_NETWORKS:
        if address in network:
            return label
    inner = _embedded_ipv4(address)
    if inner is not None:
        inner_refusal = address_refusal(inner, policy)
        if inner_refusal is not None:
            return f"{inner_refusal} ({inner}) inside an IPv6 address"
    if not address.is_global:
        return "not a public address"
    return None


# --------------------------------------------------------------------------- URLs

@dataclass(frozen=True)
class _Target:
    """One checked URL: where to connect, and what to say to the server."""

    url: str
    scheme: str
    host: str           # as written in the URL (lowercase, IDNA); the TLS name and Host header
    port: int
    request_uri: str    # path and query, percent-encoded
    addresses: tuple[IPAddress, ...] = ()  # checked, in the resolver's order

    @property
    def host_header(self) -> str:
        default_port = 443 if self.scheme == "https" else 80
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return host if self.port == default_port else f"{host}:{self.port}"


def _literal_address(host: str) -> IPAddress | None:
    """The address a host written as a number stands for, or None for a name.

    Besides dotted quads and IPv6, C resolvers accept old spellings such as
    2130706433, 0x7f.1 or 0177.0.0.1 for 127.0.0.1; inet_aton reads them exactly as
    the resolver would, so they are checked as the address they really are."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _parse(url: str, policy: FetchPolicy) -> _Target:
    """Check what can be checked without the network: scheme, credentials, host, port."""
    if not isinstance(url, str):
        raise URLNotAllowed(repr(url), f"the URL must be text, not {type(url).__name__}")
    if not url.strip():
        raise URLNotAllowed(url, "the URL is empty")
    url = url.strip()
    try:
        parts = parse_url(url)
    except Exception as exc:  # urllib3 raises LocationParseError, or ValueError for bad IDNA
        raise URLNotAllowed(url, f"not a valid URL ({exc})") from None
    scheme = (parts.scheme or "").lower()
    if scheme not in policy.allowed_schemes:
        allowed = " or ".join(sorted(policy.allowed_schemes))
        raise URLNotAllowed(url, f"the scheme must be {allowed}, not {scheme or 'missing'!r}")
    if parts.auth:
        raise URLNotAllowed(url, "credentials (user:password@) are not accepted in the URL")
    if not parts.host:
        raise URLNotAllowed(url, "the URL has no host")
    port = parts.port if parts.port is not None else (443 if scheme == "https" else 80)
    if not 0 < port < 65536:
        raise URLNotAllowed(url, f"port {port} is not a usable port")
    host = parts.host
    if host.startswith("["):
        host = host[1:-1]
        if "%" in host:
            raise URLNotAllowed(url, "IPv6 zone identifiers (%...) are not accepted")
    return _Target(url=url, scheme=scheme, host=host.rstrip(".") or host, port=port,
                   request_uri=parts.request_uri)


def _resolve(target: _Target, policy: FetchPolicy, resolver: Resolver) -> _Target:
    """The target with its addresses, every one of them checked against the policy."""
    host_allowed = _normalise_host(target.host) in policy.allow_hosts
    literal = _literal_address(target.host)
    if literal is not None:
        found = [literal]
    else:
        try:
            infos = resolver(target.host, target.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise DownloadFailed(target.url, f"could not resolve host {target.host!r} ({exc})") from None
        found = []
        for info in infos:
            # sockaddr[0] is the address; drop an IPv6 scope (%eth0), link-local anyway.
            found.append(ipaddress.ip_address(info[4][0].split("%")[0]))
        if not found:
            raise DownloadFailed(target.url, f"host {target.host!r} has no addresses")
    addresses: list[IPAddress] = []
    for address in found:
        refusal = address_refusal(address, policy, host_allowed=host_allowed)
        if refusal is not None:
            where = f"{literal} is" if literal is not None else f"host {target.host!r} resolves to {address},"
            raise URLNotAllowed(target.url, f"{where} {refusal}, which is never contacted")
        address = _canonical(address)
        if address not in addresses:
            addresses.append(address)
    return replace(target, addresses=tuple(addresses))


def check_url(url: str, policy: FetchPolicy) -> None:
    """Refuse a URL that can be refused without the network (for the API, answering 422).

    Checks the scheme, credentials, port and hosts written as addresses. Host names
    are resolved and checked later, when a worker fetches."""
    target = _parse(url, policy)
    if _literal_address(target.host) is not None:
        _resolve(target, policy, resolver=_never_resolve)


def _never_resolve(*_args, **_kwargs):
    raise AssertionError("a literal address is never resolved")


# --------------------------------------------------------------------------- connections

class _Deadline:
    """The total time one fetch may take, enforced even on a server trickling bytes.

    Per-read timeouts cannot stop a server that sends a byte every few seconds: each
    read succeeds. So a thread waits until the deadline, then shuts the connection's
    socket down, which makes a read blocked in the fetching thread return at once,
    whatever the phase (TLS handshake, headers, body). It keeps doing so every 50 ms
    until the fetch ends, because a connection being opened has no socket to shut
    yet (opening is bounded by connect_timeout). After a cut, a read can look like a
    normal end of body, so callers check `expired` before trusting what they read.

    The socket is remembered once connected: http.client lets go of it
    (connection.sock becomes None) when it hands it to a response that will close."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expires_at = time.monotonic() + seconds
        self.expired = False
        self._connection: urllib3.connection.HTTPConnection | None = None
        self._socket: socket.socket | None = None
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name="safefetch-deadline", daemon=True)

    def __enter__(self) -> "_Deadline":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._finished.set()
        self._thread.join()

    def remaining(self) -> float:
        return max(0.0, self.expires_at - time.monotonic())

    def watch(self, connection: urllib3.connection.HTTPConnection) -> None:
        """Cut this connection when time runs out; call again once it is connected."""
        self._connection = connection
        self._socket = connection.sock

    def _run(self) -> None:
        if self._finished.wait(self.remaining()):
            return
        self.expired = True
        while True:
            connection = self._connection
            sock = self._socket or (connection.sock if connection is not None else None)
            if sock is not None:
                try:
                    # The plain socket method: SSLSocket.shutdown would also drop its
                    # TLS state under the reading thread's feet.
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed
            if self._finished.wait(0.05):
                return


def _open_connection(target: _Target, policy: FetchPolicy, deadline: _Deadline) -> urllib3.connection.HTTPConnection:
    """A connection to the first of the target's checked addresses that answers.

    Pinning: the connection is opened to the IP address itself, never to the name,
    so nothing is resolved again between the check and the connect (DNS rebinding).
    For https, server_hostname makes urllib3 send the name in SNI and verify the
    certificate against the name (its documented way of talking TLS to an address
    chosen by the caller). The Host header is set by the caller of this function."""
    failures = []
    for address in target.addresses:
        if deadline.expired or deadline.remaining() == 0:
            break
        timeout = min(policy.connect_timeout, deadline.remaining())
        if target.scheme == "https":
            connection = urllib3.connection.HTTPSConnection(
                str(address), target.port, timeout=timeout,
                server_hostname=target.host, cert_reqs="CERT_REQUIRED",
                ca_certs=policy.ca_bundle or certifi.where())
        else:
            connection = urllib3.connection.HTTPConnection(str(address), target.port, timeout=timeout)
        deadline.watch(connection)
        try:
            connection.connect()
            deadline.watch(connection)
            # From now on each socket operation waits at most read_timeout.
            connection.timeout = policy.read_timeout
            return connection
        except _NETWORK_ERRORS as exc:
            connection.close()
            failures.append(f"{address}: {_describe(exc)}")
    if deadline.expired or deadline.remaining() == 0:
        raise DownloadFailed(target.url, f"no answer within the total time limit of {deadline.seconds:g} s")
    raise DownloadFailed(target.url, "could not connect (" + "; ".join(failures) + ")")


# What a failed connection, TLS handshake or exchange can raise. CertificateError is
# a ValueError raised by urllib3's own host name check.
# HTTPException: a server sending garbage instead of HTTP (or cut off mid-line).
_NETWORK_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, CertificateError)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    # urllib3 wraps errors as "<connection object>: reason"; keep the reason.
    return text.split(">: ", 1)[-1]


@contextmanager
def _exchange(target: _Target, method: str, headers: Mapping[str, str], body: bytes | None,
              policy: FetchPolicy, deadline: _Deadline) -> Iterator[urllib3.response.HTTPResponse]:
    """Send one request to the target's checked address; yield the response, unread."""
    connection = _open_connection(target, policy, deadline)
    all_headers = urllib3.HTTPHeaderDict(headers)
    all_headers["Host"] = target.host_header
    all_headers["User-Agent"] = policy.user_agent
    # One request per connection: nothing is reused for another user's URL.
    all_headers["Connection"] = "close"
    try:
        try:
            connection.request(method, target.request_uri, body=body, headers=all_headers,
                               preload_content=False, decode_content=True)
            response = connection.getresponse()
        except _NETWORK_ERRORS as exc:
            if deadline.expired:
                raise DownloadFailed(target.url, f"no answer within the total time limit of {deadline.seconds:g} s") from None
            raise DownloadFailed(target.url, f"request failed ({_describe(exc)})") from None
        try:
            yield response
        finally:
            response.close()
    finally:
        connection.close()


# --------------------------------------------------------------------------- fetch

@dataclass(frozen=True)
class Fetched:
    content: bytes
    content_type: str | None  # media type only, lowercase ("image/png"), None if not sent
    final_url: str            # after redirects


_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_READ_CHUNK = 64 * 1024


def fetch(url: str, policy: FetchPolicy, *, max_bytes: int, resolver: Resolver = socket.getaddrinfo) -> Fetched:
    """GET a user-supplied URL under `policy`, reading at most `max_bytes` of body.

    Raises URLNotAllowed, DownloadFailed or TooLarge (all FetchError)."""
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be positive, got {max_bytes!r}")
    headers = {
        "Accept": "*/*",
        # Ask for the bytes as stored; urllib3 still decodes a server that compresses
        # anyway, counting decoded bytes against the cap.
        "Accept-Encoding": "identity",
    }
    current = url
    with _Deadline(policy.total_timeout) as deadline:
        for hop in range(policy.max_redirects + 1):
            try:
                target = _resolve(_parse(current, policy), policy, resolver)
            except FetchError as exc:
                if hop == 0:
                    raise
                raise type(exc)(url, f"redirected to {exc.url}, and {exc.reason}") from None
            with _exchange(target, "GET", headers, None, policy, deadline) as response:
                if response.status in _REDIRECT_STATUSES:
                    location = response.headers.get("Location")
                    if not location:
                        raise DownloadFailed(current, f"HTTP {response.status} redirect without a Location")
                    current = urljoin(current, location.strip())
                    continue
                if not 200 <= response.status < 300:
                    raise DownloadFailed(current, f"the server answered HTTP {response.status} {response.reason}".rstrip())
                content = _read_body(response, target, max_bytes, deadline)
                content_type = response.headers.get("Content-Type")
                if content_type:
                    content_type = content_type.split(";", 1)[0].strip().lower() or None
                return Fetched(content=content, content_type=content_type, final_url=current)
        raise DownloadFailed(url, f"more than {policy.max_redirects} redirects")


def _read_body(response, target: _Target, max_bytes: int, deadline: _Deadline) -> bytes:
    declared = response.headers.get("Content-Length", "")
    # A declared size over the cap is refused unread; a smaller one proves nothing,
    # so the bytes are counted anyway.
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(target.url, max_bytes)
    body = bytearray()
    try:
        for chunk in response.stream(_READ_CHUNK):
            body += chunk
            if len(body) > max_bytes:
                raise TooLarge(target.url, max_bytes)
    except _NETWORK_ERRORS as exc:
        if not deadline.expired:
            raise DownloadFailed(target.url, f"the download broke off ({_describe(exc)})") from None
    if deadline.expired:
        raise DownloadFailed(target.url, f"not finished within the total time limit of {deadline.seconds:g} s")
    return bytes(body)


# --------------------------------------------------------------------------- webhooks

@dataclass(frozen=True)
class Delivered:
    status: int       # the receiver's HTTP status; redirects are not followed (3xx is returned)
    elapsed: float    # seconds, from resolving the host to reading the status


# A receiver's answer is not used; read a little so the exchange completes cleanly.
_WEBHOOK_RESPONSE_BYTES = 64 * 1024


def post_json(url: str, body: bytes, headers: Mapping[str, str], policy: FetchPolicy, *,
              resolver: Resolver = socket.getaddrinfo) -> Delivered:
    """POST a JSON body to a user's webhook URL under the same address rules as fetch().

    Any HTTP answer is returned with its status; the caller decides what counts as
    delivered. Refused URLs raise URLNotAllowed; network failures DownloadFailed."""
    if not isinstance(body, bytes):
        raise TypeError(f"body must be bytes, got {type(body).__name__}")
    started = time.monotonic()
    target = _resolve(_parse(url, policy), policy, resolver)
    with _Deadline(policy.total_timeout) as deadline:
        all_headers = {"Content-Type": "application/json", **headers, "Content-Length": str(len(body))}
        with _exchange(target, "POST", all_headers, body, policy, deadline) as response:
            elapsed = time.monotonic() - started
            try:
                response.read(_WEBHOOK_RESPONSE_BYTES)
            except _NETWORK_ERRORS:
                pass  # the status is what counts
            return Delivered(status=response.status, elapsed=elapsed)
