"""shared.safefetch against a real HTTP server on 127.0.0.1.

Nothing here talks to any other address. Tests that expect a refusal prove it came
before any connection: the `connections` fixture fails the test if a socket tries
to connect anywhere but loopback, and records loopback connections so a test can
assert there were none. Host names are resolved by resolvers passed in, never DNS.
"""
from __future__ import annotations

import gzip
import http.server
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from shared.safefetch import (
    DownloadFailed,
    FetchError,
    FetchPolicy,
    Fetched,
    TooLarge,
    URLNotAllowed,
    address_refusal,
    check_url,
    fetch,
    post_json,
    redact_url,
)

SMALL_BODY = b"\x89PNG\r\n\x1a\nnot really a png, but bytes to compare"
LARGE_SIZE = 200_000
LOOPBACK = FetchPolicy(allow_networks=["127.0.0.0/8"])


# --------------------------------------------------------------------------- the local server

class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes by path. Responses are written by hand, so each test controls framing."""

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _respond(self, status: str, headers: dict, body: bytes = b"") -> None:
        head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.wfile.write(head.encode() + body)
        self.close_connection = True

    def _drip(self, data: bytes, interval: float) -> None:
        """Send one byte at a time, as a server stalling on purpose would."""
        try:
            for i in range(len(data)):
                self.wfile.write(data[i:i + 1])
                time.sleep(interval)
        except OSError:
            pass  # the client hung up, as it should
        self.close_connection = True

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.server.requests.append((self.command, self.path, dict(self.headers), self.rfile.read(length)))
        if self.path == "/hook-redirect":
            self._respond("307 Temporary Redirect", {"Location": "/hook", "Content-Length": "0"})
        else:
            self._respond("204 No Content", {})

    def do_GET(self):
        self.server.requests.append((self.command, self.path, dict(self.headers), b""))
        path = self.path if self.path.startswith("/redirect?") else self.path.split("?")[0]
        if path == "/small":
            self._respond("200 OK", {"Content-Type": "image/png; charset=binary",
                                     "Content-Length": str(len(SMALL_BODY))}, SMALL_BODY)
        elif path == "/echo-host":
            host = self.headers["Host"].encode()
            self._respond("200 OK", {"Content-Type": "text/plain", "Content-Length": str(len(host))}, host)
        elif path == "/large-with-length":
            self._respond("200 OK", {"Content-Length": str(LARGE_SIZE)}, b"x" * LARGE_SIZE)
        elif path == "/large-close-delimited":
            # No Content-Length: the body ends when the server closes.
            self._respond("200 OK", {"Connection": "close"}, b"x" * LARGE_SIZE)
        elif path == "/large-chunked":
            chunk = b"x" * 10_000
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(LARGE_SIZE // len(chunk)))
            self._respond("200 OK", {"Transfer-Encoding": "chunked"}, chunks + b"0\r\n\r\n")
        elif path == "/gzip-bomb":
            # 20 MB of zeros in about 20 kB: what counts is what it decodes to.
            bomb = gzip.compress(bytes(20 * 1024 * 1024))
            self._respond("200 OK", {"Content-Encoding": "gzip", "Content-Length": str(len(bomb))}, bomb)
        elif path == "/endless":
            # Never ends on its own; the client must stop reading at its cap.
            self._respond("200 OK", {"Connection": "close"})
            try:
                for _ in range(10_000):  # at most 80 MB, so a broken client cannot hang the suite
                    self.wfile.write(b"x" * 8192)
            except OSError:
                pass
        elif path == "/drip-body":
            self._respond("200 OK", {"Connection": "close"})
            self._drip(b"x" * 100, 0.05)
        elif path == "/drip-headers":
            self._drip(b"HTTP/1.1 200 OK\r\nX-Filler: " + b"y" * 100 + b"\r\n\r\n", 0.05)
        elif path.startswith("/status/"):
            self._respond(f"{path.rsplit('/', 1)[1]} Whatever", {"Content-Length": "0"})
        elif path.startswith("/redirect?to="):
            self._respond("302 Found", {"Location": path.split("=", 1)[1], "Content-Length": "0"})
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            target = "/small" if left == 0 else f"/chain/{left - 1}"
            self._respond("301 Moved Permanently", {"Location": target, "Content-Length": "0"})
        elif path == "/loop":
            self._respond("302 Found", {"Location": "/loop", "Content-Length": "0"})
        elif path == "/redirect-without-location":
            self._respond("302 Found", {"Content-Length": "0"})
        else:
            self._respond("404 Not Found", {"Content-Length": "0"})


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, ssl_context: ssl.SSLContext | None = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list = []
        self.ssl_context = ssl_context

    def get_request(self):
        sock, address = super().get_request()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True)
        return sock, address


def _serve(server: _Server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def _http_server():
    server = _Server()
    thread = _serve(server)
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def server(_http_server):
    _http_server.requests.clear()
    return _http_server


def url(server, path: str, host: str = "127.0.0.1") -> str:
    scheme = "https" if server.ssl_context is not None else "http"
    return f"{scheme}://{host}:{server.server_address[1]}{path}"


# --------------------------------------------------------------------------- guards

@pytest.fixture
def connections(monkeypatch):
    """Every address this process's sockets connect to; anything but loopback fails the test."""
    attempts: list[str] = []
    real_connect = socket.socket.connect

    def guarded_connect(sock, address):
        host = address[0]
        if host not in ("127.0.0.1", "::1"):
            pytest.fail(f"a socket tried to connect to {address!r}")
        attempts.append(host)
        return real_connect(sock, address)

    def refuse_connect_ex(sock, address):
        pytest.fail(f"a socket tried connect_ex to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse_connect_ex)
    return attempts


def no_dns(*args, **kwargs):
    pytest.fail(f"the resolver was asked for {args!r}; addresses must not be resolved")


def resolver_for(table: dict[str, list[str]], calls: list | None = None):
    """A resolver answering from `table` like getaddrinfo; unknown names fail like DNS."""

    def resolve(host, port, family=0, type=0, proto=0, flags=0):
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port, 0, 0) if ":" in a else (a, port)) for a in table[host]]

    return resolve


