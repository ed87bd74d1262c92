"""The one guard for outbound requests to URLs that a tenant, an owner or a webhook supplied.

Every such URL (API ``media_urls``, MMS ``MediaUrl*``, a Mastodon ``instance_url``, a Bluesky ``pds_url``)
goes through :class:`Egress`:

1. the URL itself: ``https`` (``http`` only when private networks are allowed), no ``user:password@``, a host;
2. the host is resolved ONCE, by the resolver the guard was given, and refused when ANY of its addresses is
   not a public unicast address (loopback, private, link-local and so the cloud metadata address, multicast,
   reserved, unspecified, shared/CGNAT, and the IPv4 hidden in IPv4-mapped, 6to4, Teredo and NAT64 IPv6).
   IPv4 written as one number, in octal or in hex (``2130706433``, ``0x7f.1``, ``0177.0.0.1``) is read the way
   ``inet_aton`` would, without asking DNS, and ``localhost``/``*.localhost`` never resolve;
3. the TCP connection goes to that checked address (the guard is the connection pool's network backend: the
   pool keeps the host name for SNI, certificate checks and ``Host``, and never resolves a second time, so a
   DNS answer that changes between check and use changes nothing);
4. :meth:`Egress.fetch` follows redirects itself, re-checking each hop, at most ``max_redirects``; credentials
   go only to an exact origin (scheme, host, port) given with them, never to the next hop;
5. the body is capped while it streams, the whole fetch is capped in time;
6. what a tenant sees is generic (``EgressError.reason``): no status code, port, content type or remote body.
   The detail goes to the log for the operator.

``ARDOISE_ALLOW_PRIVATE_NETWORKS`` turns 1 and 2 off (http allowed, any address) for tests and private
deployments; 3 to 6 still hold. Operator-configured endpoints (the Twilio API base URL, the SMTP relay, the
operator webhook) are trusted as configured and do not come through here.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import httpcore
import httpx
import structlog

from app.kit.errors import PermanentError, RetryableError

log = structlog.get_logger("ardoise.egress")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``resolver(host, port)`` → the host's addresses, as text (what ``getaddrinfo`` gives). Tests inject one."""
Origin = tuple[str, str, int]
"""(scheme, host, port) of a URL, with the default port filled in: what credentials are bound to."""

REFUSED = "the address was refused"
UNREACHABLE = "the address could not be fetched"

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Not globally reachable (IANA special-purpose registries) but not known as such to every Python's ipaddress
_NOT_GLOBAL: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.IPv4Network("100.64.0.0/10"),  # carrier-grade NAT (and Alibaba's metadata address)
    ipaddress.IPv4Network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.IPv4Network("192.88.99.0/24"),  # 6to4 relay anycast (deprecated)
    ipaddress.IPv4Network("198.18.0.0/15"),  # benchmarking
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # local-use NAT64
    ipaddress.IPv6Network("2001::/23"),  # IETF protocol assignments (Teredo included)
    ipaddress.IPv6Network("2001:db8::/32"),  # documentation
)
_IPV4_PART = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


class EgressRefused(PermanentError):
    """The URL or its address is not one Ardoise may fetch. ``reason`` is generic; ``detail`` is for the log."""

    def __init__(self, detail: str) -> None:
        super().__init__(REFUSED, code="egress_refused")
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    content_type: str


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The operating system's resolver (``getaddrinfo``), without blocking the event loop."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    """``host`` read as ``inet_aton`` (and the WHATWG URL standard) read it: 1 to 4 parts, each decimal, octal
    (leading 0) or hex (0x); the last part fills the remaining bytes. None when it is not such a number;
    EgressRefused when it looks like one but is invalid (``1.2.3.999``), rather than leave it to DNS."""
    parts = host.split(".")
    if not parts or not _IPV4_PART.match(parts[-1]):
        return None
    if len(parts) > 4 or not all(_IPV4_PART.match(p) for p in parts):
        raise EgressRefused(f"malformed numeric host {host!r}")
    values = []
    for p in parts:
        low = p.lower()
        if low.startswith("0x"):
            values.append(int(low[2:] or "0", 16))
        elif len(p) > 1 and p.startswith("0"):
            if not all(c in "01234567" for c in p):
                raise EgressRefused(f"malformed octal host {host!r}")
            values.append(int(p, 8))
        else:
            values.append(int(p))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        raise EgressRefused(f"numeric host out of range {host!r}")
    number = last
    for i, v in enumerate(head):
        number += v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def literal_address(host: str) -> IPAddress | None:
    """The address a host names by itself (IPv6 in brackets or not, any IPv4 form), or None for a name."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in bare:
        try:
            return ipaddress.IPv6Address(bare.split("%", 1)[0])
        except ValueError:
            raise EgressRefused(f"malformed IPv6 host {host!r}") from None
    return ipv4_literal(bare.rstrip("."))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> Iterable[ipaddress.IPv4Address]:
    if ip.ipv4_mapped is not None:
        yield ip.ipv4_mapped
    if ip.sixtofour is not None:
        yield ip.sixtofour
    if ip.teredo is not None:
        yield from ip.teredo
    if ip in _NAT64:
        yield ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)


