"""`got`: the dispatcher and the one place errors become exit codes.

Every command module parses, calls the library, formats. Failures surface here:

- GotError          one line `got: <message>` on stderr, exit with the error's exit_code
                    (1 an expected failure, 2 a malformed argument)
- OSError           one line naming the file and the system's reason, exit 1
- KeyboardInterrupt exit 130; a reader that went away (`got log | head`) exit 141, quietly
- anything else     one line `got: internal error: ...`, exit 70 (a traceback with GOT_DEBUG=1)
- bad usage         the command's own usage and the problem on stderr, exit 2

Start-up costs only what the command uses: the global options are read by hand, `got
--version` and `got help` import neither argparse nor any command module (cli.commands lists
their summaries), and a command imports its own module alone. docs/cli.md documents the exit
codes, the JSON shapes and the quoting of names.
"""

from __future__ import annotations

import os
import sys

from cli.commands import COMMANDS, SUMMARIES

VERSION = "got 0.1.0"
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141
PATH_COMMANDS = {"log", "diff", "checkout"}  # take `-- PATH...` after their own arguments
PAGED_COMMANDS = {"log", "diff", "show"}  # long output goes through a pager on a terminal
# Commands whose stdout reports what they did: -q silences that report (not --json, not errors).
QUIET_COMMANDS = {"init", "commit", "checkout", "switch", "branch", "tag", "merge", "remote", "push",
                  "fetch", "pull", "clone", "gc", "fsck", "mount", "umount", "diff"}
VERBOSE_COMMANDS = {"commit"}  # -v lists what the command changed
USAGE = "usage: got [-C DIR] [--no-pager] [--version] [-h] COMMAND [ARGS...]"
EXIT_CODES = ("exit status: 0 ok; 1 an expected failure (a conflict, a moved branch, a name that "
              "exists, uncommitted changes in the way, differences with diff --exit-code); 2 a usage "
              "error; 70 an internal error; 130 interrupted")


class UsageError(Exception):
    """The global options or the command's name are wrong (exit 2, with the usage)."""


def top_help() -> str:
    """`got help`: the usage, every command with its summary, the global options."""
    width = max(map(len, COMMANDS))
    lines = [USAGE, "", "got: an immutable, versioned filesystem (git-like commands).", "", "commands:"]
    lines += [f"  {name:<{width}}  {SUMMARIES[name]}" for name in COMMANDS]
    lines += ["", "options:",
              "  -C DIR        run as if got was started in DIR",
              "  --no-pager    never send output through a pager ($GOT_PAGER, $PAGER, `less -FRX`)",
              "  --version     print the version",
              "  -h, --help    this help",
              "", "`got help COMMAND` or `got COMMAND --help` shows a command's own options.",
              EXIT_CODES + ".", "Colour only on a terminal, never with NO_COLOR set."]
    return "\n".join(lines)


def parse_globals(argv: list[str]) -> tuple[list[str], bool, int]:
    """(directories of -C, whether a pager may be used, the index of the command's word)."""
    chdirs: list[str] = []
    pager = True
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "-C":
            if i + 1 == len(argv):
                raise UsageError("option -C needs a directory")
            chdirs.append(argv[i + 1])
            i += 2
            continue
        if arg.startswith("-C"):
            chdirs.append(arg[2:])
        elif arg == "--no-pager":
            pager = False
        elif arg in ("--version", "-h", "--help") or not arg.startswith("-"):
            break
        else:
            raise UsageError(f"unknown option {arg}")
        i += 1
    return chdirs, pager, i


def did_you_mean(word: str) -> str:
    """'unknown command' with the commands spelled closest to `word`, as git suggests."""
    import difflib

    close = difflib.get_close_matches(word, COMMANDS, n=3, cutoff=0.6)
    hint = ""
    if close:
        hint = "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    return f"'{word}' is not a got command{hint} (see `got help`)"


