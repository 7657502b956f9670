"""Paths: what is refused (InvalidPath, with a message saying why and the errno a mount
returns), what is accepted (any bytes but '/' and NUL, including names that are not UTF-8),
and the length limits at their exact boundaries."""

from __future__ import annotations

import errno
import os

import pytest
from hypothesis import given, strategies as st

from gotfs import keys
from gotfs.errors import InvalidPath
from gotfs.keys import MAX_NAME, MAX_PATH, parse_path
from gotkv.params import MAX_KEY_SIZE

from .conftest import make_fs


def path_of_length(n: int) -> str:
    """A valid path of exactly n bytes (250-byte components)."""
    s = ""
    while n - len(s) > 251:
        s += "n" * 250 + "/"
    return s + "z" * (n - len(s))


@pytest.mark.parametrize("bad, why", [
    ("a//b", "empty"), (b"a//b", "empty"), ("a///b/", "empty"),
    (".", "'.'"), ("..", "'..'"), ("a/./b", "'.'"), ("a/../b", "'..'"), ("/..", "'..'"), ("a/..", "'..'"),
    ("a\x00b", "NUL"), (b"a/\x00", "NUL"), ("\x00", "NUL"),
])
def test_malformed_paths_are_einval(bad, why):
    with pytest.raises(InvalidPath) as caught:
        parse_path(bad)
    e = caught.value
    assert e.errno == errno.EINVAL
    assert why in str(e) and repr(bad) in str(e), str(e)


def test_names_and_paths_too_long_are_enametoolong():
    assert parse_path("n" * MAX_NAME) == (b"n" * MAX_NAME,)
    with pytest.raises(InvalidPath) as caught:
        parse_path("d/" + "n" * (MAX_NAME + 1))
    assert caught.value.errno == errno.ENAMETOOLONG and f"at most {MAX_NAME} bytes" in str(caught.value)
    # 255 bytes of UTF-8 is fewer characters: the limit is on bytes
    with pytest.raises(InvalidPath) as caught:
        parse_path("é" * 128)
    assert caught.value.errno == errno.ENAMETOOLONG

    longest = path_of_length(MAX_PATH)
    assert len(longest) == MAX_PATH
    assert b"/".join(parse_path(longest)) == longest.encode()
    with pytest.raises(InvalidPath) as caught:
        parse_path(longest + "z")
    assert caught.value.errno == errno.ENAMETOOLONG and f"at most {MAX_PATH} bytes" in str(caught.value)


def test_longest_path_holds_a_file_with_extents():
    """A path of exactly MAX_PATH bytes: its extent keys are exactly the gotkv key limit."""
    fs = make_fs()
    path = path_of_length(MAX_PATH)
    head = path.rsplit("/", 1)[0]
    r = fs.mkdir(fs.new(), head, parents=True)
    data = os.urandom(50_000)
    r = fs.write_file(r, path, data)
    assert fs.read(r, path) == data
    assert len(keys.extent_key(parse_path(path), 1)) == MAX_KEY_SIZE
    r = fs.write_at(r, path, 60_000, b"x")
    assert fs.read(r, path, 59_999) == b"\x00x"


def test_the_api_validates_every_path():
    fs = make_fs()
    r = fs.write_file(fs.mkdir(fs.new(), "d"), "d/f", b"x")
    calls = [lambda p: fs.mkdir(r, p), lambda p: fs.write_file(r, p, b""), lambda p: fs.stat(r, p),
             lambda p: fs.read(r, p), lambda p: fs.exists(r, p), lambda p: fs.listdir(r, p),
             lambda p: fs.remove(r, p), lambda p: fs.rename(r, "d/f", p), lambda p: fs.rename(r, p, "d/g"),
             lambda p: fs.copy(r, "d/f", p), lambda p: fs.symlink(r, p, "t"), lambda p: fs.chmod(r, p, 0o600),
             lambda p: fs.set_xattr(r, p, b"user.a", b"v"), lambda p: fs.truncate(r, p, 0),
             lambda p: fs.write_at(r, p, 0, b"y"), lambda p: list(fs.walk(r, p))]
    for call in calls:
        for bad in ("d//f", "d/../f", "d/\x00", "d/" + "x" * 256):
            with pytest.raises(InvalidPath):
                call(bad)
    assert list(fs.walk(r)) == list(fs.walk(r))  # r unchanged and readable
    assert fs.read(r, "d/f") == b"x"


