"""What machine a figure was measured on: the ratios to the yardstick depend on the CPU."""

import os
import platform
from pathlib import Path


def cpu() -> str:
    """E.g. "2 cores (AMD EPYC)": the core count and the CPU's model name."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        platform.processor() or "CPU model unknown",
    )
    return f"{os.cpu_count()} cores ({model})"
