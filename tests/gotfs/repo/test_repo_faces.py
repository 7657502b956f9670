"""Repo is assembled from faces (history, branches, working roots, working directory): every
call of its public API must still be Repo's own, whichever module defines it."""

import functools

from gotfs.repo import Repo
from gotfs.repo.repo import DOT, Config, check_ref_name

PUBLIC = """branches checkout clear_working_root close commit commit_workdir commit_working_root
create create_branch create_tag delete_branch delete_tag exclusive head head_branch head_root
init log mount_point open publish_working_root read_commit record_mount resolve root_of
set_head set_passphrase snapshot status tags workcopy workdir_base workdir_root working_root
writing""".split()


def test_every_public_call_is_on_repo():
    missing = [name for name in PUBLIC if not callable(getattr(Repo, name, None))]
    assert missing == []
    assert isinstance(Repo.__dict__["fs"], functools.cached_property)


def test_names_other_modules_import_from_repo_module_stay():
    assert DOT == ".got" and Config.__name__ == "Config" and check_ref_name("topic") == "topic"


def test_faces_work_together(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    with Repo.init(tmp_path, encrypt=False) as repo:
        ref, root = repo.commit_workdir("first")  # working directory face, through history's commit
        assert repo.head() == ref == repo.workdir_base() and repo.root_of("HEAD") == root
        assert repo.create_tag("v1") == ref and repo.tags() == {"v1": ref}  # branches face
        repo.publish_working_root("main", root)  # working roots face
        assert repo.working_root("main") == root and repo.commit_working_root("main", "same") is None
        assert [r for r, _ in repo.log()] == [ref]
