"""Q4_K and Q5_K: llama-quantize's bytes with and without an imatrix, and sane round trips."""

from __future__ import annotations

import hashlib
import types

import numpy as np
import pytest
from gguf import GGUFReader
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import UsageError
from engine.quant import dequantize, kernel_for, quantize
from engine.quant.kernels import kmath_qkx
from tests.conftest import GOLDEN

TYPES = ["Q4_K", "Q5_K"]


def read_tensors(path: str) -> dict[str, np.ndarray]:
    """Tensor arrays by name, read with the gguf package (independent of the code under test)."""
    return {t.name: np.array(t.data) for t in GGUFReader(path).tensors}


def golden_qw() -> dict[str, np.ndarray]:
    """Per-column importance of each golden tensor: f32(in_sum2 / lround(count)), 1.0 where count is 0."""
    raw = read_tensors(str(GOLDEN / "imatrix" / "imatrix.gguf"))
    out = {}
    for key, sums in raw.items():
        if key.endswith(".in_sum2"):
            name = key.removesuffix(".in_sum2")
            count = np.float32(round(float(raw[name + ".counts"].ravel()[0])))
            sums = sums.ravel().astype(np.float32)
            out[name] = sums / count if count else np.ones_like(sums)
    return out


class NumpyProxy(types.ModuleType):
    """numpy under another name: kernels then take the generic (CuPy) code paths, e.g. looped sums."""

    def __init__(self) -> None:
        super().__init__("numpy_proxy")

    def __getattr__(self, name: str) -> object:
        return getattr(np, name)


def assert_golden(type_name: str, *, with_imatrix: bool, xp: types.ModuleType | None = None) -> None:
    """Every byte of every row of every golden tensor equals llama-quantize's."""
    inputs = read_tensors(str(GOLDEN / "kernels" / "input-f32.gguf"))
    folder = "imatrix" if with_imatrix else "kernels"
    reference = read_tensors(str(GOLDEN / folder / f"{type_name}.gguf"))
    qw = golden_qw() if with_imatrix else {}
    for name, x in inputs.items():
        ours = quantize(x.reshape(-1, x.shape[-1]), type_name, imatrix=qw.get(name), name=name, xp=xp)
        ref = reference[name].view(np.uint8).reshape(ours.shape)
        bad = np.flatnonzero((ours != ref).any(axis=1))
        assert bad.size == 0, f"{type_name} {name}: rows {bad[:10]} differ"


def spec_v2() -> np.ndarray:
    """quant-spec section 8's V2 row: 256 values from a 31-bit LCG."""
    s, values = 1, []
    for _ in range(256):
        s = (1103515245 * s + 12345) % 2**31
        values.append((((s >> 8) % 2001) - 1000) / 256)
    return np.array([values], dtype=np.float32)


def spec_v2_qw() -> np.ndarray:
    """The imatrix of quant-spec section 8: qw_j = 1 + (j mod 7)."""
    return (1 + np.arange(256) % 7).astype(np.float32)


def assert_spec_vector(type_name: str, *, with_imatrix: bool, sha_prefix: str, head: str) -> None:
    out = quantize(spec_v2(), type_name, imatrix=spec_v2_qw() if with_imatrix else None).tobytes()
    assert hashlib.sha256(out).hexdigest()[:16] == sha_prefix
    assert out[:16].hex() == head


@pytest.mark.parametrize("type_name", TYPES)
@pytest.mark.parametrize("with_imatrix", [False, True], ids=["plain", "imatrix"])
def test_matches_llama_quantize(type_name: str, with_imatrix: bool) -> None:
    assert_golden(type_name, with_imatrix=with_imatrix)