# --------------------------------------------------------------------------- downloads

def test_small_file_is_fetched_with_its_content_type(server, connections):
    got = fetch(url(server, "/small"), LOOPBACK, max_bytes=1000, resolver=no_dns)
    assert got == Fetched(content=SMALL_BODY, content_type="image/png", final_url=url(server, "/small"))
    assert connections == ["127.0.0.1"]
    method, path, headers, _ = server.requests[0]
    assert (method, path) == ("GET", "/small")
    assert headers["User-Agent"] == LOOPBACK.user_agent


def test_loopback_is_refused_by_default_before_connecting(server, connections):
    with pytest.raises(URLNotAllowed, match="loopback") as refused:
        fetch(url(server, "/small"), FetchPolicy(), max_bytes=1000, resolver=no_dns)
    assert url(server, "/small") in str(refused.value)
    assert refused.value.http_status == 422
    assert connections == []
    assert server.requests == []


def test_declared_length_over_the_cap_is_refused_unread(server, connections):
    with pytest.raises(TooLarge) as too_large:
        fetch(url(server, "/large-with-length"), LOOPBACK, max_bytes=LARGE_SIZE - 1, resolver=no_dns)
    assert too_large.value.limit == LARGE_SIZE - 1
    assert too_large.value.http_status == 413
    assert f"{LARGE_SIZE - 1} bytes" in str(too_large.value)


@pytest.mark.parametrize("path", ["/large-close-delimited", "/large-chunked", "/endless"])
def test_cap_is_enforced_while_streaming_without_content_length(server, connections, path):
    with pytest.raises(TooLarge, match=path):
        fetch(url(server, path), LOOPBACK, max_bytes=50_000, resolver=no_dns)


def test_the_cap_counts_decoded_bytes_of_a_compressed_body(server, connections):
    with pytest.raises(TooLarge):
        fetch(url(server, "/gzip-bomb"), LOOPBACK, max_bytes=1024 * 1024, resolver=no_dns)


