"""The egress guard (app/kit/egress.py) driven as an attacker would: generated URLs whose host is a private
address in every spelling (IPv4 dotted, one number, octal, hex, short forms; IPv6, IPv4-mapped, 6to4, NAT64),
names that resolve to one (IDN included), ``localhost``, userinfo tricks, and redirects from a trusted
endpoint to such hosts. DNS is a local stub passed to the guard; nothing leaves the machine."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.kit.egress import Egress, EgressRefused, is_public, origin_of
from app.kit.errors import PermanentError, RetryableError
from tests.fuzz.profiles import fuzz_settings

PRIVATE_V4 = [
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
]
PRIVATE_V6 = [ipaddress.IPv6Network(n) for n in ("::1/128", "::/128", "fe80::/10", "fc00::/7", "ff00::/8")]
PUBLIC_V4 = ["93.184.215.14", "151.101.1.140", "1.1.1.1", "8.8.4.4"]
PUBLIC_V6 = ["2606:4700::6810:85e5", "2a00:1450:4007:80e::200e"]


class StubResolver:
    """DNS as a table; records every question so a test can count them."""

    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(f"NXDOMAIN {host}")
        return self.table[host]


def _in(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> st.SearchStrategy[str]:
    kind = type(network.network_address)  # ip_address(1) would be IPv4 even for ::1
    return st.integers(int(network.network_address), int(network.broadcast_address)).map(lambda n: str(kind(n)))


private_v4 = st.sampled_from(PRIVATE_V4).flatmap(_in).map(ipaddress.IPv4Address)
private_v6 = st.sampled_from(PRIVATE_V6).flatmap(_in)


@st.composite
def v4_spelling(draw: st.DrawFn, ip: ipaddress.IPv4Address) -> str:
    """One of the spellings inet_aton accepts for ``ip``."""
    n, b = int(ip), ip.packed

    def num(v: int) -> str:
        style = draw(st.sampled_from(["dec", "oct", "hex", "HEX"]))
        if style == "oct":
            return "0" + format(v, "o")
        if style == "hex":
            return "0x" + format(v, "x")
        if style == "HEX":
            return "0X" + format(v, "X")
        return str(v)

    form = draw(st.integers(1, 4))
    if form == 1:
        return num(n)
    if form == 2:
        return f"{num(b[0])}.{num(n & 0xFFFFFF)}"
    if form == 3:
        return f"{num(b[0])}.{num(b[1])}.{num(n & 0xFFFF)}"
    return ".".join(num(x) for x in b)


@st.composite
def private_host(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["v4", "v6", "mapped", "6to4", "nat64", "localhost"]))
    if kind == "localhost":
        return draw(st.sampled_from(["localhost", "LOCALHOST", "localhost.", "api.localhost", "x.y.localhost"]))
    if kind == "v6":
        return f"[{draw(private_v6)}]"
    ip = draw(private_v4)
    if kind == "v4":
        return draw(v4_spelling(ip)) + draw(st.sampled_from(["", "."]))
    if kind == "mapped":
        return f"[::ffff:{ip}]" if draw(st.booleans()) else f"[::ffff:{int(ip) >> 16:x}:{int(ip) & 0xFFFF:x}]"
    if kind == "6to4":
        return f"[2002:{int(ip) >> 16:x}:{int(ip) & 0xFFFF:x}::1]"
    return f"[64:ff9b::{ip}]"


NAMES = st.sampled_from(["media.example", "cdn.shop.example", "bücher.example", "xn--caf-dma.example", "ÉCOLE.example"])


def _url(host: str, draw: Callable[[st.SearchStrategy[str]], str]) -> str:
    scheme = draw(st.sampled_from(["https", "http", "HTTPS"]))
    port = draw(st.sampled_from(["", ":443", ":80", ":8080", ":22"]))
    path = draw(st.sampled_from(["/", "/a.png", "/api.twilio.com/x.jpg", "/latest/meta-data/"]))
    return f"{scheme}://{host}{port}{path}"


async def verdict(guard: Egress, url: str) -> list[str]:
    """What the guard does with ``url`` before any byte is sent: its checked addresses, or EgressRefused."""
    u = guard.check_url(url)
    return await guard.addresses(u.host, u.port or 443)


@fuzz_settings()
@given(data=st.data())
def test_every_spelling_of_a_private_address_is_refused(data: st.DataObject) -> None:
    url = _url(data.draw(private_host()), data.draw)
    resolver = StubResolver({})
    with pytest.raises(EgressRefused):
        asyncio.run(verdict(Egress(resolver=resolver), url))
    assert resolver.asked == [], "an address literal or a local name went to DNS"


@fuzz_settings()
@given(data=st.data(), name=NAMES, public=st.lists(st.sampled_from(PUBLIC_V4 + PUBLIC_V6), max_size=3))
def test_a_name_with_any_private_address_is_refused(data: st.DataObject, name: str, public: list[str]) -> None:
    """DNS answers mixing public and private addresses (rebinding set-ups) are refused as a whole; IDN names
    are looked up in their ASCII form."""
    private = data.draw(st.one_of(private_v4.map(str), private_v6))
    answer = data.draw(st.permutations([*public, private]))
    ascii_name = httpx.URL(f"https://{name}/").host
    resolver = StubResolver({ascii_name: answer})
    with pytest.raises(EgressRefused):
        asyncio.run(verdict(Egress(resolver=resolver), f"https://{name}/a.png"))
    assert resolver.asked == [ascii_name]


@fuzz_settings()
@given(name=NAMES, answer=st.lists(st.sampled_from(PUBLIC_V4 + PUBLIC_V6), min_size=1, max_size=3, unique=True))
def test_a_name_with_only_public_addresses_passes_resolved_once(name: str, answer: list[str]) -> None:
    ascii_name = httpx.URL(f"https://{name}/").host
    resolver = StubResolver({ascii_name: answer})
    got = asyncio.run(verdict(Egress(resolver=resolver), f"https://{name}/a.png"))
    assert got == [str(ipaddress.ip_address(a)) for a in answer]
    assert resolver.asked == [ascii_name]


@fuzz_settings()
@given(data=st.data(), ip=st.sampled_from(PUBLIC_V4).map(ipaddress.IPv4Address))
def test_public_ipv4_in_any_spelling_is_read_like_inet_aton(data: st.DataObject, ip: ipaddress.IPv4Address) -> None:
    """A public address is never misread as another one; a spelling httpx itself rejects (a dotted quad with a
    leading zero) is refused as not a URL, which is safe."""
    host = data.draw(v4_spelling(ip))
    resolver = StubResolver({})
    try:
        got = asyncio.run(verdict(Egress(resolver=resolver), f"https://{host}/"))
    except EgressRefused as exc:
        got = [exc.detail]
    assert got == [str(ip)] or got[0].startswith("not a URL"), got
    assert resolver.asked == []


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://api.twilio.com@127.0.0.1/a.png", id="userinfo-host"),
        pytest.param("https://user:pass@media.example/a.png", id="userinfo"),
        pytest.param("http://media.example/a.png", id="http"),
        pytest.param("ftp://media.example/a.png", id="ftp"),
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("gopher://127.0.0.1:6379/_INFO", id="gopher"),
        pytest.param("https://127.0.0.1#@api.twilio.com/", id="fragment-at"),
        pytest.param("https://1.2.3.999/", id="bad-octet"),
        pytest.param("https://0x100000000/", id="over-32-bits"),
        pytest.param("https://08.1.1.1/", id="bad-octal"),
        pytest.param("https://shop.123/", id="numeric-tld"),
        pytest.param("https://[fe80::1%25eth0]/", id="zone-id"),
        pytest.param("https://[::ffff:169.254.169.254]/", id="metadata-mapped"),
        pytest.param("https://[fd00:ec2::254]/", id="aws-v6-metadata"),
        pytest.param("https://100.100.100.200/", id="alibaba-metadata"),
        pytest.param("https://[2001::1]/", id="teredo-range"),
        pytest.param("https:///a.png", id="no-host"),
    ],
)
def test_refused_forms(url: str) -> None:
    resolver = StubResolver({"media.example": PUBLIC_V4[:1]})
    with pytest.raises(EgressRefused) as info:
        asyncio.run(verdict(Egress(resolver=resolver), url))
    assert info.value.reason == "the address was refused"  # generic for the tenant


def test_is_public_table() -> None:
    assert is_public(ipaddress.ip_address("93.184.215.14"))
    assert is_public(ipaddress.ip_address("2606:4700::6810:85e5"))
    for bad in ("127.0.0.1", "169.254.169.254", "10.1.2.3", "::1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "ff02::1"):
        assert not is_public(ipaddress.ip_address(bad)), bad


def test_origins_compare_exactly() -> None:
    assert origin_of("https://api.twilio.com/x") == origin_of("https://API.twilio.com:443/y")
    assert origin_of("https://api.twilio.com/x") != origin_of("http://api.twilio.com/x")
    assert origin_of("https://api.twilio.com/x") != origin_of("https://api.twilio.com:8443/x")
    assert origin_of("https://api.twilio.com/x") != origin_of("https://api.twilio.com.evil.example/x")


# --- through real connections --------------------------------------------------------------------------------


@dataclass
class Seen:
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # path, Host, Authorization
    redirect_to: str = ""


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Seen]]:
    """A loopback server: ``/go`` redirects to ``seen.redirect_to``, anything else answers an image."""
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            seen.requests.append((self.path, self.headers.get("Host", ""), self.headers.get("Authorization")))
            if self.path.startswith("/go"):
                self.send_response(302)
                self.send_header("Location", seen.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path.startswith("/big"):
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                self.wfile.write(b"x" * 200_000)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"image")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def local(server: tuple[str, Seen]) -> tuple[str, Seen]:
    server[1].requests.clear()
    return server


@fuzz_settings(scale=0.2)
@given(data=st.data())
def test_redirects_to_private_hosts_are_refused_hop_by_hop(data: st.DataObject, server: tuple[str, Seen]) -> None:
    """A trusted endpoint (the operator's Twilio API base, here on loopback) redirecting to a private host:
    the redirect goes through the guard, so it is refused and the credentials never follow."""
    base, seen = server
    seen.requests.clear()
    seen.redirect_to = _url(data.draw(private_host()), data.draw)
    assume(not seen.redirect_to.startswith(base))
    guard = Egress(resolver=StubResolver({}))

    async def go() -> None:
        async with httpx.AsyncClient() as trusted:
            try:
                await guard.fetch(
                    f"{base}/go", max_bytes=1000, credentials={origin_of(base): ("AC1", "tok")}, trusted_client=trusted
                )
            finally:
                await guard.aclose()

    with pytest.raises(EgressRefused):
        asyncio.run(go())
    assert [p for p, _, _ in seen.requests] == ["/go"], "a hop after the redirect reached the server"
    assert seen.requests[0][2] is not None  # the trusted origin did get the credentials


def test_the_connection_goes_to_the_checked_address_with_the_name_kept(local: tuple[str, Seen]) -> None:
    """One DNS question per connection, the TCP connection to that answer, the Host header unchanged; a
    second request on a new connection asks again (never a stale check)."""
    base, seen = local
    port = httpx.URL(base).port
    resolver = StubResolver({"media.example": ["127.0.0.1"]})
    guard = Egress(allow_private=True, resolver=resolver)

    async def go() -> bytes:
        try:
            got = await guard.fetch(f"http://media.example:{port}/a.png", max_bytes=100)
            return got.data
        finally:
            await guard.aclose()

    assert asyncio.run(go()) == b"image"
    assert resolver.asked == ["media.example"]
    assert seen.requests == [("/a.png", f"media.example:{port}", None)]


def test_size_and_redirect_caps(local: tuple[str, Seen]) -> None:
    base, seen = local
    guard = Egress(allow_private=True, max_redirects=3)
    seen.redirect_to = f"{base}/go"  # a loop

    async def go(url: str, max_bytes: int) -> None:
        try:
            await guard.fetch(url, max_bytes=max_bytes)
        finally:
            await guard.aclose()

    with pytest.raises(PermanentError) as info:
        asyncio.run(go(f"{base}/go", 1000))
    assert info.value.code == "too_many_redirects"
    assert len(seen.requests) == 4  # the first request and 3 redirects, no more
    with pytest.raises(PermanentError) as info:
        asyncio.run(go(f"{base}/big", 50_000))
    assert info.value.code == "too_large"


def test_private_networks_off_refuses_the_local_server(local: tuple[str, Seen]) -> None:
    base, seen = local
    guard = Egress()

    async def go() -> None:
        try:
            await guard.fetch(base.replace("http:", "https:") + "/a.png", max_bytes=100)
        finally:
            await guard.aclose()

    with pytest.raises(EgressRefused):
        asyncio.run(go())
    assert seen.requests == []


def test_the_guarded_client_raises_httpx_errors_and_lets_refusals_through(local: tuple[str, Seen]) -> None:
    """The guard's transport is written on httpx's and httpcore's public interfaces (no private pool swapped in):
    transport failures still come out as httpx's own errors, which adapters catch, and a refusal as itself."""
    base, _ = local
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    truncated = ThreadingHTTPServer(("127.0.0.1", 0), _Truncating)
    threading.Thread(target=truncated.serve_forever, daemon=True).start()

    async def go() -> None:
        open_guard, strict = Egress(allow_private=True), Egress()
        try:
            assert (await open_guard.client.get(f"{base}/a.png")).content == b"image"
            with pytest.raises(httpx.ConnectError):
                await open_guard.client.get(f"http://127.0.0.1:{closed}/")
            with pytest.raises(httpx.RemoteProtocolError):
                await open_guard.client.get(f"http://127.0.0.1:{truncated.server_port}/")
            with pytest.raises(RetryableError) as info:
                await open_guard.fetch(f"http://127.0.0.1:{truncated.server_port}/", max_bytes=1000)
            assert info.value.code == "network"
            with pytest.raises(EgressRefused):
                await strict.client.get(f"https://127.0.0.1:{closed}/")
        finally:
            await open_guard.aclose()
            await strict.aclose()

    try:
        asyncio.run(go())
    finally:
        truncated.shutdown()
        truncated.server_close()


class _Truncating(BaseHTTPRequestHandler):
    """Promises 100 bytes, sends 5 and hangs up."""

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.write(b"image")
        self.wfile.flush()
        self.close_connection = True