def test_spellings_of_one_path():
    assert parse_path("a/b") == parse_path("/a/b") == parse_path("a/b/") == parse_path("///a/b//") == \
        parse_path(b"a/b") == (b"a", b"b")
    assert parse_path("") == parse_path("/") == parse_path(b"//") == ()
    with pytest.raises(InvalidPath):
        parse_path(42)


def test_non_utf8_names_round_trip_through_fsencode():
    fs = make_fs()
    raw = b"caf\xe9-\xff\xfe"  # latin-1, not UTF-8
    r = fs.mkdir(fs.new(), b"dir\xff")
    r = fs.write_file(r, b"dir\xff/" + raw, b"contents")
    r = fs.write_file(r, "dir\xff".encode("latin-1").decode("utf-8", "surrogateescape") + "/ünï", b"utf8")
    listing = fs.listdir(r, b"dir\xff")
    names = [n for n, _ in listing]
    assert sorted(os.fsencode(n) for n in names) == sorted([raw, "ünï".encode()])
    for name in names:
        assert isinstance(name, str)
        # the listed str name opens the same file as the raw bytes
        assert fs.read(r, "dir" + os.fsdecode(b"\xff") + "/" + name) == fs.read(r, b"dir\xff/" + os.fsencode(name))
    assert fs.read(r, os.fsdecode(b"dir\xff/" + raw)) == b"contents"
    walked = [os.fsencode(p) for p, _ in fs.walk(r)]
    assert walked == [b"", b"dir\xff", b"dir\xff/" + raw, b"dir\xff/" + "ünï".encode()]


@given(st.lists(st.binary(min_size=1, max_size=20).filter(lambda b: b"/" not in b and b"\x00" not in b
                                                           and b not in (b".", b"..")), min_size=1, max_size=4))
def test_any_bytes_name_round_trips(parts):
    raw = b"/".join(parts)
    assert parse_path(raw) == tuple(parts)
    assert parse_path(os.fsdecode(raw)) == tuple(parts)
    assert os.fsencode(keys.show(tuple(parts))) == raw


def test_rename_or_copy_that_would_overflow_a_path_is_refused_whole():
    """Moving a deep tree under a longer name must fail with ENAMETOOLONG before any change,
    also inside a transaction (where a half-done rename would be committed)."""
    fs = make_fs()
    deep = "d/" + path_of_length(MAX_PATH - 12)
    r = fs.mkdir(fs.new(), deep.rsplit("/", 1)[0], parents=True)
    r = fs.write_file(r, deep, b"deep data")
    r = fs.write_file(r, "d/a", b"shallow")
    before = list(fs.walk(r))
    for op in (fs.rename, fs.copy):
        with pytest.raises(InvalidPath) as caught:
            op(r, "d", "e" * 100)
        assert caught.value.errno == errno.ENAMETOOLONG
    with fs.edit(r) as tx:
        for move in (lambda: tx.rename("d", "e" * 100), lambda: tx.rename("d/a", "d/a2")):
            try:
                move()
            except InvalidPath:
                pass
    assert fs.read(tx.root, deep) == b"deep data"
    # the refused rename changed nothing; the next one in the same transaction applied
    assert sorted(fs.walk(tx.root)) == sorted((p if p != "d/a" else "d/a2", i) for p, i in before)
    # a short new name still works
    r2 = fs.rename(r, "d", "e")
    assert fs.read(r2, "e" + deep[1:]) == b"deep data" and not fs.exists(r2, "d")


def test_root_cannot_be_removed_or_renamed():
    fs = make_fs()
    r = fs.mkdir(fs.new(), "a")
    for call in (lambda: fs.remove(r, "/", recursive=True), lambda: fs.rename(r, "", "b"),
                 lambda: fs.rename(r, "a", "/")):
        with pytest.raises(InvalidPath) as caught:
            call()
        assert caught.value.errno == errno.EBUSY