@pytest.mark.parametrize("path", ["/large-with-length", "/large-close-delimited", "/large-chunked"])
def test_a_body_exactly_at_the_cap_is_accepted(server, connections, path):
    got = fetch(url(server, path), LOOPBACK, max_bytes=LARGE_SIZE, resolver=no_dns)
    assert got.content == b"x" * LARGE_SIZE


@pytest.mark.parametrize("path", ["/drip-body", "/drip-headers"])
def test_a_slow_drip_is_cut_at_the_total_deadline(server, connections, path):
    # Each byte arrives well within the read timeout; only the total deadline can stop it.
    policy = FetchPolicy(allow_networks=["127.0.0.0/8"], read_timeout=2, total_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(DownloadFailed, match="total time limit of 0.5 s"):
        fetch(url(server, path), policy, max_bytes=1000, resolver=no_dns)
    assert time.monotonic() - started < 3  # the drip alone lasts 5 s


@pytest.mark.parametrize("status", [404, 500, 503])
def test_an_error_status_fails_the_download_naming_the_url(server, connections, status):
    with pytest.raises(DownloadFailed) as failed:
        fetch(url(server, f"/status/{status}"), LOOPBACK, max_bytes=1000, resolver=no_dns)
    assert str(failed.value).startswith(url(server, f"/status/{status}") + ":")
    assert f"HTTP {status}" in str(failed.value)
    assert failed.value.http_status == 502


def test_a_closed_port_fails_the_download(connections):
    with socket.socket() as probe:  # a port nobody listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadFailed, match="could not connect"):
        fetch(f"http://127.0.0.1:{port}/x", LOOPBACK, max_bytes=1000, resolver=no_dns)


# --------------------------------------------------------------------------- redirects

def test_a_redirect_to_another_allowed_path_is_followed(server, connections):
    got = fetch(url(server, "/redirect?to=/small"), LOOPBACK, max_bytes=1000, resolver=no_dns)
    assert got.content == SMALL_BODY
    assert got.final_url == url(server, "/small")
    assert [r[1] for r in server.requests] == ["/redirect?to=/small", "/small"]


def test_a_redirect_to_metadata_is_refused_before_connecting_there(server, connections):
    with pytest.raises(URLNotAllowed) as refused:
        fetch(url(server, "/redirect?to=http://169.254.169.254/latest/meta-data/"), LOOPBACK,
              max_bytes=1000, resolver=no_dns)
    message = str(refused.value)
    assert "redirected to http://169.254.169.254/latest/meta-data/" in message
    assert "cloud metadata" in message
    assert connections == ["127.0.0.1"]  # the first hop only


def test_a_redirect_to_a_host_resolving_to_a_private_address_is_refused(server, connections):
    resolver = resolver_for({"intranet.example.test": ["10.0.0.7"]})
    with pytest.raises(URLNotAllowed, match="'intranet.example.test' resolves to 10.0.0.7, a private address"):
        fetch(url(server, "/redirect?to=http://intranet.example.test/"), LOOPBACK,
              max_bytes=1000, resolver=resolver)
    assert connections == ["127.0.0.1"]


@pytest.mark.parametrize("location", ["ftp://127.0.0.1/x.psd", "file:///etc/passwd", "gopher://127.0.0.1:6379/_"])
def test_a_redirect_to_another_scheme_is_refused(server, connections, location):
    with pytest.raises(URLNotAllowed, match="scheme must be http or https"):
        fetch(url(server, f"/redirect?to={location}"), LOOPBACK, max_bytes=1000, resolver=no_dns)
    assert len(server.requests) == 1


def test_a_redirect_loop_stops_at_the_limit(server, connections):
    with pytest.raises(DownloadFailed, match="more than 5 redirects"):
        fetch(url(server, "/loop"), LOOPBACK, max_bytes=1000, resolver=no_dns)
    assert len(server.requests) == 6  # the request and five redirects


def test_exactly_max_redirects_are_followed(server, connections):
    policy = FetchPolicy(allow_networks=["127.0.0.0/8"], max_redirects=3)
    assert fetch(url(server, "/chain/2"), policy, max_bytes=1000, resolver=no_dns).content == SMALL_BODY
    with pytest.raises(DownloadFailed, match="more than 3 redirects"):
        fetch(url(server, "/chain/3"), policy, max_bytes=1000, resolver=no_dns)


def test_a_redirect_without_location_fails(server, connections):
    with pytest.raises(DownloadFailed, match="redirect without a Location"):
        fetch(url(server, "/redirect-without-location"), LOOPBACK, max_bytes=1000, resolver=no_dns)


# --------------------------------------------------------------------------- host names

def test_a_host_name_is_resolved_once_and_the_checked_address_is_used(server, connections):
    # A rebinding DNS server would answer differently the second time; it is never asked twice.
    calls: list[str] = []
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])

    def rebinding(host, port, family=0, type=0, proto=0, flags=0):
        calls.append(host)
        return resolver_for({host: next(answers)})(host, port)

    got = fetch(url(server, "/echo-host", host="assets.example.test"), LOOPBACK, max_bytes=1000, resolver=rebinding)
    assert got.content == f"assets.example.test:{server.server_address[1]}".encode()  # the Host header
    assert calls == ["assets.example.test"]
    assert connections == ["127.0.0.1"]


