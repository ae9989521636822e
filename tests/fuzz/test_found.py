"""Every input the fuzzer found that escaped, hung or allocated too much, pinned so it stays fixed."""

from __future__ import annotations

import json
import shutil
import struct
import time
from pathlib import Path
from typing import Any

import pytest

from engine.convert.hf import open_hf_source
from engine.errors import CorruptInputError, QuantpickError, plain_text
from engine.formats.safetensors import read_safetensors
from engine.formats.summary import summarize
from engine.quant.imatrix import read_imatrix
from tests.fuzz.harness import message_problem
from tests.fuzz.targets import BPE, SPM


def safetensors_file(path: Path, header: dict[str, Any], data_len: int) -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(data_len))
    return path


def checked_error(call: Any) -> QuantpickError:
    """The QuantpickError ``call`` raises, which must also be a clear message, within a second."""
    started = time.monotonic()
    with pytest.raises(QuantpickError) as info:
        call()
    assert time.monotonic() - started < 1.0
    assert message_problem(info.value) is None, str(info.value)[:300]
    return info.value


def test_safetensors_dtype_that_is_a_list(tmp_path: Path) -> None:
    """Was TypeError: unhashable type: 'list' (the dtype was looked up in a dict)."""
    path = safetensors_file(tmp_path / "m.safetensors", {"t": {"dtype": ["F32"], "shape": [1],
                                                                "data_offsets": [0, 4]}}, 4)
    assert isinstance(checked_error(lambda: read_safetensors(path)), CorruptInputError)


def test_megabyte_values_in_messages_are_shortened(tmp_path: Path) -> None:
    """Was a 1,048,797-character message quoting a 1 MB shape string from the header."""
    path = safetensors_file(tmp_path / "m.safetensors", {"t": {"dtype": "F32", "shape": "x" * (1 << 20),
                                                                "data_offsets": [0, 4]}}, 4)
    error = checked_error(lambda: read_safetensors(path))
    assert len(str(error)) < 1000 and "more" in error.message


def test_imatrix_entry_name_with_a_newline(tmp_path: Path) -> None:
    """Was a two-line message: a legacy imatrix entry name ending in a newline was quoted as is."""
    name = b"blk.0.attn_v.weight\n"
    path = tmp_path / "imatrix.dat"
    path.write_bytes(struct.pack("<ii", 1, len(name)) + name + struct.pack("<ii", 1, 1 << 28))
    error = checked_error(lambda: read_imatrix(path))
    assert "\\n" in error.message


def test_plain_text_keeps_short_messages_unchanged() -> None:
    text = "tensor blk.0.attn_q.weight has shape [4096, 4096]; é is fine."
    assert plain_text(text) == text


def _spm_folder(tmp_path: Path, **config: Any) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(SPM, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(config)
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


@pytest.mark.parametrize("config", [
    {"num_hidden_layers": 2**31},  # was a hang: a tensor-name map built for 2**31 layers
    {"vocab_size": 10**30},  # was a MemoryError: a padded vocabulary of 10**30 tokens
    {"vocab_size": 2**40},
    {"hidden_size": "256"},  # were TypeErrors in hparams, params and tensors
    {"num_attention_heads": {"a": 1}},
    {"num_key_value_heads": [2]},
    {"num_attention_heads": 0},  # would divide by zero
    {"max_position_embeddings": 1.5},
    {"hidden_size": None},  # was TypeError: None // int
])
def test_hostile_config_numbers_end_in_a_clear_error(tmp_path: Path, config: dict[str, Any]) -> None:
    folder = _spm_folder(tmp_path, **config)
    error = checked_error(lambda: open_hf_source(folder, outtype=None))
    assert isinstance(error, CorruptInputError) and list(config)[0] in error.message


@pytest.mark.parametrize("body", [b"1.5", b"\"text\"", b"[]", b"{\"model\": 3}", b"{\"model\": {\"type\": [\"BPE\"]}}"])
def test_tokenizer_json_of_the_wrong_shape(tmp_path: Path, body: bytes) -> None:
    """Were AttributeError (tokenizer.json not an object) and TypeError (model.type a list)."""
    folder = tmp_path / "model"
    shutil.copytree(BPE, folder)
    (folder / "tokenizer.json").write_bytes(body)
    summary = summarize(folder)  # the drop path only needs to know the kind: unknown here
    assert summary.tokenizer is None
    checked_error(lambda: open_hf_source(folder, outtype=None))
