"""One module per `got` command, each with `add_parser(subparsers)` and `run(args) -> int`.

COMMANDS lists them in the order `got --help` shows them.
"""

COMMANDS = [
    "init", "status", "commit", "log", "diff", "checkout", "switch", "branch", "tag", "merge",
    "show", "cat", "ls", "mount", "umount", "gc", "fsck", "stats",
    "remote", "push", "fetch", "pull", "clone", "key",
]
