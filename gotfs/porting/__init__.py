"""Porting: copy a host directory tree into a gotfs filesystem, and a stored tree back out.

    root = import_dir(fs, root, "/home/me/project", "project")   # one transaction, one new root
    fs.store.flush()                                                # before publishing `root`
    export_dir(fs, root, "/tmp/checkout", "project")                # streaming, parallel, safe

Import (importing.py) walks the host tree with os.scandir in sorted name order and stages
every entry in one Staging (the one write path, gotfs/staging.py): regular files are chunked
in path order in packing groups, small files sharing blobs, exactly as a commit of the same
tree chunks them (so both give the same root), and are opened one at a time and streamed,
never read whole into memory. Directories, symlinks (stored, never
followed), FIFOs, sockets and device nodes, permission bits, xattrs and, on request, mtimes
are recorded. Hard links are imported as independent files (their chunks dedup).

Export (exporting.py) is the reverse, and it is written to be safe against hostile stored
trees: every name is re-validated (no '', '.', '..', '/', NUL), every creation is relative to
a directory fd that export itself created (O_NOFOLLOW, O_EXCL), and an entry whose parent is
not a directory in the stored tree (for example "a/passwd" under a symlink "a" -> /etc) raises
UnsafeExport. Nothing is ever resolved through a multi-component host path below the target,
so no symlink — stored or planted on the host — can redirect a write outside it. The main
thread does every namespace operation in key order; a bounded thread pool streams file
contents (read_extent verifies and decrypts, which releases the GIL) with pwrite, seeking over
holes.
"""

from gotfs.porting.exporting import TargetNotEmpty, export_dir
from gotfs.porting.filling import BATCH_BYTES, BATCH_FILES, PIECE_BYTES
from gotfs.porting.host import HostPath, PortingWarning
from gotfs.porting.importing import import_dir

__all__ = ["import_dir", "export_dir", "PortingWarning", "TargetNotEmpty", "HostPath",
           "PIECE_BYTES", "BATCH_BYTES", "BATCH_FILES"]
