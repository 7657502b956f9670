"""A RootSource for tests that drive the writable core (Writeback) with no FUSE and no repo."""

from __future__ import annotations

from gotfs.fs import FS


class RecordingSource:
    """A RootSource (gotfs/mount/flushing.py) that records every root it is asked to publish,
    counts holds and releases, and fails its publishes while `fail` is set."""

    def __init__(self, fs: FS):
        self.fs = fs
        self.root = fs.new()
        self.published = []
        self.fail = False

    def current(self):
        return self.root

    def hold(self):
        self.holds = getattr(self, "holds", 0) + 1

    def release(self):
        self.releases = getattr(self, "releases", 0) + 1

    def publish(self, root):
        if self.fail:
            raise OSError("publish failed")
        self.fs.store.flush()  # as the repo's publish does: durable before it is recorded
        self.root = root
        self.published.append(root)
