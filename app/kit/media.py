"""Media files Ardoise keeps (MMS photos, email attachments) so networks that need a public URL can fetch them."""

from __future__ import annotations

import hashlib
from pathlib import Path

IMAGE_TYPES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/heic": ".heic",
}


def store(media_dir: Path, data: bytes, content_type: str) -> str:
    """Write ``data`` under a content-addressed name (a retry stores nothing twice). Returns the file name."""
    ext = IMAGE_TYPES.get(content_type.split(";")[0].strip().lower(), ".bin")
    name = hashlib.sha256(data).hexdigest()[:32] + ext
    media_dir.mkdir(parents=True, exist_ok=True)
    path = media_dir / name
    if not path.exists():
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return name


def safe_path(media_dir: Path, name: str) -> Path | None:
    """The file for a public media name, or None for anything that is not one of ours."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or len(name) > 64:
        return None
    path = media_dir / name
    return path if path.is_file() else None
