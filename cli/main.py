"""`got`: the dispatcher and the one place errors become exit codes.

Every command module parses, calls the library, formats. Failures surface here:

- GotError          one line `got: <message>` on stderr, exit with the error's exit_code
- OSError           one line naming the file and the system's reason, exit 1
- KeyboardInterrupt exit 130
- anything else     one line `got: internal error: ...`, exit 70 (a traceback with GOT_DEBUG=1)
- bad usage         argparse's message, exit 2
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from cli.commands import COMMANDS
from gotkv.errors import GotError

EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
PATH_COMMANDS = {"log", "diff", "checkout"}  # take `-- PATH...` after their own arguments


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (`only`) the global options and that one command's: importing
    every command module costs ~0.2 s here, a third of a quick command's time (`got commit`
    right after a copy into a mount is on the clock of every write benchmark)."""
    parser = argparse.ArgumentParser(
        prog="got", description="got: an immutable, versioned filesystem (git-like commands).")
    parser.add_argument("-C", dest="chdir", metavar="DIR", action="append", default=[],
                        help="run as if got was started in DIR")
    parser.add_argument("--version", action="version", version="got 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS if only is None else [only]:
        module = importlib.import_module(f"cli.commands.{name}")
        p = module.add_parser(sub)
        p.set_defaults(run=module.run)
    return parser


def _command_at(argv: list[str]) -> int:
    """Where the command's name is in argv (past the global options), or len(argv)."""
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        i += 2 if argv[i] == "-C" else 1
    return i


def command_named(argv: list[str]) -> str | None:
    """The command argv runs, if it names one (else the full parser explains the error)."""
    i = _command_at(argv)
    return argv[i] if i < len(argv) and argv[i] in COMMANDS else None


def split_pathspec(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """Cut `-- PATH...` off a path-taking command's arguments (argparse cannot place it)."""
    i = _command_at(argv)
    if i < len(argv) and argv[i] in PATH_COMMANDS and "--" in argv[i + 1:]:
        cut = argv.index("--", i + 1)
        return argv[:cut], argv[cut + 1:]
    return argv, None


def _say(message: str) -> None:
    """One line on stderr, whatever the message holds."""
    line = " ".join(str(message).split("\n")).strip()
    try:
        print(f"got: {line}", file=sys.stderr)
    except (BrokenPipeError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_named(argv))
    argv, pathspec = split_pathspec(argv)
    args = parser.parse_args(argv)
    args.pathspec = pathspec
    debug = os.environ.get("GOT_DEBUG") == "1"
    try:
        for d in args.chdir:
            try:
                os.chdir(d)
            except OSError as e:
                raise GotError(f"cannot change to directory {d}: {e.strerror}") from None
        return args.run(args) or 0
    except GotError as e:
        if debug:
            traceback.print_exc()
        _say(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`got log | head`): stop quietly, as git does.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 141
    except OSError as e:
        if debug:
            traceback.print_exc()
        where = f": {e.filename}" if e.filename else ""
        _say(f"{e.strerror or e}{where}")
        return 1
    except Exception as e:  # noqa: BLE001 - the last line of defence
        if debug:
            traceback.print_exc()
        _say(f"internal error: {type(e).__name__}: {e} (run with GOT_DEBUG=1 for a traceback)")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
