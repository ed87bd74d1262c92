"""The ``ARDOISE_SECRET_KEY`` rotation in docs/security.md is true: the re-encryption snippet printed there,
run as written with ``<new>,<old>`` in the environment, leaves every stored credential readable with the new
key alone; before it, credentials written under the old key are not."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.config import Settings, get_settings
from app.kit.crypto import Vault
from app.models import Business, NetworkAccount
from app.runtime import build_runtime

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
OLD, NEW = "old-secret-key-0123456789abcdef", "new-secret-key-fedcba9876543210"
CREDS = {"instance_url": "https://mastodon.example", "access_token": "tok-123"}


def rotation_snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    [block] = [b for b in blocks if "rt.vault.rotate" in b]
    # The block is indented inside a list item in the Markdown.
    return "\n".join(line.removeprefix("   ") for line in block.splitlines())


async def test_documented_reencryption_moves_every_credential_to_the_new_key(
    db_url: str, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    old_rt = build_runtime(make_settings(db_url, secret_key=OLD))
    try:
        async with old_rt.db.write() as s:
            biz = Business(name="Bistro", slug="bistro")
            s.add(biz)
            await s.flush()
            assert biz.id is not None
            s.add(
                NetworkAccount(
                    business_id=biz.id, network="mastodon", handle="@b", credentials=old_rt.vault.encrypt(CREDS)
                )
            )
    finally:
        await old_rt.close()
    with pytest.raises(ValueError, match="cannot be decrypted"):
        await _stored(db_url)

    monkeypatch.setenv("ARDOISE_SECRET_KEY", f"{NEW},{OLD}")
    monkeypatch.setenv("ARDOISE_DATABASE_URL", db_url)
    monkeypatch.setenv("ARDOISE_SMTP_ENABLED", "false")
    get_settings.cache_clear()
    try:
        code = compile(rotation_snippet(), str(DOC), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result: Any = eval(code, {})  # the doc's snippet, top-level await as in `python -m asyncio`
        if result is not None:
            await result
    finally:
        get_settings.cache_clear()
    assert await _stored(db_url) == [CREDS]


async def _stored(db_url: str) -> list[dict[str, str]]:
    """The stored credentials, read with the new key alone."""
    vault = Vault([NEW])
    rt = build_runtime(Settings(_env_file=None, database_url=db_url, secret_key=NEW, smtp_enabled=False))
    try:
        async with rt.db.read() as s:
            rows = (await s.execute(select(NetworkAccount))).scalars().all()
        return [vault.decrypt(a.credentials) for a in rows]
    finally:
        await rt.close()
