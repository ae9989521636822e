"""``quantpick hardware [--json] [--preset NAME] [--disk PATH]``: what this machine offers for running models."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.cli.common import add_command, human_bytes
from engine.hardware import PRESETS, HardwareProfile, detect, preset


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "hardware",
        help="show the GPUs, memory, CPU features and free disk Quantpick sees",
        description="Probe this machine (NVIDIA via NVML, AMD/Intel via sysfs, Apple Silicon, RAM, CPU, disk) "
        "and print what the recommender will use. Save the JSON to reuse it with --hardware elsewhere.",
    )
    parser.add_argument("--json", action="store_true", help="print the profile as JSON")
    parser.add_argument("--preset", metavar="NAME", help="show a named preset instead of probing ("
                        + ", ".join(sorted(PRESETS)) + ")")
    parser.add_argument("--list-presets", action="store_true", help="list the preset names and exit")
    parser.add_argument("--disk", type=Path, default=None, help="report free space at this path (default: home)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list_presets:
        for name, profile in sorted(PRESETS.items()):
            print(f"{name:<20} {describe_short(profile)}")
        return 0
    profile = preset(args.preset) if args.preset else detect(disk_path=args.disk)
    print(profile.to_json() if args.json else format_profile(profile))
    return 0


def describe_short(p: HardwareProfile) -> str:
    """One line: GPUs (or CPU only) and RAM."""
    gpus = ", ".join(f"{g.name} {human_bytes(g.total_bytes)}" for g in p.gpus) or "no GPU"
    return f"{gpus}; {human_bytes(p.ram_total_bytes)} RAM"


def format_profile(p: HardwareProfile) -> str:
    """Human-readable profile, one fact per line."""
    cpu = p.cpu
    lines = [
        f"Profile:        {p.name}",
        f"CPU:            {cpu.name} ({cpu.physical_cores} cores, {cpu.logical_cores} threads, {cpu.arch})",
        f"CPU features:   {', '.join(cpu.features) or 'none detected'}",
        f"RAM:            {human_bytes(p.ram_available_bytes)} available of {human_bytes(p.ram_total_bytes)}"
        f" ({p.ram_bandwidth_bytes_s / 1e9:.0f} GB/s)",
    ]
    if not p.gpus:
        lines.append("GPUs:           none")
    for i, g in enumerate(p.gpus):
        bw = f", {g.bandwidth_bytes_s / 1e9:.0f} GB/s" if g.bandwidth_bytes_s else ""
        extra = f", compute {g.compute_capability}" if g.compute_capability else ""
        shared = ", shares system RAM" if g.unified else ""
        lines.append(f"GPU {i}:          {g.name} [{g.backend}] {human_bytes(g.free_bytes)} free of "
                     f"{human_bytes(g.total_bytes)}{bw}{extra}{shared}")
    if p.disk_free_bytes is not None:
        lines.append(f"Free disk:      {human_bytes(p.disk_free_bytes)} at {p.disk_path}")
    lines += [f"Note:           {n}" for n in p.notes]
    return "\n".join(lines)
