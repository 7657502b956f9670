"""The kernel's mount table read for got mounts (gotfs.repo.mounttable), on sample tables."""

from __future__ import annotations

from pathlib import Path

from gotfs.repo.mounttable import got_mounts, source_name

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