def test_a_host_resolving_to_a_public_and_a_private_address_is_refused(connections):
    resolver = resolver_for({"mixed.example.test": ["1.1.1.1", "192.168.1.20"]})
    with pytest.raises(URLNotAllowed, match="resolves to 192.168.1.20, a private address"):
        fetch("https://mixed.example.test/a.psd", FetchPolicy(), max_bytes=1000, resolver=resolver)
    assert connections == []


def test_a_host_resolving_to_metadata_over_ipv6_is_refused(connections):
    resolver = resolver_for({"meta.example.test": ["fd00:ec2::254"]})
    with pytest.raises(URLNotAllowed, match="cloud metadata"):
        fetch("http://meta.example.test/", FetchPolicy(), max_bytes=1000, resolver=resolver)
    assert connections == []


def test_a_dns_failure_fails_the_download(connections):
    with pytest.raises(DownloadFailed, match="could not resolve host 'nowhere.example.test'"):
        fetch("https://nowhere.example.test/a.png", FetchPolicy(), max_bytes=1000, resolver=resolver_for({}))
    assert connections == []


def test_an_allowed_host_may_resolve_to_a_private_address(server, connections):
    resolver = resolver_for({"psd.corp.example.test": ["127.0.0.1"]})
    policy = FetchPolicy(allow_hosts=["PSD.corp.example.test."])
    got = fetch(url(server, "/small", host="psd.corp.example.test"), policy, max_bytes=1000, resolver=resolver)
    assert got.content == SMALL_BODY
    with pytest.raises(URLNotAllowed):  # only that name
        fetch(url(server, "/small", host="other.corp.example.test"), policy, max_bytes=1000,
              resolver=resolver_for({"other.corp.example.test": ["127.0.0.1"]}))


# --------------------------------------------------------------------------- forbidden addresses

