"""A malicious pickle's payload never runs: not when it is dropped on the app, inspected, or converted.

Every path runs in a fresh interpreter with an audit hook installed first: CPython raises the
``pickle.find_class`` audit event whenever an unpickler resolves a global (which every code-running
payload must do), so "no such event, and no marker file" proves nothing was unpickled, whichever
module might have tried. A control run proves the hook and the payload do fire when unpickled.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.fuzz.targets import SPM

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent("""
    import json, sys
    events = []
    sys.addaudithook(lambda event, args: events.append(str(args)) if event == "pickle.find_class" else None)
    from pathlib import Path
    from app.jobs.inspect import inspect_path
    from engine.cli.main import main
    from engine.convert.open_source import open_source
    from engine.errors import QuantpickError
    from engine.formats.detect import detect
    from engine.formats.summary import summarize
    from engine.quant.ftypes import parse_file_type
    from engine.quant.imatrix import read_imatrix
    mode, out_dir, targets = sys.argv[1], Path(sys.argv[2]), [Path(a) for a in sys.argv[3:]]
    def attempt(outcomes, label, call):
        try:
            value = call()
            outcomes[label] = f"exit {value}" if label in ("inspect", "convert") else "ok"
        except QuantpickError as e:
            outcomes[label] = type(e).__name__
        except Exception as e:
            outcomes[label] = "ESCAPED " + type(e).__name__ + ": " + str(e)
    report = {}
    for target in targets:
        events.clear()
        outcomes = {}
        out = out_dir / (target.name + ".out.gguf")
        if mode == "control":
            import pickle
            attempt(outcomes, "unpickle", lambda: pickle.loads(target.read_bytes()))
        else:
            attempt(outcomes, "drop", lambda: detect(target))  # the app's drop area classifies first
            item = inspect_path(target)  # what the app's drop area runs (it never raises)
            outcomes["app-drop"] = "convertible" if item.convertible else "refused"
            attempt(outcomes, "summary", lambda: summarize(target))  # then shows the model card
            attempt(outcomes, "open", lambda: open_source(target, parse_file_type("Q8_0")).close())
            attempt(outcomes, "inspect", lambda: main(["inspect", str(target)]))
            attempt(outcomes, "convert", lambda: main(["convert", str(target), "-t", "Q8_0", "-o", str(out)]))
            attempt(outcomes, "imatrix", lambda: read_imatrix(target) if target.is_file() else None)
        report[target.name] = {"events": list(events), "outcomes": outcomes, "wrote": out.exists()}
    print(json.dumps(report))
""")


class Payload:
    """Unpickling this calls ``exec``, which writes the marker: the attack a checkpoint can carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def evil(marker: Path, protocol: int = 4) -> bytes:
    return pickle.dumps({"model.embed_tokens.weight": Payload(marker)}, protocol=protocol)


def probe(mode: str, out_dir: Path, *targets: Path) -> dict[str, dict[str, object]]:
    """Run every path on ``targets`` in one fresh interpreter; per target: audit events, outcomes, output."""
    result = subprocess.run([sys.executable, "-c", PROBE, mode, str(out_dir), *map(str, targets)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_control_the_payload_and_the_hook_both_fire(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "p.bin").write_bytes(evil(marker))
    seen = probe("control", tmp_path, tmp_path / "p.bin")["p.bin"]
    assert marker.read_text() == "pwned" and seen["events"]


def _zip(marker: Path) -> bytes:
    path = marker.parent / "tmp.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", evil(marker))
        zf.writestr("archive/version", "3\n")
    return path.read_bytes()


FILES = {
    "pytorch_model.bin": lambda m: evil(m, 2),
    "model.pt": evil,
    "weights.pth": evil,
    "last.ckpt": evil,
    "state.pkl": evil,
    "consolidated.bin": _zip,  # torch.save's zip container
    "model.safetensors": evil,  # a pickle in disguise
    "model.gguf": evil,
    "imatrix.dat": evil,
}


@pytest.fixture(scope="module")
def dropped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, object]]]:
    """Every malicious file (each with its own marker), put through every path in one interpreter."""
    folder = tmp_path_factory.mktemp("dropped")
    for name, make in FILES.items():
        (folder / name).write_bytes(make(folder / f"{name}.pwned"))
    return folder, probe("attack", folder, *(folder / name for name in FILES))


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_dropped_malicious_file_never_runs(dropped: tuple[Path, dict[str, dict[str, object]]], name: str) -> None:
    folder, report = dropped
    seen = report[name]
    assert not (folder / f"{name}.pwned").exists() and seen["events"] == []
    outcomes = seen["outcomes"]
    assert isinstance(outcomes, dict)
    assert not any(str(v).startswith("ESCAPED") for v in outcomes.values()), outcomes
    assert outcomes["summary"] != "ok" and outcomes["open"] != "ok" and outcomes["imatrix"] != "ok", outcomes
    assert outcomes["inspect"] == outcomes["convert"] == "exit 2", outcomes
    assert outcomes["app-drop"] == "refused"
    if Path(name).suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl"):
        assert outcomes["drop"] == outcomes["summary"] == "PickledCheckpointError", outcomes
    assert seen["wrote"] is False


def test_model_folders_with_pickled_weights_never_run_them(tmp_path: Path) -> None:
    """Only pickles: refused. Pickles beside safetensors: the safetensors are used, the pickles ignored."""
    folders = {}
    for with_safetensors in (False, True):
        folder = tmp_path / f"model-{with_safetensors}"
        shutil.copytree(SPM, folder)
        if not with_safetensors:
            (folder / "model.safetensors").unlink()
        (folder / "pytorch_model.bin").write_bytes(evil(tmp_path / "pwned"))
        (folder / "training_args.bin").write_bytes(evil(tmp_path / "pwned"))
        folders[folder.name] = with_safetensors
    report = probe("attack", tmp_path, *(tmp_path / name for name in folders))
    assert not (tmp_path / "pwned").exists()
    for name, with_safetensors in folders.items():
        seen = report[name]
        outcomes = seen["outcomes"]
        assert isinstance(outcomes, dict) and seen["events"] == []
        expected = "ok" if with_safetensors else "PickledCheckpointError"
        assert outcomes["drop"] == "ok" and outcomes["summary"] == expected and outcomes["open"] == expected
        assert outcomes["app-drop"] == ("convertible" if with_safetensors else "refused")
        assert outcomes["convert"] == ("exit 0" if with_safetensors else "exit 2"), outcomes
        assert seen["wrote"] is with_safetensors
