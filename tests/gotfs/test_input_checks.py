"""Library calls with wrong types or ranges fail with InvalidInput naming the argument, never a
foreign exception (struct.error, AttributeError, TypeError) and never a silent wrong value."""

from __future__ import annotations

import io

import pytest

from gotfs.fs import FS
from gotkv.blobs.memory import MemoryStore
from gotkv.blobs.ref import Ref
from gotkv.errors import InvalidInput, InvalidRef


@pytest.fixture
def fs_root():
    fs = FS(MemoryStore(), secret=bytes(32))
    return fs, fs.write_file(fs.new(), "a", b"hello")


@pytest.mark.parametrize("offset", [-5, -1, 1 << 63, 1.5, "3", True, None])
def test_write_at_offsets(fs_root, offset):
    fs, root = fs_root
    with pytest.raises(InvalidInput, match="offset"):
        fs.write_at(root, "a", offset, b"x")


def test_write_at_needs_bytes(fs_root):
    fs, root = fs_root
    with pytest.raises(InvalidInput, match="must be bytes"):
        fs.write_at(root, "a", 0, "text")


@pytest.mark.parametrize("offset", [-3, 1.0, "0"])
def test_read_offsets(fs_root, offset):
    fs, root = fs_root
    with pytest.raises(InvalidInput, match="offset"):
        fs.read(root, "a", offset=offset)


def test_read_size_type(fs_root):
    fs, root = fs_root
    with pytest.raises(InvalidInput, match="size"):
        fs.read(root, "a", 0, "all")
    assert fs.read(root, "a", 1, -1) == b"ello"


@pytest.mark.parametrize("size", [-1, 1 << 63, 2.0])
def test_truncate_sizes(fs_root, size):
    fs, root = fs_root
    with pytest.raises(InvalidInput, match="size"):
        fs.truncate(root, "a", size)


@pytest.mark.parametrize("data", ["text", 42, None, io.StringIO("text")])
def test_write_file_needs_bytes_or_a_binary_stream(fs_root, data):
    fs, root = fs_root
    with pytest.raises(InvalidInput, match="bytes or a binary file"):
        fs.write_file(root, "b", data)
    assert fs.read(fs.write_file(root, "b", io.BytesIO(b"ok")), "b") == b"ok"


@pytest.mark.parametrize("mode", [1 << 40, -1, 0o200000, "755", 7.0])
def test_chmod_refuses_what_is_not_a_mode(fs_root, mode):
    fs, root = fs_root
    with pytest.raises(InvalidInput, match="mode"):
        fs.chmod(root, "a", mode)
    assert fs.stat(fs.chmod(root, "a", 0o100600), "a").mode == 0o600  # an st_mode keeps its permissions


@pytest.mark.parametrize("data", ["00" * 32, 123, None])
def test_ref_from_bytes_refuses_other_types(data):
    with pytest.raises(InvalidRef):
        Ref.from_bytes(data)
