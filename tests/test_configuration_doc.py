"""docs/configuration.md names every setting: an operator must not have to read app/config.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings

DOC = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_in_the_configuration_table(field: str) -> None:
    name = f"`ARDOISE_{field.upper()}`"
    rows = [line for line in DOC.splitlines() if line.startswith("| ") and name in line.split(" | ")[0]]
    assert rows, f"{name} is missing from the first column of docs/configuration.md"
