"""gotkv: an immutable copy-on-write prolly tree over content-addressed, encrypted blobs.

Layering: `gotkv.blobs` (refs, codec, stores) knows nothing of trees; the tree modules
(node, boundary, builder, mutate, read, diff, sync, check) use only blobs; `KV` ties them
together. Nothing here knows about files — that is gotfs, one layer up.
"""

from gotkv.blobs.codec import Codec
from gotkv.blobs.local import LocalStore
from gotkv.blobs.memory import MemoryStore
from gotkv.blobs.ref import Ref
from gotkv.blobs.store import Store
from gotkv.diff import Change
from gotkv.edit import Batch, Span
from gotkv.errors import GotError
from gotkv.kv import KV
from gotkv.params import MAX_KEY_SIZE, MAX_VALUE_SIZE, Params
from gotkv.root import Root

__all__ = ["KV", "Batch", "Span", "Change", "Root", "Ref", "Params", "Codec", "Store",
           "MemoryStore", "LocalStore", "GotError", "MAX_KEY_SIZE", "MAX_VALUE_SIZE"]
