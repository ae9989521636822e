"""The entry point: version, help, GUI hand-over, and one-line errors with exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main as cli_main
from engine.cli.main import main
from engine.errors import CorruptInputError
from engine.version import __version__

ROOT = Path(__file__).resolve().parents[4]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"quantpick {__version__}"


def test_help_lists_inspect(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "inspect" in capsys.readouterr().out


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def _failing_inspect(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def fail(path: Path) -> None:
        raise exc
    monkeypatch.setattr("engine.cli.cmd_inspect.summarize", fail)


def test_quantpick_error_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _failing_inspect(monkeypatch, CorruptInputError("x.gguf is damaged.", "Download it again."))
    assert main(["inspect", "x.gguf"]) == 2
    err = capsys.readouterr().err
    assert err == "quantpick: x.gguf is damaged. Download it again.\n"


@pytest.mark.parametrize("argv", [["--debug", "inspect", "x"], ["inspect", "x", "--debug"]])
def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                   argv: list[str]) -> None:
    _failing_inspect(monkeypatch, CorruptInputError("x is damaged."))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith("quantpick: x is damaged. The file may be truncated or "
                                                       "damaged; download it again and retry.")


def test_unexpected_error_is_one_line_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _failing_inspect(monkeypatch, ZeroDivisionError("division by zero"))
    assert main(["inspect", "x"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "ZeroDivisionError" in err and "Traceback" not in err


def test_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    _failing_inspect(monkeypatch, KeyboardInterrupt())
    assert main(["inspect", "x"]) == 130


def test_commands_are_registered_from_modules() -> None:
    assert "engine.cli.cmd_inspect" in cli_main.COMMAND_MODULES
    sub = next(a for a in cli_main.build_parser()._actions if a.dest == "command")
    assert "inspect" in sub.choices  # type: ignore[attr-defined]


def test_a_named_command_registers_only_its_module() -> None:
    sub = next(a for a in cli_main.build_parser("convert")._actions if a.dest == "command")
    assert list(sub.choices) == ["convert"]  # type: ignore[attr-defined]
    everything = next(a for a in cli_main.build_parser("no-such-command")._actions if a.dest == "command")
    assert len(everything.choices) == len(cli_main.COMMAND_MODULES)  # type: ignore[attr-defined]


def test_convert_starts_without_the_hub_client() -> None:
    code = ("import contextlib, io, sys\nfrom engine.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['convert', '--help'])\n"
            "print('engine.hub' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_module_entry_point_runs_headless() -> None:
    result = subprocess.run([sys.executable, "-m", "engine.cli", "--version"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"quantpick {__version__}"


def test_no_command_without_a_gui_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "inspect" in capsys.readouterr().err
