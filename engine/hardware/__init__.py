"""Hardware detection: what this (or a hypothetical) machine offers for running a model.

Independent of formats, quant, hub and recommend; every probe fails soft.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import UsageError
from engine.hardware.presets import PRESETS, preset
from engine.hardware.probe import detect
from engine.hardware.profile import GIB, MIB, CpuInfo, GpuDevice, HardwareProfile

__all__ = ["GIB", "MIB", "PRESETS", "CpuInfo", "GpuDevice", "HardwareProfile", "detect", "load_profile", "preset"]


def load_profile(spec: str | None) -> HardwareProfile:
    """Resolve a ``--hardware`` value: None = detect, an existing file = JSON profile, else a preset name.

    Raises:
        UsageError: neither a readable file nor a preset.
        CorruptInputError: the file is not a hardware profile.
    """
    if spec is None:
        return detect()
    path = Path(spec).expanduser()
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise UsageError(f"Could not read the hardware file {path} ({e.strerror}).") from e
        return HardwareProfile.from_json(text)
    return preset(spec)
