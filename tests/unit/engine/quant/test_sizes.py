"""Planned types and byte counts against files llama-quantize wrote (read with the independent gguf reader)."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest
from gguf import GGUFValueType

from engine.errors import UsageError
from engine.formats.ggml_types import GGMLType
from engine.formats.gguf_write import MetaValue, encode_header
from engine.quant.rules import ModelFacts
from engine.quant.sizes import FileSize, TensorChoice, file_size, plan_types, quantized_metadata
from tests.conftest import GOLDEN

T = GGMLType
REQUANT = GOLDEN / "requant"
KERNELS = GOLDEN / "kernels"


def _metadata(reader: gguf.GGUFReader) -> list[tuple[str, MetaValue]]:
    out = []
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        types = [GGUFValueType(t) for t in field.types]
        out.append((key, MetaValue(types[0], field.contents(), types[1] if len(types) > 1 else None)))
    return out


def _tensors(reader: gguf.GGUFReader) -> list[tuple[str, list[int], GGMLType]]:
    return [(t.name, [int(d) for d in t.shape], T(t.tensor_type)) for t in reader.tensors]


def _plan(source: Path, ftype: str, **kw: bool) -> tuple[tuple[TensorChoice, ...], list[tuple[str, MetaValue]]]:
    reader = gguf.GGUFReader(source)
    meta = _metadata(reader)
    facts = ModelFacts.from_gguf_metadata({k: v.value for k, v in meta})
    return plan_types(_tensors(reader), ftype, facts=facts, **kw), meta


def _assert_matches_file(choices: tuple[TensorChoice, ...], metadata: list, path: Path) -> None:
    out = gguf.GGUFReader(path)
    assert [c.name for c in choices] == [t.name for t in out.tensors]
    assert [(c.target, c.nbytes) for c in choices] == [(T(t.tensor_type), int(t.n_bytes)) for t in out.tensors]
    offsets = [int(t.data_offset) - out.data_offset for t in out.tensors]
    running = [sum(c.nbytes + (-c.nbytes % 32) for c in choices[:k]) for k in range(len(choices))]
    assert offsets == running
    size = file_size(choices, metadata)
    assert size.header_bytes == out.data_offset
    assert size.total == path.stat().st_size


def test_requant_q4_k_m_matches_llama_quantize() -> None:
    choices, meta = _plan(REQUANT / "synth-a-f32.gguf", "Q4_K_M")
    out_meta = quantized_metadata(meta, "Q4_K_M")
    _assert_matches_file(choices, out_meta, REQUANT / "synth-a-Q4_K_M.gguf")
    # The whole header, metadata included, is reproduced byte for byte.
    path = REQUANT / "synth-a-Q4_K_M.gguf"
    header = encode_header(out_meta, [c.slot() for c in choices])
    assert header == path.read_bytes()[: len(header)]


def test_requant_metadata_order_and_values() -> None:
    _, meta = _plan(REQUANT / "synth-a-f32.gguf", "Q4_K_M")
    out = _metadata(gguf.GGUFReader(REQUANT / "synth-a-Q4_K_M.gguf"))
    assert [k for k, _ in quantized_metadata(meta, "Q4_K_M")] == [k for k, _ in out]
    assert dict(out)["general.file_type"].value == 15


def test_quantized_metadata_drops_split_keys_and_reappends() -> None:
    u32 = GGUFValueType.UINT32
    meta = [("general.file_type", MetaValue(u32, 1)), ("split.count", MetaValue(GGUFValueType.UINT16, 3)),
            ("general.architecture", MetaValue(GGUFValueType.STRING, "llama")),
            ("general.quantization_version", MetaValue(u32, 2)), ("split.no", MetaValue(GGUFValueType.UINT16, 0))]
    assert quantized_metadata(meta, "Q6_K") == [
        ("general.architecture", MetaValue(GGUFValueType.STRING, "llama")),
        ("general.quantization_version", MetaValue(u32, 2)),
        ("general.file_type", MetaValue(u32, 18)),
    ]


def test_source_file_size_is_reproduced() -> None:
    # Planning "F32" for an all-F32 model keeps every type; the Python-written input file has the same size.
    choices, meta = _plan(REQUANT / "synth-a-f32.gguf", "F32")
    assert all(not c.changes_type for c in choices)
    assert file_size(choices, meta).total == (REQUANT / "synth-a-f32.gguf").stat().st_size


# kernels/<TYPE>.gguf were written with `llama-quantize --pure`; Q3_K/Q4_K/Q5_K were the _M file types.
PURE_TYPES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS",
              "F16", "BF16"]


@pytest.mark.parametrize("qtype", PURE_TYPES)
def test_pure_outputs_match_llama_quantize(qtype: str) -> None:
    choices, meta = _plan(KERNELS / "input-f32.gguf", qtype, pure=True)
    assert {c.target for c in choices} == {T[qtype]}
    _assert_matches_file(choices, quantized_metadata(meta, qtype), KERNELS / f"{qtype}.gguf")


def test_plan_is_in_file_order_with_exact_sizes() -> None:
    tensors = [("blk.1.ffn_down.weight", (864, 320), "F32"), ("blk.0.attn_norm.weight", (320,), "F32"),
               ("output.weight", (320, 500), "BF16"), ("blk.0.ffn_down.weight", (864, 320), "F32")]
    choices = plan_types(tensors, "Q4_K_M", facts=ModelFacts("llama", 2, 5, 1))
    assert [c.name for c in choices] == [
        "output.weight", "blk.0.attn_norm.weight", "blk.0.ffn_down.weight", "blk.1.ffn_down.weight"]
    # output: Q6_K -> Q8_0 (320 % 256). ffn_down of 2 layers: layer 0 Q4_K -> Q5_0, layer 1 Q6_K -> Q8_0.
    assert [(c.target, c.nbytes) for c in choices] == [
        (T.Q8_0, 500 * 10 * 34), (T.F32, 1280), (T.Q5_0, 320 * 27 * 22), (T.Q8_0, 320 * 27 * 34)]
    assert not choices[0].fell_back and choices[2].fell_back
    assert choices[0].source is T.BF16 and choices[0].n_elements == 160000
    assert not choices[1].eligible and not choices[1].changes_type


def test_file_size_accounting() -> None:
    choices = plan_types([("a.weight", (5,), "F32"), ("b.weight", (64, 2), "F32")], 15,
                         facts=ModelFacts("llama", 1, 1, 1))
    size = file_size(choices)
    # a: 1-D, stays F32 (20 bytes); b: Q4_K -> Q5_0 for rows of 64, 2 rows x 2 blocks x 22 bytes.
    assert [c.target for c in choices] == [T.F32, T.Q5_0]
    assert (size.tensor_bytes, size.padding_bytes, size.n_elements) == (20 + 88, 12 + 8, 133)
    # 24-byte fixed header + infos (8+8 name, 4 n_dims, 8 per dim, 4 type, 8 offset) = 112, padded to 32.
    assert size.header_bytes == 128 and size.header_bytes == len(encode_header([], [c.slot() for c in choices]))
    assert size.total == 128 + 108 + 20
    assert size.bits_per_weight == pytest.approx(8 * 108 / 133)
    assert file_size(choices, alignment=64).total == 128 + 64 + 128
    assert FileSize(0, 0, 0, 0).bits_per_weight == 0.0


@pytest.mark.parametrize("alignment", [0, 3, 48])
def test_bad_alignment(alignment: int) -> None:
    with pytest.raises(UsageError, match="power of two"):
        file_size((), alignment=alignment)


def test_plan_rejects_bad_input() -> None:
    facts = ModelFacts("llama", 1, 1, 1)
    with pytest.raises(UsageError, match="twice"):
        plan_types([("a.weight", (32, 2), "F32"), ("a.weight", (32, 2), "F32")], "Q8_0", facts=facts)
    with pytest.raises(UsageError, match="invalid shape"):
        plan_types([("a.weight", (0, 2), "F32")], "Q8_0", facts=facts)
    with pytest.raises(UsageError, match="Did you mean"):
        plan_types([], "Q4_KM", facts=facts)


def test_32_block_type_that_does_not_fit_becomes_f16() -> None:
    """llama-quantize: "ncols 48 not divisible by 32 ... must use F16 due to unusual shape"."""
    (choice,) = plan_types([("a.weight", (48, 2), "F32")], "Q4_0", facts=ModelFacts("llama", 1, 1, 1))
    assert choice.target is T.F16 and choice.fell_back and choice.nbytes == 48 * 2 * 2
