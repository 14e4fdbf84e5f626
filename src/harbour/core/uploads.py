"""Bounded, safely stored uploads.

Files are streamed to a temporary file while their size is counted (the limit is enforced before the
whole body is read into memory), checked against the allowed kinds by content signature as well as by
name, and stored under a content-addressed name, never under the name the client sent.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from harbour.core.errors import Invalid, TooLarge

CHUNK = 1 << 16

# extension -> content check (None: must decode as UTF-8 text)
SIGNATURES: dict[str, bytes | None] = {
    ".pdf": b"%PDF-",
    ".png": b"\x89PNG\r\n\x1a\n",
    ".jpg": b"\xff\xd8\xff",
    ".jpeg": b"\xff\xd8\xff",
    ".parquet": b"PAR1",
    ".zip": b"PK\x03\x04",
    ".docx": b"PK\x03\x04",
    ".xlsx": b"PK\x03\x04",
    ".csv": None,
    ".txt": None,
    ".json": None,
    ".jsonl": None,
    ".md": None,
}

DOCUMENT_KINDS = (".pdf", ".png", ".jpg", ".jpeg", ".docx", ".xlsx", ".txt", ".md", ".csv")


@dataclass(frozen=True)
class StoredUpload:
    original_name: str
    stored_path: Path
    sha256: str
    size: int
    extension: str


def store_upload(
    stream: BinaryIO,
    filename: str,
    dest_dir: Path,
    *,
    max_bytes: int,
    allowed: tuple[str, ...] = DOCUMENT_KINDS,
    field: str = "file",
) -> StoredUpload:
    """Copy ``stream`` into ``dest_dir``; raise ``TooLarge`` or ``Invalid`` and keep nothing on failure."""
    name = Path(filename or "").name
    ext = Path(name).suffix.lower()
    if not name or ext not in allowed:
        kinds = ", ".join(allowed)
        raise Invalid(f"{field}: file type {ext or '(none)'} is not accepted; allowed: {kinds}", field=field)
    dest_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            head = b""
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"{field}: {name} is larger than the limit of {max_bytes:,} bytes", field=field)
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise Invalid(f"{field}: {name} is empty", field=field)
        _check_signature(Path(tmp_name), head, ext, name, field)
        final = dest_dir / f"{digest.hexdigest()}{ext}"
        os.replace(tmp_name, final)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return StoredUpload(name, final, digest.hexdigest(), size, ext)


def _check_signature(path: Path, head: bytes, ext: str, name: str, field: str) -> None:
    signature = SIGNATURES.get(ext)
    if signature is not None:
        if not head.startswith(signature):
            raise Invalid(f"{field}: {name} does not look like a {ext} file (its content says otherwise)", field=field)
        return
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A chunk boundary may split a multi-byte character; decode the whole file to be sure.
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise Invalid(f"{field}: {name} is not UTF-8 text", field=field) from exc
