"""Shared fixtures for the gotkv tests: small nodes so that a few hundred entries make a deep tree."""

import pytest

from gotkv import KV, Codec, MemoryStore, Params

SMALL = Params(salt=bytes(range(32)), target_node_size=256, max_node_size=1024)
# A cap just above the target: many nodes end at the cap, not at a hash cut, which is what
# knocks a rebuild out of step with the old boundaries and exercises resynchronisation.
TIGHT = Params(salt=bytes(range(32)), target_node_size=300, max_node_size=320)
SHAPES = [SMALL, TIGHT]


def make_kv(params: Params = SMALL, secret: bytes | None = b"s" * 32) -> KV:
    return KV(MemoryStore(), params, codec=Codec(secret))


@pytest.fixture
def kv() -> KV:
    return make_kv()