def is_public(ip: IPAddress) -> bool:
    """True only for a global unicast address: never loopback, private, link-local (169.254.169.254, the
    cloud metadata address, is one), multicast, reserved, unspecified, shared (100.64/10) or an IPv6 address
    that carries a non-public IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if any(not is_public(v4) for v4 in _embedded_ipv4(ip)):
            return False
        if ip.is_site_local:
            return False
    if any(ip.version == net.version and ip in net for net in _NOT_GLOBAL):
        return False
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def origin_of(url: httpx.URL | str) -> Origin:
    u = httpx.URL(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    return (u.scheme, u.host.lower().rstrip("."), port)


class Egress:
    """The guard. ``allow_private`` (``ARDOISE_ALLOW_PRIVATE_NETWORKS``) lets it reach any address over http
    or https; ``resolver`` is the only DNS it uses."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver = system_resolver,
        max_redirects: int = 3,
        timeout: float = 30.0,
        user_agent: str = "Ardoise/0.1 (+https://github.com/ardoise)",
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.max_redirects = max_redirects
        self.timeout = timeout
        self._user_agent = user_agent
        self._client: httpx.AsyncClient | None = None

    # --- checks -----------------------------------------------------------------------------------------

    def check_url(self, url: str | httpx.URL) -> httpx.URL:
        """The URL, parsed, when its form may be fetched (scheme, no userinfo, a host); else EgressRefused.
        Addresses are checked at connection time, by :meth:`addresses`."""
        try:
            u = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise EgressRefused(f"not a URL: {exc}") from None
        allowed = ("https", "http") if self.allow_private else ("https",)
        if u.scheme not in allowed:
            raise EgressRefused(f"scheme {u.scheme!r} is not allowed")
        if u.userinfo:
            raise EgressRefused("credentials in the URL")
        if not u.host:
            raise EgressRefused("no host")
        return u

    async def addresses(self, host: str, port: int) -> list[str]:
        """The checked addresses to connect to for ``host`` (resolved once). EgressRefused when the host is
        a local name or when ANY of its addresses is not public (a name resolving to a public and a private
        address is refused: the connection could be made to either)."""
        literal = literal_address(host)
        if literal is not None:
            found: list[IPAddress] = [literal]
        else:
            name = host.lower().rstrip(".")
            if not self.allow_private and (name == "localhost" or name.endswith(".localhost")):
                raise EgressRefused(f"local name {host!r}")
            try:
                raw = await self.resolver(name, port)
            except OSError as exc:
                raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from None
            found = []
            for text in raw:
                try:
                    found.append(ipaddress.ip_address(text.split("%", 1)[0]))
                except ValueError:
                    raise EgressRefused(f"{host} resolved to {text!r}") from None
            if not found:
                raise httpcore.ConnectError(f"{host} has no address")
        if not self.allow_private:
            bad = [str(ip) for ip in found if not is_public(ip)]
            if bad:
                raise EgressRefused(f"{host} resolves to non-public {', '.join(bad)}")
        return [str(ip) for ip in found]

    # --- the client -------------------------------------------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        """An httpx client whose every connection goes through the guard (give it to adapters that call
        tenant-supplied hosts). It never reads proxy settings from the environment."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=_GuardedTransport(self),
                timeout=httpx.Timeout(20.0, connect=5.0),
                headers={"User-Agent": self._user_agent},
                follow_redirects=False,
                trust_env=False,
            )
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # --- fetching ---------------------------------------------------------------------------------------

    async def fetch(
        self,
        url: str,
        *,
        max_bytes: int,
        credentials: Mapping[Origin, tuple[str, str]] | None = None,
        trusted_client: httpx.AsyncClient | None = None,
    ) -> Fetched:
        """GET ``url``'s body (at most ``max_bytes``), following at most ``max_redirects`` redirects, each hop
        checked. ``credentials`` maps an exact origin to HTTP Basic credentials: only a hop to that origin
        carries them, through ``trusted_client`` (an operator-configured endpoint, trusted as configured);
        every other hop goes through the guard, without credentials.

        Raises EgressRefused (refused address), PermanentError (4xx, too large, too many redirects) or
        RetryableError (5xx, 429, transport failure, timeout), all with generic reasons."""
        creds = dict(credentials or {})
        current = url
        try:
            async with asyncio.timeout(self.timeout):
                for _hop in range(self.max_redirects + 1):
                    try:
                        u = httpx.URL(current)
                        auth = creds.get(origin_of(u)) if u.scheme in ("http", "https") and u.host else None
                    except (httpx.InvalidURL, TypeError, ValueError):
                        auth = None
                    if auth is not None and trusted_client is not None:
                        client = trusted_client
                    else:
                        auth, client, u = None, self.client, self.check_url(current)
                    next_url = await self._get(client, u, auth, max_bytes)
                    if isinstance(next_url, Fetched):
                        return next_url
                    current = next_url
        except TimeoutError:
            log.info("egress.timeout", url=_loggable(url))
            raise RetryableError(UNREACHABLE, code="timeout") from None
        except EgressRefused as exc:
            log.warning("egress.refused", url=_loggable(url), detail=exc.detail)
            raise
        raise PermanentError(UNREACHABLE, code="too_many_redirects")

    async def _get(
        self, client: httpx.AsyncClient, u: httpx.URL, auth: tuple[str, str] | None, max_bytes: int
    ) -> Fetched | str:
        try:
            async with client.stream("GET", u, auth=auth, follow_redirects=False) as r:
                if r.is_redirect and "location" in r.headers:
                    try:
                        return str(u.join(r.headers["location"]))
                    except (httpx.InvalidURL, TypeError, ValueError):
                        raise EgressRefused("unusable redirect location") from None
                if r.status_code >= 400 or r.status_code < 200 or r.is_redirect:
                    log.info("egress.status", url=_loggable(str(u)), status=r.status_code)
                    if r.status_code >= 500 or r.status_code == 429:
                        raise RetryableError(UNREACHABLE, code="remote_unavailable")
                    raise PermanentError(UNREACHABLE, code="remote_refused")
                declared = r.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise PermanentError("media too large", code="too_large")
                chunks: list[bytes] = []
                size = 0
                async for chunk in r.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise PermanentError("media too large", code="too_large")
                    chunks.append(chunk)
                return Fetched(b"".join(chunks), r.headers.get("content-type", "application/octet-stream"))
        except httpx.HTTPError as exc:
            log.info("egress.unreachable", url=_loggable(str(u)), error=type(exc).__name__)
            raise RetryableError(UNREACHABLE, code="network") from None


