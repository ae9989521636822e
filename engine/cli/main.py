"""The ``quantpick`` entry point: no arguments opens the desktop app, a command runs headless.

Errors Quantpick raises on purpose (QuantpickError) become one line on stderr and exit status 2; anything
else is a bug and also gets one line (exit status 1). ``--debug`` adds the traceback in both cases.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Callable, Sequence

from engine.errors import QuantpickError
from engine.version import __version__

# Each module has ``register(subparsers)``; add a command by adding its module here.
COMMAND_MODULES: tuple[str, ...] = (
    "engine.cli.cmd_inspect",
    "engine.cli.cmd_convert",
    "engine.cli.cmd_search",
    "engine.cli.cmd_download",
    "engine.cli.cmd_hardware",
    "engine.cli.cmd_recommend",
)
_MODULE_PREFIX = "engine.cli.cmd_"
EXIT_ERROR = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every command module registered, or only ``command``'s when it names one.

    Registering one command imports only its module: ``convert`` then starts without loading the hub
    client or the recommender (about half a second of imports). The full list serves help and usage errors.
    """
    parser = argparse.ArgumentParser(
        prog="quantpick",
        description="Find the quantization of a model that fits your machine, and write that GGUF. "
        "Run without arguments to open the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"quantpick {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback when something fails")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    only = _MODULE_PREFIX + command if command is not None else None
    for name in COMMAND_MODULES if only not in COMMAND_MODULES else (only,):
        importlib.import_module(name).register(subparsers)
    return parser


def _command_named(args: Sequence[str]) -> str | None:
    """The command word of ``args`` (the first one not starting with a dash), or None."""
    return next((a for a in args if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None, *, gui: Callable[[], int] | None = None) -> int:
    """Run ``quantpick`` with ``argv`` (default: the process arguments) and return the exit status.

    ``gui`` opens the desktop app when no command is given; the app's launcher passes it in, so the
    engine never imports the app. Without it, no command prints the help and exits 2.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_named(args_list))
    try:
        args = parser.parse_args(args_list)
    except SystemExit as e:  # --help, --version, or a usage error argparse already explained
        return e.code if isinstance(e.code, int) else EXIT_ERROR
    if args.command is None:
        if gui is None:
            parser.print_help(sys.stderr)
            return EXIT_ERROR
        return _guarded(gui, debug=args.debug)
    return _guarded(lambda: int(args.func(args)), debug=args.debug)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _guarded(action: Callable[[], int], *, debug: bool) -> int:
    try:
        return action()
    except QuantpickError as e:
        if debug:
            traceback.print_exc()
        print(f"quantpick: {_one_line(str(e))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("quantpick: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 - the last line of defence: a bug, reported in one line
        if debug:
            traceback.print_exc()
        print(
            f"quantpick: unexpected internal error ({type(e).__name__}: {_one_line(str(e))}). "
            "Run again with --debug and report the details.",
            file=sys.stderr,
        )
        return EXIT_BUG
