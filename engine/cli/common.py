"""What every command shares: how it is registered, and how numbers are shown to people."""

from __future__ import annotations

import argparse
from typing import Any


def _debug_parent() -> argparse.ArgumentParser:
    # SUPPRESS keeps a subcommand from resetting a --debug given before the command name.
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback when something fails")
    return parent


def add_command(subparsers: Any, name: str, *, help: str, description: str) -> argparse.ArgumentParser:
    """Add a subcommand that also accepts --debug; the caller adds arguments and ``set_defaults(func=...)``.

    ``func(args) -> int`` returns the exit status; it may raise any QuantpickError, which ``main`` turns
    into one line on stderr and exit status 2.
    """
    return subparsers.add_parser(name, help=help, description=description, parents=[_debug_parent()])


def _three_figures(value: float, unit: str) -> str:
    digits = 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:.{digits}f} {unit}"


def human_bytes(n: int) -> str:
    """1,536 -> '1.50 KiB': binary units, three significant figures."""
    units = ("KiB", "MiB", "GiB", "TiB", "PiB")
    value, i = float(n), -1
    while value >= 1024 and i < len(units) - 1:
        value /= 1024
        i += 1
    return f"{n:,} bytes" if i < 0 else _three_figures(value, units[i])


def human_count(n: int) -> str:
    """7_241_732_096 -> '7.24 B': decimal units, as model sizes are usually quoted."""
    for scale, unit in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if n >= scale:
            return _three_figures(n / scale, unit)
    return str(n)