@pytest.mark.parametrize("type_name", TYPES)
@pytest.mark.parametrize("with_imatrix", [False, True], ids=["plain", "imatrix"])
def test_bit_trick_rounding_gives_the_same_bytes(
    type_name: str, with_imatrix: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast float rounding of candidate codes is only a shortcut for ggml's integer trick."""
    monkeypatch.setattr(kmath_qkx, "_SAFE", np.float32(0))
    assert_golden(type_name, with_imatrix=with_imatrix)


@pytest.mark.parametrize("type_name", TYPES)
def test_generic_array_module_paths_give_the_same_bytes(type_name: str) -> None:
    """What CuPy would run (no numpy-only fast paths) still matches llama-quantize."""
    assert_golden(type_name, with_imatrix=True, xp=NumpyProxy())


@pytest.mark.parametrize(
    ("type_name", "with_imatrix", "sha_prefix", "head"),
    [
        ("Q4_K", False, "e4832048765fd1c4", "4020c22bfbfafafdfffbfbfeabdfddc7"),
        ("Q5_K", False, "c4d3425297949670", "131cf02bfefdfbfffffdfbfdcdbbc9a4"),
        ("Q4_K", True, "f2c3bdf1484090f6", "4420ba2bfcfafcfdfffbfbfeaaefdcc7"),
        ("Q5_K", True, "7c6fd522555cb14b", "231cf52bfdfefcfffffcfcfeccbdc8a4"),
    ],
)
def test_spec_test_vectors(type_name: str, with_imatrix: bool, sha_prefix: str, head: str) -> None:
    assert_spec_vector(type_name, with_imatrix=with_imatrix, sha_prefix=sha_prefix, head=head)


@pytest.mark.parametrize("type_name", TYPES)
def test_all_zero_block_is_all_zero_bytes(type_name: str) -> None:
    out = quantize(np.zeros((2, 256), dtype=np.float32), type_name)
    assert out.shape == (2, kernel_for(type_name).type_size)
    assert not out.any()


@pytest.mark.parametrize("type_name", TYPES)
@settings(max_examples=25, deadline=None)
@given(n_per_row=st.integers(1, 1024).filter(lambda n: n % 256 != 0))
def test_rows_not_a_multiple_of_256_are_refused(type_name: str, n_per_row: int) -> None:
    with pytest.raises(UsageError):
        quantize(np.ones((2, n_per_row), dtype=np.float32), type_name)


# (type, with imatrix) -> bound on rms(error)/rms(x) and on max|error| / max|x| per block.
BOUNDS = {
    ("Q4_K", False): (0.12, 0.15),
    ("Q4_K", True): (0.12, 0.25),
    ("Q5_K", False): (0.06, 0.10),  # 5-bit codes plus a 6-bit sub-block scale: up to ~0.09 of the block max
    ("Q5_K", True): (0.06, 0.13),  # weighted fits trade the worst value for the weighted ones: 0.1215 seen
}
distributions = st.sampled_from(["normal", "uniform", "laplace"])


def sample(dist: str, seed: int, scale: float, shape: tuple[int, int]) -> np.ndarray:
    """Seeded test rows of one distribution, scaled."""
    rng = np.random.default_rng(seed)
    if dist == "uniform":
        x = rng.uniform(-1, 1, shape)
    else:
        x = rng.laplace(size=shape) if dist == "laplace" else rng.standard_normal(shape)
    return (x * scale).astype(np.float32)


def random_qw(seed: int, n: int) -> np.ndarray:
    """Importance weights spanning two and a half decades."""
    return np.random.default_rng(seed + 1).uniform(0.05, 20, n).astype(np.float32)


def assert_round_trip_bounded(
    type_name: str, x: np.ndarray, qw: np.ndarray | None, bounds: tuple[float, float]
) -> None:
    y = dequantize(quantize(x, type_name, imatrix=qw), type_name, x.shape[1])
    err = (y - x).astype(np.float64)
    rms_bound, max_bound = bounds
    assert np.sqrt((err**2).mean()) <= rms_bound * np.sqrt((x.astype(np.float64) ** 2).mean())
    block_err = np.abs(err).reshape(-1, 256).max(axis=1)
    block_amax = np.abs(x).reshape(-1, 256).max(axis=1)
    assert (block_err <= max_bound * block_amax).all()


@pytest.mark.parametrize("type_name", TYPES)
@pytest.mark.parametrize("with_imatrix", [False, True], ids=["plain", "imatrix"])
@settings(max_examples=15, deadline=None)
@given(
    dist=distributions,
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1e-3, 1.0, 300.0]),
    rows=st.integers(1, 6),
    blocks=st.integers(1, 3),
)
def test_round_trip_error_is_bounded(
    type_name: str, with_imatrix: bool, dist: str, seed: int, scale: float, rows: int, blocks: int
) -> None:
    x = sample(dist, seed, scale, (rows, 256 * blocks))
    qw = random_qw(seed, x.shape[1]) if with_imatrix else None
    assert_round_trip_bounded(type_name, x, qw, BOUNDS[type_name, with_imatrix])


@pytest.mark.parametrize("type_name", TYPES)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(2, 9))
def test_each_row_is_quantized_on_its_own(type_name: str, seed: int, rows: int) -> None:
    """Quantization is row-local: batching rows differently never changes a row's bytes."""
    x = sample("laplace", seed, 1.0, (rows, 512))
    whole = quantize(x, type_name)
    for r in range(rows):
        assert (quantize(x[r : r + 1], type_name) == whole[r]).all()


@pytest.mark.parametrize("type_name", TYPES)
def test_long_tensor_crosses_chunk_boundaries(type_name: str) -> None:
    """Rows spread over several internal passes come out exactly as when quantized one by one."""
    x = sample("normal", 7, 1.0, (70, 1024))
    whole = quantize(x, type_name)
    np.testing.assert_array_equal(whole[45:47], quantize(x[45:47], type_name))