FORBIDDEN_URLS = [
    ("http://127.0.0.1/", "loopback"),
    ("http://127.1/", "loopback"),
    ("http://2130706433/", "loopback"),            # decimal
    ("http://0x7f.1/", "loopback"),                # hex
    ("http://0x7f000001/", "loopback"),
    ("http://017700000001/", "loopback"),          # octal
    ("http://0177.0.0.1/", "loopback"),
    ("http://0/", "unspecified"),
    ("http://0.0.0.0:8080/", "unspecified"),
    ("http://10.0.0.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://100.100.100.200/latest/meta-data/", "cloud metadata"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://169.254.170.2/v2/credentials", "cloud metadata"),
    ("http://169.254.1.1/", "link-local"),
    ("http://224.0.0.1/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "reserved"),
    ("http://198.18.0.1/", "benchmarking"),
    ("http://192.0.2.1/", "documentation"),
    ("http://[::1]/", "loopback"),
    ("http://[::]/", "unspecified"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),    # IPv4-mapped
    ("http://[::ffff:7f00:1]/", "loopback"),
    ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
    ("http://[::ffff:a00:1]/", "private"),
    ("http://[::127.0.0.1]/", "IPv4-compatible"),  # deprecated IPv4-compatible
    ("http://[fe80::1]/", "link-local"),
    ("http://[fc00::1]/", "unique-local"),
    ("http://[fd12:3456::1]/", "unique-local"),
    ("http://[fd00:ec2::254]/", "cloud metadata"),
    ("http://[ff02::1]/", "multicast"),
    ("http://[2002:7f00:1::]/", "loopback"),       # 6to4 around 127.0.0.1
    ("http://[64:ff9b::a9fe:a9fe]/", "cloud metadata"),  # NAT64 around 169.254.169.254
    ("http://[2001:db8::1]/", "documentation"),
]


@pytest.mark.parametrize("forbidden, reason", FORBIDDEN_URLS)
def test_forbidden_addresses_are_refused_without_a_connection(connections, forbidden, reason):
    with pytest.raises(URLNotAllowed, match=reason) as refused:
        fetch(forbidden, FetchPolicy(), max_bytes=1000, resolver=no_dns)
    assert "never contacted" in str(refused.value)
    with pytest.raises(URLNotAllowed, match=reason):
        check_url(forbidden, FetchPolicy())
    with pytest.raises(URLNotAllowed, match=reason):
        post_json(forbidden, b"{}", {}, FetchPolicy(), resolver=no_dns)
    assert connections == []


def test_metadata_stays_refused_inside_an_allowed_network(connections):
    policy = FetchPolicy(allow_networks=["169.254.0.0/16", "100.64.0.0/10", "fd00::/8"])
    for address in ("169.254.169.254", "100.100.100.200", "[fd00:ec2::254]"):
        with pytest.raises(URLNotAllowed, match="cloud metadata"):
            fetch(f"http://{address}/", policy, max_bytes=1000, resolver=no_dns)
    assert address_refusal("169.254.10.10", policy) is None
    assert connections == []


def test_allow_networks_opens_exactly_those_networks():
    policy = FetchPolicy(allow_networks=["10.0.5.0/24", "fd12:3456::/32"])
    assert address_refusal("10.0.5.7", policy) is None
    assert address_refusal("fd12:3456::9", policy) is None
    assert address_refusal("::ffff:10.0.5.7", policy) is None
    assert address_refusal("10.0.6.7", policy) == "a private address"
    assert address_refusal("127.0.0.1", policy) == "a loopback address"


@pytest.mark.parametrize("address", ["1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "::ffff:1.1.1.1",
                                     "2002:101:101::"])
def test_public_addresses_are_allowed(address):
    assert address_refusal(address, FetchPolicy()) is None


# --------------------------------------------------------------------------- URLs

@pytest.mark.parametrize("bad, reason", [
    ("ftp://example.com/a.psd", "scheme must be http or https, not 'ftp'"),
    ("file:///etc/passwd", "scheme must be http or https, not 'file'"),
    ("example.com/a.psd", "scheme must be http or https, not 'missing'"),
    ("http:///a.psd", "no host"),
    ("http://example.com:0/", "port 0"),
    ("http://exa mple.com/", "not a valid URL"),
    ("", "empty"),
    (None, "must be text, not NoneType"),
])
def test_malformed_urls_are_refused(connections, bad, reason):
    with pytest.raises(URLNotAllowed, match=reason):
        fetch(bad, FetchPolicy(), max_bytes=1000, resolver=no_dns)
    assert connections == []


def test_credentials_in_the_url_are_refused_and_never_repeated(connections):
    with pytest.raises(URLNotAllowed, match="credentials") as refused:
        fetch("https://alice:s3cret@example.com/a.psd", FetchPolicy(), max_bytes=1000, resolver=no_dns)
    assert "s3cret" not in str(refused.value) and "alice" not in str(refused.value)


def test_redact_url_masks_credentials_and_query_values():
    assert redact_url("https://u:pw@cdn.example.com/a.psd?X-Amz-Signature=abc&size=2#frag") == \
        "https://***@cdn.example.com/a.psd?X-Amz-Signature=***&size=***"
    assert redact_url("http://example.com/a.png") == "http://example.com/a.png"


def test_a_signed_url_is_redacted_in_errors(server, connections):
    with pytest.raises(DownloadFailed) as failed:
        fetch(url(server, "/status/403?token=topsecret"), LOOPBACK, max_bytes=1000, resolver=no_dns)
    assert "topsecret" not in str(failed.value)
    assert "token=***" in str(failed.value)


def test_fetch_error_is_the_common_base():
    assert all(issubclass(kind, FetchError) for kind in (URLNotAllowed, DownloadFailed, TooLarge))


# --------------------------------------------------------------------------- webhooks

def test_post_json_delivers_body_and_headers(server, connections):
    delivered = post_json(url(server, "/hook"), b'{"event":"render.done"}', {"X-Signature": "abc"}, LOOPBACK,
                          resolver=no_dns)
    assert delivered.status == 204
    assert 0 <= delivered.elapsed < 5
    method, path, headers, body = server.requests[0]
    assert (method, path, body) == ("POST", "/hook", b'{"event":"render.done"}')
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Signature"] == "abc"


def test_post_json_does_not_follow_redirects(server, connections):
    delivered = post_json(url(server, "/hook-redirect"), b"{}", {}, LOOPBACK, resolver=no_dns)
    assert delivered.status == 307
    assert [r[1] for r in server.requests] == ["/hook-redirect"]


def test_post_json_refuses_loopback_by_default(server, connections):
    with pytest.raises(URLNotAllowed, match="loopback"):
        post_json(url(server, "/hook"), b"{}", {}, FetchPolicy(), resolver=no_dns)
    assert server.requests == [] and connections == []


def test_post_json_checks_every_resolved_address(connections):
    resolver = resolver_for({"hooks.example.test": ["1.1.1.1", "fe80::1"]})
    with pytest.raises(URLNotAllowed, match="link-local"):
        post_json("https://hooks.example.test/h", b"{}", {}, FetchPolicy(), resolver=resolver)
    assert connections == []


# --------------------------------------------------------------------------- https

@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    """An https server on 127.0.0.1 whose certificate names assets.example.test only."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "2", "-subj", "/CN=assets.example.test", "-addext", "subjectAltName=DNS:assets.example.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server_names: list = []
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    server = _Server(ssl_context=context)
    server.server_names = server_names
    server.cert_path = str(cert)
    thread = _serve(server)
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_https_connects_to_the_pinned_address_but_verifies_the_name(https_server, connections):
    policy = FetchPolicy(ca_bundle=https_server.cert_path, allow_networks=["127.0.0.0/8"])
    resolver = resolver_for({"assets.example.test": ["127.0.0.1"]})
    got = fetch(url(https_server, "/echo-host", host="assets.example.test"), policy, max_bytes=1000,
                resolver=resolver)
    assert got.content == f"assets.example.test:{https_server.server_address[1]}".encode()
    assert "assets.example.test" in https_server.server_names  # sent as SNI
    assert connections == ["127.0.0.1"]


def test_https_refuses_a_certificate_for_another_name(https_server, connections):
    policy = FetchPolicy(ca_bundle=https_server.cert_path, allow_networks=["127.0.0.0/8"])
    resolver = resolver_for({"impostor.example.test": ["127.0.0.1"]})
    with pytest.raises(DownloadFailed, match="impostor.example.test"):
        fetch(url(https_server, "/small", host="impostor.example.test"), policy, max_bytes=1000,
              resolver=resolver)


def test_https_refuses_an_unknown_certificate_authority(https_server, connections):
    resolver = resolver_for({"assets.example.test": ["127.0.0.1"]})
    with pytest.raises(DownloadFailed, match="certificate"):
        fetch(url(https_server, "/small", host="assets.example.test"), LOOPBACK, max_bytes=1000,
              resolver=resolver)


@pytest.mark.parametrize("path", ["/drip-body", "/drip-headers"])
def test_https_slow_drip_is_cut_at_the_total_deadline(https_server, connections, path):
    policy = FetchPolicy(ca_bundle=https_server.cert_path, allow_networks=["127.0.0.0/8"],
                         read_timeout=2, total_timeout=0.5)
    resolver = resolver_for({"assets.example.test": ["127.0.0.1"]})
    started = time.monotonic()
    with pytest.raises(DownloadFailed, match="total time limit of 0.5 s"):
        fetch(url(https_server, path, host="assets.example.test"), policy, max_bytes=1000, resolver=resolver)
    assert time.monotonic() - started < 3  # the drip alone lasts 5 s


# --------------------------------------------------------------------------- settings

def test_from_env_reads_every_setting():
    policy = FetchPolicy.from_env({
        "MOCKFARM_FETCH_ALLOW_NETWORKS": "10.0.5.0/24, 192.168.7.9 ,fd00:1::/32",
        "MOCKFARM_FETCH_ALLOW_HOSTS": "psd.corp.example,Assets.Local.",
        "MOCKFARM_FETCH_CONNECT_TIMEOUT": "2.5",
        "MOCKFARM_FETCH_READ_TIMEOUT": "7",
        "MOCKFARM_FETCH_TIMEOUT": "30",
        "MOCKFARM_FETCH_MAX_REDIRECTS": "2",
        "MOCKFARM_MAX_ASSET_BYTES": "1000",
        "MOCKFARM_MAX_PSD_BYTES": "2000",
        "MOCKFARM_FETCH_USER_AGENT": "farm/1",
        "MOCKFARM_FETCH_CA_BUNDLE": "/etc/ssl/internal.pem",
    })
    assert [str(n) for n in policy.allow_networks] == ["10.0.5.0/24", "192.168.7.9/32", "fd00:1::/32"]
    assert policy.allow_hosts == {"psd.corp.example", "assets.local"}
    assert (policy.connect_timeout, policy.read_timeout, policy.total_timeout) == (2.5, 7, 30)
    assert (policy.max_redirects, policy.max_asset_bytes, policy.max_psd_bytes) == (2, 1000, 2000)
    assert (policy.user_agent, policy.ca_bundle) == ("farm/1", "/etc/ssl/internal.pem")


def test_a_single_string_is_not_taken_for_a_list():
    with pytest.raises(ValueError, match="allow_networks must be a list"):
        FetchPolicy(allow_networks="10.0.0.0/8")


def test_from_env_defaults():
    policy = FetchPolicy.from_env({})
    assert policy == FetchPolicy()
    assert policy.allow_networks == () and policy.allow_hosts == frozenset()
    assert policy.max_asset_bytes == 50 * 1024 * 1024 and policy.max_psd_bytes == 500 * 1024 * 1024
    assert policy.max_redirects == 5


@pytest.mark.parametrize("variable, value, problem", [
    ("MOCKFARM_FETCH_ALLOW_NETWORKS", "10.0.5.1/24", "10.0.5.1/24"),
    ("MOCKFARM_FETCH_ALLOW_NETWORKS", "intranet", "intranet"),
    ("MOCKFARM_FETCH_TIMEOUT", "soon", "seconds"),
    ("MOCKFARM_FETCH_TIMEOUT", "0", "positive"),
    ("MOCKFARM_FETCH_READ_TIMEOUT", "inf", "positive"),
    ("MOCKFARM_FETCH_MAX_REDIRECTS", "-1", "0 or more"),
    ("MOCKFARM_MAX_PSD_BYTES", "500MB", "whole number"),
])
def test_from_env_names_the_bad_setting(variable, value, problem):
    with pytest.raises(ValueError) as bad:
        FetchPolicy.from_env({variable: value})
    assert str(bad.value).startswith(variable + ":")
    assert problem in str(bad.value)
