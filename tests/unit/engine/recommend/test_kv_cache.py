"""KV cache sizes, computed by hand for a tiny model."""

from __future__ import annotations

import pytest

from engine.errors import UsageError
from engine.formats.ggml_types import GGMLType
from engine.recommend.kv_cache import ContextParams, kv_layout, kv_type
from tests.unit.engine.recommend.helpers import tiny


def test_context_is_padded_to_256_and_f16_rows_are_two_bytes() -> None:
    kv = kv_layout(tiny(), ContextParams(n_ctx=300))
    assert kv.cells_full == 512
    # one KV head of 32 values, f16: 64 bytes per cell for K and for V
    assert kv.k_bytes == (512 * 64, 512 * 64) and kv.v_bytes == kv.k_bytes
    assert kv.total() == 2 * 2 * 512 * 64


def test_q8_0_rows_are_34_bytes_per_32_values() -> None:
    kv = kv_layout(tiny(), ContextParams(n_ctx=1024, type_k=GGMLType.Q8_0, type_v=GGMLType.Q8_0))
    assert kv.k_bytes[0] == 1024 * 34


def test_sequences_get_their_own_streams() -> None:
    p = ContextParams(n_ctx=1000, n_seq=3)
    # 1000 -> 1024 cells, 1024 // 3 = 341 -> padded to 512 per stream, 3 streams
    assert p.n_ctx_seq == 512 and p.n_ctx_padded == 1536
    assert kv_layout(tiny(), p).k_bytes[0] == 3 * 512 * 64
    unified = ContextParams(n_ctx=1000, n_seq=3, kv_unified=True)
    assert unified.n_ctx_seq == 1024 and unified.n_stream == 1


def test_sliding_window_layers_keep_window_plus_ubatch() -> None:
    desc = tiny(n_layer=6, swa=100, pattern=3)  # layers 2 and 5 attend fully
    assert desc.swa_layers == (True, True, False, True, True, False)
    kv = kv_layout(desc, ContextParams(n_ctx=8192, n_ubatch=512))
    assert kv.cells_full == 8192 and kv.cells_swa == 768  # pad(min(8192, 100 + 512), 256)
    assert kv.k_bytes[0] == 768 * 64 and kv.k_bytes[2] == 8192 * 64
    full = kv_layout(desc, ContextParams(n_ctx=8192, swa_full=True))
    assert full.cells_swa == 8192


def test_alignment_pads_each_tensor() -> None:
    kv = kv_layout(tiny(), ContextParams(n_ctx=256, type_k=GGMLType.Q4_0, type_v=GGMLType.Q4_0))
    assert kv.k_bytes[0] == 256 * 18
    assert kv.layer_bytes(0, alignment=1024) == 2 * 5120


def test_quantized_v_needs_flash_attention() -> None:
    with pytest.raises(UsageError, match="flash attention"):
        ContextParams(type_v=GGMLType.Q8_0, flash_attn=False)
    ContextParams(type_k=GGMLType.Q8_0, flash_attn=False)  # a quantized K alone is fine


def test_kv_type_names() -> None:
    assert kv_type("Q8_0") is GGMLType.Q8_0
    with pytest.raises(UsageError, match="not a KV cache type"):
        kv_type("q3_k")


def test_llama_server_defaults() -> None:
    auto = ContextParams.llama_server(n_ctx=8192)
    assert (auto.n_seq, auto.kv_unified, auto.n_stream, auto.n_ctx_seq, auto.n_outputs_pp) == (4, True, 1, 8192, 4)
    explicit = ContextParams.llama_server(n_parallel=2, n_ctx=8192)
    assert (explicit.n_stream, explicit.n_ctx_seq, explicit.n_outputs_pp) == (2, 4096, 2)
    assert ContextParams(n_ctx=8192).n_outputs_pp == 512  # llama-cli / llama-fit-params: the whole ubatch
