"""Remote URLs: which engine holds a remote, from the text a user types.

    s3://BUCKET[/PREFIX]     an S3-compatible bucket (endpoint and credentials from the
                             standard AWS variables and files: see s3.py)
    file:///PATH, /PATH, ./PATH   a plain directory (a USB disk, an NFS share)

A `#BRANCH` suffix (used by `got mount URL#BRANCH`) is split off by `split_branch`.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from gotkv.blobs.remote.objects import ObjectStore, RemoteError


def split_branch(url: str) -> tuple[str, str | None]:
    """'s3://b/p#main' -> ('s3://b/p', 'main')."""
    base, sep, branch = url.partition("#")
    return base, (branch or None) if sep else None


def is_url(text: str) -> bool:
    """Whether `text` names a remote place rather than a remote's name."""
    return "://" in text or text.startswith(("/", "./", "../", "~"))


def normalize(url: str) -> str:
    """The canonical text of a URL (directories absolute, as file:// URLs)."""
    if url.startswith("s3://"):
        parts = urlsplit(url)
        if not parts.netloc:
            raise RemoteError(f"{url}: no bucket named (expected s3://BUCKET/PREFIX)")
        prefix = parts.path.strip("/")
        return f"s3://{parts.netloc}" + (f"/{prefix}" if prefix else "")
    if url.startswith("file://"):
        path = url[len("file://"):]
    elif "://" in url:
        raise RemoteError(f"{url}: unsupported remote URL scheme (use s3://BUCKET/PREFIX or a directory path)")
    else:
        path = url
    if not path:
        raise RemoteError("empty remote URL")
    return "file://" + os.path.abspath(os.path.expanduser(path))


def open_objects(url: str) -> ObjectStore:
    """The engine for `url` (RemoteError for a malformed or unsupported one). No request."""
    url = normalize(url)
    if url.startswith("s3://"):
        from gotkv.blobs.remote.s3 import S3ObjectStore

        parts = urlsplit(url)
        return S3ObjectStore(parts.netloc, parts.path.strip("/"))
    from gotkv.blobs.remote.directory import DirectoryObjectStore

    return DirectoryObjectStore(url[len("file://"):])
