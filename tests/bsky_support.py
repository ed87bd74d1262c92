"""Fixtures for the network adapters: the real local Bluesky network (tests/bsky) and helpers around it.

``bsky_net`` starts the network once per test session (about 5 s, 400 MB). When it is not installed the
Bluesky tests are skipped locally, but FAIL when ``CI=true``: CI must never pass by skipping them.
Install with ``tests/bsky/install.sh`` (``make test`` does it).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:  # the editable install may not map ``app`` (pytest does not add the repo root)
    sys.path.insert(0, _ROOT)

from app.networks.base import NetworkCredentials  # noqa: E402

T = TypeVar("T")

_spec = importlib.util.spec_from_file_location(
    "bsky_network", Path(__file__).resolve().parent / "bsky" / "bsky_network.py"
)
assert _spec is not None
assert _spec.loader is not None
bsky_network_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bsky_network_mod)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _postgres_problem() -> str | None:
    try:
        import psycopg

        with psycopg.connect(bsky_network_mod.PG_URL.replace("postgres://", "postgresql://"), connect_timeout=3):
            return None
    except Exception as exc:
        return f"PostgreSQL unreachable at {bsky_network_mod.PG_URL}: {exc}"


def wait_until(fn: Callable[[], T | None], what: str, timeout: float = 15.0, interval: float = 0.05) -> T:
    """Poll ``fn`` until it returns something truthy. AppView reads are eventually consistent."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = fn()
            if value:
                return value
        except Exception as exc:
            last = exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} (last error: {last!r})")
        time.sleep(interval)


@dataclass
class BskyAccount:
    handle: str
    did: str
    password: str  # the main password (to make app passwords)
    access_jwt: str
    app_password: str = ""

    def creds(self, **extra: str) -> NetworkCredentials:
        """Credentials as Ardoise stores them: handle + app password (+ ``session``, ``pds_url``...)."""
        return NetworkCredentials({"handle": self.handle, "app_password": self.app_password, **extra})


class BskyNet:
    """A running local network plus synchronous helpers (raw XRPC with httpx, no SDK involved)."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.pds: str = info["pds"]
        self.appview: str = info["appview"]
        self.http = httpx.Client(timeout=10)

    wait_until = staticmethod(wait_until)

    def xrpc(self, method: str, nsid: str, *, base: str | None = None, token: str = "", **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = self.http.request(method, f"{base or self.pds}/xrpc/{nsid}", headers=headers, **kw)
        r.raise_for_status()
        return r.json() if r.content else None

    def create_account(self, prefix: str = "t") -> BskyAccount:
        """A new account with a unique ``*.test`` handle and an app password; indexed by the AppView."""
        handle = f"{prefix}{uuid.uuid4().hex[:10]}.test"  # the PDS allows 3-18 chars before the domain
        password = "main-" + uuid.uuid4().hex
        out = self.xrpc(
            "POST",
            "com.atproto.server.createAccount",
            json={"handle": handle, "email": f"{handle}@example.test", "password": password},
        )
        acct = BskyAccount(handle=handle, did=out["did"], password=password, access_jwt=out["accessJwt"])
        acct.app_password = self.create_app_password(acct)
        self.wait_indexed(acct.did)
        return acct

    def create_app_password(self, acct: BskyAccount, name: str = "") -> str:
        out = self.xrpc(
            "POST",
            "com.atproto.server.createAppPassword",
            token=acct.access_jwt,
            json={"name": name or f"ardoise-{uuid.uuid4().hex[:8]}"},
        )
        return str(out["password"])

    def revoke_app_password(self, acct: BskyAccount, name: str) -> None:
        self.xrpc("POST", "com.atproto.server.revokeAppPassword", token=acct.access_jwt, json={"name": name})

    def wait_indexed(self, actor: str) -> None:
        wait_until(
            lambda: self.http.get(f"{self.appview}/xrpc/app.bsky.actor.getProfile", params={"actor": actor}).is_success,
            f"AppView indexing {actor}",
        )

    def list_records(self, did: str, collection: str = "app.bsky.feed.post") -> list[dict[str, Any]]:
        out = self.xrpc(
            "GET", "com.atproto.repo.listRecords", params={"repo": did, "collection": collection, "limit": 100}
        )
        return list(out["records"])

    def get_record(self, uri: str) -> dict[str, Any] | None:
        did, collection, rkey = uri.removeprefix("at://").split("/")
        r = self.http.get(
            f"{self.pds}/xrpc/com.atproto.repo.getRecord", params={"repo": did, "collection": collection, "rkey": rkey}
        )
        if r.status_code == 400 and "RecordNotFound" in r.text:
            return None
        r.raise_for_status()
        return dict(r.json())

    def author_feed(self, actor: str) -> list[dict[str, Any]]:
        out = self.xrpc("GET", "app.bsky.feed.getAuthorFeed", base=self.appview, params={"actor": actor})
        return [item["post"] for item in out["feed"]]

    def get_blob(self, did: str, cid: str) -> bytes:
        r = self.http.get(f"{self.pds}/xrpc/com.atproto.sync.getBlob", params={"did": did, "cid": cid})
        r.raise_for_status()
        return r.content


@pytest.fixture(scope="session")
def bsky_net() -> Iterator[BskyNet]:
    """The local Bluesky network, started once per session (skipped locally / failed in CI if missing)."""
    problem = bsky_network_mod.install_problem() or _postgres_problem()
    if problem:
        if _in_ci():
            pytest.fail(f"CI=true but the Bluesky dev network cannot run: {problem}", pytrace=False)
        pytest.skip(f"Bluesky dev network not available: {problem}")
    with bsky_network_mod.bsky_network() as info:
        net = BskyNet(info)
        try:
            yield net
        finally:
            net.http.close()


@pytest.fixture
def bsky_account(bsky_net: BskyNet) -> BskyAccount:
    """A fresh account (handle + app password) on the local network, so tests never share a feed."""
    return bsky_net.create_account()
