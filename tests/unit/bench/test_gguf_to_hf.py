"""bench.gguf_to_hf: a rebuilt folder converts back to the very same GGUF, and what cannot be rebuilt is refused."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFValueType

from bench.gguf_to_hf import (
    encode,
    hf_config,
    hf_name,
    main,
    rebuild_hf_folder,
    unpermute_rows,
    write_safetensors,
)
from engine.cli.main import main as quantpick
from engine.errors import UnsupportedArchitectureError, UnsupportedInputError, UsageError
from engine.formats.gguf_read import read_gguf
from engine.formats.gguf_write import MetaValue
from engine.formats.safetensors import read_safetensors
from tests.conftest import GOLDEN
from tests.unit.engine.convert.hf.arch_cases import ARCHS_DIR, BY_NAME

TINY = GOLDEN / "convert"
BPE_GGUF = TINY / "tiny-llama-bpe-BF16.gguf"


def _source(name: str, tmp: Path) -> Path:
    """A complete Hugging Face folder: a golden tiny llama or an architecture case with its tokenizer."""
    if name.startswith("hf-"):
        return Path(shutil.copytree(TINY / name, tmp / "src" / name))
    return BY_NAME[name].folder(tmp / "src")


def _convert(folder: Path, ftype: str, out: Path) -> Path:
    assert quantpick(["convert", str(folder), "-t", ftype, "-o", str(out), "--threads", "1"]) == 0
    return out


@pytest.mark.parametrize(("name", "ftype"), [
    ("hf-tiny-llama-spm", "BF16"), ("hf-tiny-llama-bpe", "BF16"), ("mistral", "BF16"), ("mistral-f32", "F32"),
    ("qwen2", "BF16"), ("qwen3", "BF16"), ("llama-spm-json", "BF16"),
])
def test_round_trip_gives_identical_bytes(name: str, ftype: str, tmp_path: Path) -> None:
    """HF -> our GGUF -> rebuilt HF -> our GGUF: the same file, byte for byte (names come from the folder)."""
    source = _source(name, tmp_path)
    first = _convert(source, ftype, tmp_path / "first.gguf")
    rebuilt = rebuild_hf_folder(first, tmp_path / "rebuilt" / name, tokenizer_from=source, dtype=ftype)
    second = _convert(rebuilt.path, ftype, tmp_path / "second.gguf")
    assert second.read_bytes() == first.read_bytes()


def test_sharded_f16_round_trip_keeps_every_tensor(tmp_path: Path) -> None:
    """Shards change the tensor order and the model card is not rebuilt, but every tensor's bytes survive."""
    source = _source("llama-sharded", tmp_path)
    first = read_gguf(_convert(source, "F16", tmp_path / "first.gguf"))
    rebuilt = rebuild_hf_folder(first.path, tmp_path / "rebuilt" / "llama-sharded", tokenizer_from=source,
                                dtype="F16")
    second = read_gguf(_convert(rebuilt.path, "F16", tmp_path / "second.gguf"))
    assert sorted(t.name for t in second.tensors) == sorted(t.name for t in first.tensors)
    for info in first.tensors:
        assert second.tensor(info.name).qtype == info.qtype
        assert bytes(second.raw(info.name)) == bytes(first.raw(info.name)), info.name


def test_rebuilt_folder_contents(tmp_path: Path) -> None:
    rebuilt = rebuild_hf_folder(BPE_GGUF, tmp_path / "out", tokenizer_from=TINY / "hf-tiny-llama-bpe", dtype="BF16")
    assert rebuilt.arch == "llama" and rebuilt.n_tensors == 20 and rebuilt.dtype == "BF16"
    assert rebuilt.tokenizer_files == ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
    config = json.loads((rebuilt.path / "config.json").read_text())
    original = json.loads((TINY / "hf-tiny-llama-bpe" / "config.json").read_text())
    for key in ("architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "num_key_value_heads", "max_position_embeddings", "rms_norm_eps",
                "rope_theta", "vocab_size", "tie_word_embeddings", "torch_dtype", "bos_token_id", "eos_token_id"):
        assert config[key] == original[key], key
    weights = read_safetensors(rebuilt.path / "model.safetensors")
    assert "lm_head.weight" not in weights
    assert weights.tensor("model.layers.0.self_attn.k_proj.weight").shape == (32, 64)


def test_dequantized_source_matches_our_dequantizer(tmp_path: Path) -> None:
    """A quantized GGUF rebuilds to the values our kernels decode (F32 keeps them exactly)."""
    q8 = _convert(TINY / "hf-tiny-llama-bpe", "Q8_0", tmp_path / "q8.gguf")
    rebuilt = rebuild_hf_folder(q8, tmp_path / "out", tokenizer_from=TINY / "hf-tiny-llama-bpe")
    weights = read_safetensors(rebuilt.path / "model.safetensors")
    original = read_safetensors(TINY / "hf-tiny-llama-bpe" / "model.safetensors")
    for name in ("model.layers.1.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight"):
        ours, theirs = weights.to_float32(name), original.to_float32(name)
        # Q8_0 keeps 8 bits per value: a wrong permutation or name would be off by the weights' own size.
        assert np.abs(ours - theirs).max() <= np.abs(theirs).max() / 100


