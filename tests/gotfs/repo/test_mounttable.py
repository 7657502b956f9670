"""The kernel's mount table read for got mounts (gotfs.repo.mounttable), on sample tables."""

from __future__ import annotations

from pathlib import Path

from gotfs.repo.mounttable import enclosing_mount, got_mounts, mount_at, source_name

TABLE = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
45 22 0:40 / /tmp/a\\040b/mnt rw,nosuid,nodev,relatime shared:2 - fuse.got {src} rw,user_id=0,group_id=0
46 22 0:41 / /srv/view ro,nosuid,nodev,relatime - fuse.got got ro,user_id=0,group_id=0
47 22 0:42 / /srv/other rw,relatime - fuse.sshfs me@host:/x rw
"""


def test_a_mount_names_its_repository_even_with_commas_and_spaces():
    workdir = "/home/me/my work, v2"
    src = source_name(workdir)
    assert "," not in src and " " not in src
    mounts = got_mounts(TABLE.format(src=src))
    assert [m.mountpoint for m in mounts] == [Path("/tmp/a b/mnt"), Path("/srv/view")]
    assert mounts[0].workdir == Path(workdir) and not mounts[0].readonly
    assert mounts[1].workdir is None and mounts[1].readonly  # a remote's snapshot: no repository


def test_an_unreadable_or_foreign_table_has_no_got_mounts():
    assert got_mounts("") == []
    assert got_mounts("garbage line\n47 22 0:42 / /x rw - fuse.sshfs a rw\n") == []


NESTED = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
50 22 0:50 / /m rw,relatime - fuse.got got:/w1 rw
51 50 0:51 / /m/inner rw,relatime - fuse.got got:/w2 rw
52 22 0:52 / /m2 ro,relatime - fuse.got got:/w3 ro
53 22 0:53 / /m2 rw,relatime - fuse.got got:/w4 rw
"""


def test_the_enclosing_mount_is_the_deepest_and_of_two_on_one_point_the_one_on_top():
    """Mount points compare as whole names: /m2 is not inside /m, /m/inner is."""
    def workdir(path: str):
        m = enclosing_mount(path, NESTED)
        return None if m is None else str(m.workdir)

    assert workdir("/m") == "/w1" and workdir("/m/a/b") == "/w1"
    assert workdir("/m/inner") == "/w2" and workdir("/m/inner/x") == "/w2"
    assert workdir("/m2/x") == "/w4"  # mounted over /m2 later: the one a path there reaches
    assert workdir("/mm") is None and workdir("/") is None and workdir("/elsewhere/m") is None
    assert enclosing_mount("/m/inner/x", NESTED).mountpoint == Path("/m/inner")
    assert mount_at("/m/inner", NESTED).workdir == Path("/w2") and mount_at("/m/inner/x", NESTED) is None
    assert enclosing_mount("/m", "") is None and mount_at("/m", "") is None


def test_a_got_mount_on_the_root_holds_every_path():
    table = "60 1 0:60 / / rw,relatime - fuse.got got:/w rw\n"
    assert str(enclosing_mount("/any/where", table).workdir) == "/w"
    assert enclosing_mount("/", table).mountpoint == Path("/")