def command_parser(name: str):
    """(the parser of command `name`, its run function): its module is the only one imported.

    The parser stands alone (prog `got NAME`), so a bad option prints that command's usage.
    It is made directly, not as a subparser of a `got` parser: that holder and its
    subparsers action format a usage to find their prog, and a path-taking command's usage
    (with ` [-- PATH...]`) is formatted only when shown; both cost about a millisecond of
    every run."""
    import argparse
    import importlib

    class Formatter(argparse.HelpFormatter):
        """argparse's, told the width: its own way of finding it imports shutil."""

        def __init__(self, prog: str, **kw) -> None:
            kw.setdefault("width", _columns() - 2)
            super().__init__(prog, **kw)

    class Parser(argparse.ArgumentParser):
        takes_paths = False  # usage ends with ` [-- PATH...]` (argparse cannot place it)

        def __init__(self, *a, **kw) -> None:
            kw.setdefault("formatter_class", Formatter)
            super().__init__(*a, **kw)

        def _path_usage(self) -> None:
            if self.takes_paths and self.usage is None:
                self.usage = super().format_usage().removeprefix("usage: ").rstrip("\n") + " [-- PATH...]"

        def format_usage(self) -> str:
            self._path_usage()
            return super().format_usage()

        def format_help(self) -> str:
            self._path_usage()
            return super().format_help()

    class Commands:
        """What a command module's add_parser(sub) is given: sub.add_parser(NAME, help=...)
        makes the command's own parser (its one-line help lives in cli.commands.SUMMARIES)."""

        @staticmethod
        def add_parser(command: str, *, help: str | None = None, **kw) -> argparse.ArgumentParser:  # noqa: A002
            return Parser(prog=f"got {command}", **kw)

    module = importlib.import_module(f"cli.commands.{name}")
    parser = module.add_parser(Commands())
    options = parser._option_string_actions
    if name in QUIET_COMMANDS and "-q" not in options:
        parser.add_argument("-q", "--quiet", action="store_true",
                            help="print nothing on stdout but what --json asks for" if name != "diff"
                            else "print nothing; exit 1 if there are differences, 0 if none")
    if name in VERBOSE_COMMANDS and "-v" not in options:
        parser.add_argument("-v", "--verbose", action="store_true", help="also list the paths changed")
    parser.takes_paths = name in PATH_COMMANDS
    return parser, module.run


def _columns() -> int:
    """The width for help text, as argparse finds it: $COLUMNS, else the terminal's, else 80."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 80


def split_pathspec(name: str, argv: list[str]) -> tuple[list[str], list[str] | None]:
    """Cut `-- PATH...` off a path-taking command's arguments (argparse cannot place it)."""
    if name in PATH_COMMANDS and "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1:]
    return argv, None


def _say(message: str) -> None:
    """One line on stderr, whatever the message holds."""
    line = " ".join(str(message).split("\n")).strip()
    try:
        print(f"got: {line}", file=sys.stderr)
    except (BrokenPipeError, ValueError):
        pass


def _usage_error(message: str) -> int:
    print(USAGE, file=sys.stderr)
    _say(message)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        chdirs, pager, i = parse_globals(argv)
    except UsageError as e:
        return _usage_error(str(e))
    word = argv[i] if i < len(argv) else None
    if word == "--version":
        print(VERSION)
        return 0
    if word in ("-h", "--help") or (word == "help" and i + 1 == len(argv)):
        print(top_help())
        return 0
    if word is None:
        print(top_help(), file=sys.stderr)
        return EXIT_USAGE
    rest = argv[i + 1:]
    if word == "help":  # `got help log` is `got log --help`
        word, rest = rest[0], ["--help"]
    if word not in SUMMARIES:
        return _usage_error(did_you_mean(word))
    parser, run = command_parser(word)
    rest, pathspec = split_pathspec(word, rest)
    args = parser.parse_args(rest)
    args.pathspec = pathspec
    return execute(word, run, args, chdirs, pager)


def execute(name: str, run, args, chdirs: list[str], pager: bool) -> int:
    """Run a parsed command; every failure becomes one line on stderr and an exit code."""
    from cli import output

    debug = os.environ.get("GOT_DEBUG") == "1"
    output.configure(quiet=getattr(args, "quiet", False), json_output=getattr(args, "json", False))
    paging = None
    try:
        for d in chdirs:
            try:
                os.chdir(d)
            except OSError as e:
                from gotkv.errors import GotError
                raise GotError(f"cannot change to directory {d}: {e.strerror}") from None
        if (pager and name in PAGED_COMMANDS and not getattr(args, "json", False) and not output.is_quiet()
                and sys.stdout.isatty()):
            from cli.pager import start_pager
            paging = start_pager()
        return run(args) or 0
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`got log | head`): stop quietly, as git does.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return EXIT_PIPE
    except Exception as e:  # noqa: BLE001 - the last line of defence
        from gotkv.errors import GotError

        if debug:
            import traceback
            traceback.print_exc()
        if isinstance(e, GotError):
            _say(str(e))
            return e.exit_code
        if isinstance(e, OSError):
            where = f": {e.filename}" if e.filename else ""
            _say(f"{e.strerror or e}{where}")
            return EXIT_FAILED
        _say(f"internal error: {type(e).__name__}: {e} (run with GOT_DEBUG=1 for a traceback)")
        return EXIT_INTERNAL
    finally:
        if paging is not None:
            paging()


if __name__ == "__main__":
    sys.exit(main())
