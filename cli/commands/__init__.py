"""One module per `got` command, each with `add_parser(subparsers)` and `run(args) -> int`.

SUMMARIES holds each command's one-line help in the order `got help` lists them, so that
listing needs no command module imported (each imports the library it drives); a test checks
that every module's `help=` says the same.
"""

SUMMARIES = {
    "init": "create an empty repository",
    "status": "show changes in the working directory",
    "commit": "record changes as a new commit",
    "log": "show commit history",
    "diff": "show changes between commits or against the working directory",
    "checkout": "switch to a revision, or restore paths from it",
    "switch": "switch to a branch (-c: create it first)",
    "branch": "list, create or delete branches",
    "tag": "list, create or delete tags",
    "merge": "merge another branch into the current one",
    "show": "show a commit, or a file or directory at a revision",
    "cat": "print a file's raw bytes at a revision",
    "ls": "list files at a revision",
    "mount": "mount a revision (or a branch read-write) with FUSE",
    "umount": "unmount a got mount",
    "gc": "delete unreachable blobs and compact packs",
    "fsck": "verify the repository's integrity",
    "stats": "sizes, blob count and dedup ratio",
    "remote": "add, list or remove remotes",
    "push": "send a branch to a remote",
    "fetch": "bring a remote's branches",
    "pull": "fetch, then fast-forward or merge the current branch",
    "clone": "make a repository from a remote",
    "key": "export the repository key",
}

COMMANDS = list(SUMMARIES)