def _loggable(url: str) -> str:
    """The URL without its query (signed media URLs carry tokens there)."""
    return url.split("?", 1)[0][:300]


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the guard in ``connect_tcp``: resolve once, check, connect to the
    checked address. TLS (SNI, certificate) and ``Host`` keep the name, which the pool passes separately."""

    def __init__(self, guard: Egress) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await self._guard.addresses(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    ip, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("unix sockets are never reached from a tenant URL")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# httpcore's errors as httpx's, most specific first (what httpx's own transport raises for each): callers catch
# ``httpx.HTTPError`` and the guard's own EgressRefused, nothing else.
_ERRORS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core, mapped in _ERRORS:
            if isinstance(exc, core):
                raise mapped(str(exc)) from exc
        raise  # EgressRefused and anything that is not a transport error pass as they are


class _GuardedStream(httpx.AsyncByteStream):
    """A response body read from the guarded pool, with its errors turned into httpx's."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            with _as_httpx_errors():
                await close()


class _GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore connection pool whose network backend is :class:`_GuardedBackend`.

    httpx's own ``AsyncHTTPTransport`` takes no network backend, so this is the same small mapping (httpx
    request to httpcore request, response back, errors translated) written on the public interfaces of both:
    ``httpx.AsyncBaseTransport`` and ``httpcore.AsyncConnectionPool(network_backend=...)``. No private attribute
    is touched, so a new httpx cannot silently bypass the guard. No proxy, ever: a proxy would resolve the name
    itself, after the check."""

    def __init__(self, guard: Egress) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=50,
            max_keepalive_connections=10,
            keepalive_expiry=5.0,
            retries=0,
            network_backend=_GuardedBackend(guard),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            resp = await self._pool.handle_async_request(core)
        assert isinstance(resp.stream, AsyncIterable)
        return httpx.Response(
            status_code=resp.status,
            headers=resp.headers,
            stream=_GuardedStream(resp.stream),
            extensions=resp.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
