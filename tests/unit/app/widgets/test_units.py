"""Numbers read the same way everywhere."""

from __future__ import annotations

import pytest

from app.widgets.units import GIB, MIB, fmt_bandwidth, fmt_bytes, fmt_count, fmt_params, fmt_rate, fmt_tokens


@pytest.mark.parametrize(("n", "text"), [
    (None, "unknown"), (0, "0 B"), (1536, "2 KiB"), (350 * MIB, "350 MiB"), (int(11.64 * GIB), "11.6 GiB"),
    (-4 * GIB, "-4.0 GiB"),
])
def test_fmt_bytes(n: int | None, text: str) -> None:
    assert fmt_bytes(n) == text


def test_other_units() -> None:
    assert fmt_bandwidth(360e9) == "360 GB/s"
    assert fmt_bandwidth(None) == "bandwidth unknown"
    assert fmt_params(135_000_000) == "135M"
    assert fmt_params(1_700_000_000) == "1.7B"
    assert fmt_params(7_241_732_096) == "7.2B"
    assert fmt_params(235e9) == "235B"
    assert fmt_params(None) == "unknown"
    assert fmt_tokens(4096) == "4 096"
    assert fmt_tokens(131072) == "128k"
    assert fmt_rate(0.44) == "0.4 tok/s"
    assert fmt_rate(42.4) == "42 tok/s"
    assert fmt_count(1_234_567) == "1.2M"
    assert fmt_count(35_100) == "35k"
    assert fmt_count(None) == ""
