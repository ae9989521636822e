"""Numbers as people read them: GiB with one decimal, GB/s, parameter counts, tokens per second.

Plain functions with no Qt, shared by every widget so the same quantity always reads the same way.
"""

from __future__ import annotations

GIB = 1024**3
MIB = 1024**2


def fmt_bytes(n: int | float | None) -> str:
    """Binary units as llama.cpp and nvidia-smi print them: ``11.6 GiB``, ``350 MiB``; "unknown" for None."""
    if n is None:
        return "unknown"
    sign = "-" if n < 0 else ""
    n = abs(n)
    if n >= GIB:
        return f"{sign}{n / GIB:.1f} GiB"
    if n >= MIB:
        return f"{sign}{n / MIB:.0f} MiB"
    if n >= 1024:
        return f"{sign}{n / 1024:.0f} KiB"
    return f"{sign}{int(n)} B"


def fmt_bandwidth(bytes_per_s: float | None) -> str:
    """Memory bandwidth in decimal GB/s, the unit vendors publish."""
    if not bytes_per_s:
        return "bandwidth unknown"
    return f"{bytes_per_s / 1e9:.0f} GB/s"


def fmt_params(n: int | float | None) -> str:
    """Parameter counts the way model names spell them: ``135M``, ``7.2B``, ``1.1T``."""
    if not n:
        return "unknown"
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            value = n / scale
            return f"{value:.1f}{unit}" if value < 100 else f"{value:.0f}{unit}"
    return str(int(n))


def fmt_tokens(n: int | None) -> str:
    """Context lengths: ``4096`` stays exact below 10k, larger ones read ``32k``, ``128k``."""
    if n is None:
        return "unknown"
    if n >= 10_000 and n % 1024 == 0:
        return f"{n // 1024}k"
    return f"{n:,}".replace(",", " ")


def fmt_rate(tokens_per_s: float | None) -> str:
    """Generation speed; below 1 token/s shows one decimal so "0.4" is not rounded to nothing."""
    if tokens_per_s is None:
        return "unknown"
    if tokens_per_s < 10:
        return f"{tokens_per_s:.1f} tok/s"
    return f"{tokens_per_s:.0f} tok/s"


def fmt_count(n: int | None) -> str:
    """Downloads and likes: ``1.2M``, ``35k``, ``812``."""
    if n is None:
        return ""
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M"
    if n >= 10_000:
        return f"{n / 1e3:.0f}k"
    return str(n)
