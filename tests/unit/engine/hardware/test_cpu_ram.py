"""CPU feature parsing, RAM and disk probes."""

from __future__ import annotations

from pathlib import Path

from engine.hardware.cpu_ram import parse_cpuinfo, probe_cpu, probe_disk, probe_ram

X86 = """processor : 0
model name : AMD Ryzen 9 7950X 16-Core Processor
flags : fpu sse2 avx avx2 fma f16c avx512f avx512bw avx512_vnni sha_ni
processor : 1
model name : AMD Ryzen 9 7950X 16-Core Processor
flags : fpu sse2 avx avx2 fma f16c avx512f avx512bw avx512_vnni sha_ni
"""
ARM = """processor : 0
Features : fp asimd evtstrm aes asimddp sve i8mm
CPU implementer : 0x41
"""


def test_parse_x86_flags() -> None:
    name, features = parse_cpuinfo(X86)
    assert name == "AMD Ryzen 9 7950X 16-Core Processor"
    assert features == ("avx", "avx2", "avx512bw", "avx512f", "avx512vnni", "f16c", "fma")


def test_parse_arm_features() -> None:
    _, features = parse_cpuinfo(ARM)
    assert features == ("dotprod", "i8mm", "neon", "sve")


def test_probe_cpu_on_this_machine_has_cores() -> None:
    notes: list[str] = []
    cpu = probe_cpu(notes)
    assert cpu.logical_cores >= cpu.physical_cores >= 1
    assert cpu.name


def test_probe_ram_is_consistent() -> None:
    ram = probe_ram([])
    assert 0 < ram.available_bytes <= ram.total_bytes


def test_disk_uses_nearest_existing_parent(tmp_path: Path) -> None:
    free = probe_disk(tmp_path / "not" / "yet" / "made", [])
    assert free is not None and free > 0
