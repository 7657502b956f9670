"""Packing groups: which files share a chunk stream, chosen so that versions of a tree dedup.

Small files are packed: their bytes are cut as one stream, so a thousand 1 KiB files share
a few blobs instead of making a thousand. But one stream for a whole tree means a change in
any file can dirty the chunk it shares with its neighbours, and a release that touches a
hundred scattered files dirties nearly every chunk. So files are cut into groups, and each
group is chunked on its own: a changed file dirties its group only.

Group boundaries are content-defined, like the tree's node boundaries: a group ends after a
file whose path hashes (keyed by the repository's salt) under a threshold, once the group
holds at least MIN_GROUP bytes, or when it reaches MAX_GROUP. The same paths in the same
order give the same groups, whatever else changed, so an unchanged file lands in the same
group as before, with the same neighbours, and its chunk is found again. Files of at least
ALONE bytes are chunked on their own (their chunks then depend on their bytes alone).
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, TypeVar

import blake3

T = TypeVar("T")
MIN_GROUP = 32 << 10
MAX_GROUP = 512 << 10
ALONE = 256 << 10
CUT_ONE_IN = 2  # of the files past MIN_GROUP, about one in this many ends a group


def groups(items: Iterable[T], path: Callable[[T], bytes], size: Callable[[T], int], salt: bytes) -> Iterator[list[T]]:
    """`items` (in path order) split into packing groups; every item is in exactly one.
    Cost: one keyed BLAKE3 of each small file's path."""
    key = blake3.blake3(b"gotfs packing groups", key=salt).digest() if len(salt) == 32 else \
        blake3.blake3(salt).digest()
    threshold = (1 << 32) // CUT_ONE_IN
    group: list[T] = []
    held = 0
    for item in items:
        n = size(item)
        if n >= ALONE:
            if group:
                yield group
                group, held = [], 0
            yield [item]
            continue
        group.append(item)
        held += n
        if held >= MAX_GROUP or (held >= MIN_GROUP and
                                 int.from_bytes(blake3.blake3(path(item), key=key).digest(4), "little") < threshold):
            yield group
            group, held = [], 0
    if group:
        yield group