def _spec_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """quant-spec 6.3 as written: new row h*hd + 2i + s = old row h*hd + s*hd/2 + i."""
    hd = w.shape[0] // n_head
    out = np.empty_like(w)
    for h in range(n_head):
        for i in range(hd // 2):
            for s in range(2):
                out[h * hd + 2 * i + s] = w[h * hd + s * hd // 2 + i]
    return out


@pytest.mark.parametrize(("n_head", "head_dim"), [(1, 2), (2, 8), (3, 64), (4, 16)])
def test_unpermute_inverts_the_converter(n_head: int, head_dim: int) -> None:
    rng = np.random.default_rng(n_head)
    weight = rng.standard_normal((n_head * head_dim, 5)).astype(np.float32)
    bias = weight[:, 0].copy()
    assert np.array_equal(unpermute_rows(_spec_permute(weight, n_head), n_head), weight)
    assert np.array_equal(unpermute_rows(_spec_permute(bias, n_head), n_head), bias)
    if head_dim > 2:
        assert not np.array_equal(unpermute_rows(weight, n_head), weight)


def test_unpermute_rejects_odd_heads() -> None:
    with pytest.raises(UnsupportedInputError, match="heads"):
        unpermute_rows(np.zeros((6, 2), np.float32), 2)


def test_hf_names() -> None:
    assert hf_name("token_embd.weight") == "model.embed_tokens.weight"
    assert hf_name("output.weight") == "lm_head.weight"
    assert hf_name("blk.12.attn_output.weight") == "model.layers.12.self_attn.o_proj.weight"
    assert hf_name("blk.0.attn_q.bias") == "model.layers.0.self_attn.q_proj.bias"
    assert hf_name("blk.3.ffn_norm.weight") == "model.layers.3.post_attention_layernorm.weight"
    for name in ("rope_freqs.weight", "blk.0.attn_qkv.weight", "blk.0.post_ffw_norm.weight", "blk.x.attn_q.weight"):
        with pytest.raises(UnsupportedInputError, match="no Hugging Face counterpart"):
            hf_name(name)


def test_refuses_other_architectures(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedArchitectureError, match="gemma2"):
        rebuild_hf_folder(ARCHS_DIR / "gemma2.gguf", tmp_path / "g", tokenizer_from=TINY / "hf-tiny-llama-spm")
    with pytest.raises(UnsupportedInputError, match="rope_freqs"):  # Llama 3 rope: generated, not rebuildable
        rebuild_hf_folder(ARCHS_DIR / "llama3-rope.gguf", tmp_path / "l", tokenizer_from=TINY / "hf-tiny-llama-bpe")


def _with_key(key: str, meta: MetaValue) -> object:
    gguf_file = read_gguf(BPE_GGUF)
    return dataclasses.replace(gguf_file, fields={**gguf_file.fields, key: meta})


def test_refuses_unknown_or_inconsistent_metadata() -> None:
    with pytest.raises(UnsupportedInputError, match="llama.expert_count"):
        hf_config(_with_key("llama.expert_count", MetaValue(GGUFValueType.UINT32, 8)))
    with pytest.raises(UnsupportedInputError, match="rope.dimension_count"):
        hf_config(_with_key("llama.rope.dimension_count", MetaValue(GGUFValueType.UINT32, 16)))
    with pytest.raises(UnsupportedInputError, match="'longrope'"):
        hf_config(_with_key("llama.rope.scaling.type", MetaValue(GGUFValueType.STRING, "longrope")))


def test_rope_scaling_and_float_formatting() -> None:
    config = hf_config(read_gguf(ARCHS_DIR / "qwen2.gguf"))
    assert config["rope_scaling"] == {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 1024}
    assert config["rms_norm_eps"] == 1e-06 and config["rope_theta"] == 1000000.0
    assert "head_dim" not in config  # qwen2's GGUF has no key_length, so the config must not add one


def test_safetensors_writer_reads_back(tmp_path: Path) -> None:
    values = {"a": np.arange(6, dtype=np.float32).reshape(2, 3) / 3, "b": np.array([1.5, -2.0], np.float32)}
    for dtype in ("F32", "F16", "BF16"):
        path = tmp_path / f"{dtype}.safetensors"
        entries = [(name, v.shape) for name, v in values.items()]
        assert write_safetensors(path, entries, dtype, (encode(v, dtype) for v in values.values())) == 2
        read = read_safetensors(path)
        assert np.allclose(read.to_float32("a"), values["a"], rtol=1 / 128)
        assert np.array_equal(read.to_float32("b"), values["b"])
    with pytest.raises(UsageError, match="bytes given"):
        write_safetensors(tmp_path / "bad.safetensors", [("a", (2,))], "F32", [b"\0" * 4])


def test_bf16_rounds_to_nearest_even() -> None:
    bits = np.frombuffer(encode(np.array([1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8], np.float32), "BF16"), "<u2")
    assert bits.tolist() == [0x3F80, 0x3F82]


def test_refuses_bad_targets(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        rebuild_hf_folder(BPE_GGUF, tmp_path / "full", tokenizer_from=TINY / "hf-tiny-llama-bpe")
    with pytest.raises(UsageError, match="neither tokenizer.json nor tokenizer.model"):
        rebuild_hf_folder(BPE_GGUF, tmp_path / "new", tokenizer_from=tmp_path / "full")
    with pytest.raises(UsageError, match="Unknown dtype"):
        rebuild_hf_folder(BPE_GGUF, tmp_path / "new", tokenizer_from=TINY / "hf-tiny-llama-bpe", dtype="F8")


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main([str(BPE_GGUF), str(out), "--tokenizer-from", str(TINY / "hf-tiny-llama-spm"), "--dtype", "BF16"]) == 0
    assert "20 tensors as BF16" in capsys.readouterr().out
    assert main([str(BPE_GGUF), str(out), "--tokenizer-from", str(TINY / "hf-tiny-llama-spm")]) == 2
    assert "not empty" in capsys.readouterr().err
