"""Who a commit is by: GOT_AUTHOR, else git's user.name and user.email, else USER@hostname."""

from __future__ import annotations

import json
import socket
import subprocess

from tests.cli.conftest import got_cmd, got_env


def _commit_author(tmp_path, gitconfig: str | None, **env) -> str:
    home = tmp_path / "home"
    home.mkdir()
    if gitconfig is not None:
        (home / ".gitconfig").write_text(gitconfig)
    work = tmp_path / "work"
    work.mkdir()
    (work / "f").write_text("x")
    base = {k: v for k, v in got_env().items() if k not in ("GOT_AUTHOR", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL")}
    base.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", XDG_CONFIG_HOME=str(home / ".config"), **env)
    for args in (["init"], ["commit", "-m", "one"]):
        subprocess.run(got_cmd(*args), cwd=work, env=base, check=True, capture_output=True)
    log = subprocess.run(got_cmd("log", "--json", "-n", "1"), cwd=work, env=base, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(log)[0]["author"]


def test_git_name_and_email_make_the_author(tmp_path):
    assert _commit_author(tmp_path, "[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n") \
        == "Ada Lovelace <ada@example.com>"


def test_the_last_value_of_a_key_wins_as_with_git_config_get(tmp_path):
    conf = "[user]\n\tname = First\n\temail = a@example.com\n[user]\n\tname = Second\n"
    assert _commit_author(tmp_path, conf) == "Second <a@example.com>"


def test_a_name_alone_or_an_email_alone(tmp_path):
    (tmp_path / "n").mkdir()
    (tmp_path / "e").mkdir()
    assert _commit_author(tmp_path / "n", "[user]\n\tname = Only Name\n") == "Only Name"
    assert _commit_author(tmp_path / "e", "[user]\n\temail = only@example.com\n") == "<only@example.com>"


def test_without_git_identity_user_at_host(tmp_path):
    assert _commit_author(tmp_path, None, USER="someone") == f"someone@{socket.gethostname()}"


def test_got_author_wins(tmp_path):
    assert _commit_author(tmp_path, "[user]\n\tname = Git Name\n\temail = g@example.com\n",
                          GOT_AUTHOR="Env Person <env@example.com>") == "Env Person <env@example.com>"
