"""gotfs: a filesystem stored in gotkv (the GotFS key layout), where every change is a new root.

Modules: keys (paths <-> keys), info and extent (value formats), chunking (file data in and out
of blobs), tx (pending changes with read-your-writes), files and dirs (the operations), diff,
porting (import from / export to a host directory), cafs (a key-value convenience API), fs (FS).
"""

from gotkv.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "FS": "gotfs.fs",
    "Edit": "gotfs.fs",
    "Info": "gotfs.info",
    "Kind": "gotfs.info",
})

__all__ = ["FS", "Edit", "Info", "Kind"]
