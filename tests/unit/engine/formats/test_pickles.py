"""A malicious pickle is recognised and refused; its payload never runs."""

from __future__ import annotations

import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from engine.errors import PickledCheckpointError
from engine.formats.pickles import looks_pickled
from engine.formats.summary import summarize

ROOT = Path(__file__).resolve().parents[4]


class Payload:
    """Unpickling this calls ``exec``, which writes the marker file: the attack a checkpoint can carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def malicious_bytes(marker: Path) -> bytes:
    return pickle.dumps({"model.embed_tokens.weight": Payload(marker)}, protocol=4)


def test_the_payload_really_would_run(tmp_path: Path) -> None:
    """Control: loading the bytes does create the marker, so its absence below means something."""
    marker = tmp_path / "control"
    code = f"import pickle,sys; pickle.loads(open({str(tmp_path / 'p.bin')!r},'rb').read())"
    (tmp_path / "p.bin").write_bytes(malicious_bytes(marker))
    subprocess.run([sys.executable, "-c", code], check=True)
    assert marker.read_text() == "pwned"


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "weights.pth", "last.ckpt", "x.bin"])
def test_inspecting_a_malicious_pickle_never_runs_it(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / name
    path.write_bytes(malicious_bytes(marker))
    with pytest.raises(PickledCheckpointError) as info:
        summarize(path)
    assert not marker.exists()
    assert f"{name} is a pickled PyTorch checkpoint" in str(info.value)
    assert "safetensors" in info.value.hint


def test_torch_zip_checkpoint_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.bin"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", malicious_bytes(marker))
    with pytest.raises(PickledCheckpointError):
        summarize(path)
    assert not marker.exists()


def test_folder_with_only_pickles_via_cli_never_runs_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    (folder / "pytorch_model.bin").write_bytes(malicious_bytes(marker))
    result = subprocess.run([sys.executable, "-m", "engine.cli", "inspect", str(folder)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert "pickled PyTorch checkpoint" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not marker.exists()


@pytest.mark.parametrize("name,head,expected", [
    ("pytorch_model.bin", b"anything", True),
    ("weights.bin", b"PK\x03\x04....", True),
    ("weights.bin", b"\x80\x02}q\x00", True),
    ("weights.bin", b"lmggxxxx", False),
    ("model.safetensors", b"\x80\x04", False),
    ("notes.txt", b"PK\x03\x04", False),
])
def test_looks_pickled(name: str, head: bytes, expected: bool) -> None:
    assert looks_pickled(name, head) is expected
