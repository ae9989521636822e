"""Peak memory bandwidth of well-known GPUs and Apple chips, for when a driver cannot tell us.

NVML reports bus width and memory clock, so NVIDIA cards rarely need this table; AMD sysfs, Intel and Apple
do. Values are the vendors' published peak figures in bytes per second. Longest name wins, so
"RTX 3090 Ti" matches before "RTX 3090" and "M2 Max" before "M2".
"""

from __future__ import annotations

GB = 1e9

BANDWIDTH: dict[str, float] = {
    # NVIDIA desktop / workstation / data centre
    "RTX 3060": 360 * GB,
    "RTX 3060 Ti": 448 * GB,
    "RTX 3070": 448 * GB,
    "RTX 3080": 760 * GB,
    "RTX 3090": 936 * GB,
    "RTX 3090 Ti": 1008 * GB,
    "RTX 4060": 272 * GB,
    "RTX 4060 Ti": 288 * GB,
    "RTX 4070": 504 * GB,
    "RTX 4080": 717 * GB,
    "RTX 4090": 1008 * GB,
    "RTX 5080": 960 * GB,
    "RTX 5090": 1792 * GB,
    "RTX 4060 Laptop": 256 * GB,
    "RTX 4090 Laptop": 576 * GB,
    "RTX A6000": 768 * GB,
    "T4": 320 * GB,
    "L4": 300 * GB,
    "V100": 900 * GB,
    "A100": 1555 * GB,
    "A100 80GB": 2039 * GB,
    "A100-SXM4-80GB": 2039 * GB,
    "H100 PCIe": 2000 * GB,
    "H100": 3350 * GB,
    "H200": 4800 * GB,
    # AMD
    "RX 6800 XT": 512 * GB,
    "RX 6900 XT": 512 * GB,
    "RX 7900 XT": 800 * GB,
    "RX 7900 XTX": 960 * GB,
    "MI250": 3277 * GB,
    "MI300X": 5300 * GB,
    # Intel
    "Arc A770": 560 * GB,
    "Arc B580": 456 * GB,
    # Apple Silicon (unified memory)
    "Apple M1": 68.25 * GB,
    "Apple M1 Pro": 200 * GB,
    "Apple M1 Max": 400 * GB,
    "Apple M1 Ultra": 800 * GB,
    "Apple M2": 100 * GB,
    "Apple M2 Pro": 200 * GB,
    "Apple M2 Max": 400 * GB,
    "Apple M2 Ultra": 800 * GB,
    "Apple M3": 100 * GB,
    "Apple M3 Pro": 150 * GB,
    "Apple M3 Max": 400 * GB,
    "Apple M4": 120 * GB,
    "Apple M4 Pro": 273 * GB,
    "Apple M4 Max": 546 * GB,
}


def _normalise(name: str) -> str:
    return " ".join(name.upper().replace("GEFORCE", "").replace("NVIDIA", "").split())


def bandwidth_for(name: str) -> float | None:
    """Published peak bandwidth for a device name, matching the longest known model name; None if unknown."""
    wanted = _normalise(name)
    best: tuple[int, float] | None = None
    for key, value in BANDWIDTH.items():
        norm = _normalise(key)
        if _contains_model(wanted, norm) and (best is None or len(norm) > best[0]):
            best = (len(norm), value)
    return None if best is None else best[1]


def _contains_model(haystack: str, model: str) -> bool:
    """``model`` occurs in ``haystack`` as whole words (so "M2" does not match "M20")."""
    start = haystack.find(model)
    while start >= 0:
        end = start + len(model)
        before_ok = start == 0 or not haystack[start - 1].isalnum()
        after_ok = end == len(haystack) or not haystack[end].isalnum()
        if before_ok and after_ok:
            return True
        start = haystack.find(model, start + 1)
    return False
