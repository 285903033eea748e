"""The machine a result came from, and how much of it the result had.

XLA compiles for the host's instruction set, so the same code and seeds can round floats
differently on another CPU or accelerator: members at the edge of the success criterion may then
flip, and a threshold move in its last digits. A run's rows and a benchmark record therefore name
the machine that made them (``describe``), so that a reader can tell a machine difference from a
code change.

On a virtual machine other guests may take the cores a measurement thinks it has ("steal" time
in /proc/stat); ``cpu_times`` and ``steal_share`` measure that share over an interval, so that a
slow benchmark record says why.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path

import jax

# Instruction-set extensions that change XLA's CPU code (vector width, fused multiply-add, bf16
# and matrix units), in /proc/cpuinfo's names (x86 and Arm).
ISA_FLAGS = ("avx512f", "avx512_bf16", "amx_tile", "avx2", "fma", "sve", "asimd")


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name (/proc/cpuinfo), else what the platform module says."""
    text = _read("/proc/cpuinfo") if cpuinfo is None else cpuinfo
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags(cpuinfo: str | None = None) -> tuple[str, ...]:
    """Which of ``ISA_FLAGS`` the CPU has, in that order (empty where /proc/cpuinfo is absent)."""
    text = _read("/proc/cpuinfo") if cpuinfo is None else cpuinfo
    present: set[str] = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            present.update(line.split(":", 1)[1].split())
    return tuple(f for f in ISA_FLAGS if f in present)


@functools.lru_cache(maxsize=1)
def describe() -> str:
    """One line naming the machine that computes: e.g. ``cpu: AMD EPYC (avx512f, avx2, fma), jax 0.10.2``
    or ``gpu: NVIDIA H200, jax 0.10.2``. Stored in every row (``host``) and benchmark record."""
    dev = jax.local_devices()[0]
    if dev.platform == "cpu":
        flags = cpu_flags()
        what = cpu_model() + (f" ({', '.join(flags)})" if flags else "")
    else:
        what = dev.device_kind
    return f"{dev.platform}: {what}, jax {jax.__version__}"


@dataclass(frozen=True)
class CpuTimes:
    """Cumulative time of all CPUs since boot, in clock ticks (/proc/stat's first line)."""

    busy: int  # user, nice, system, irq, softirq
    idle: int  # idle and iowait
    steal: int  # taken by other guests of the hypervisor

    @property
    def total(self) -> int:
        return self.busy + self.idle + self.steal


def parse_cpu_times(stat: str) -> CpuTimes | None:
    """``CpuTimes`` from the text of /proc/stat; None if it has no aggregate ``cpu`` line."""
    for line in stat.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            v = [int(x) for x in parts[1:]] + [0] * 8
            user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
            return CpuTimes(busy=user + nice + system + irq + softirq, idle=idle + iowait, steal=steal)
    return None


def cpu_times() -> CpuTimes | None:
    """The machine's ``CpuTimes`` now; None where /proc/stat is absent (not Linux)."""
    return parse_cpu_times(_read("/proc/stat"))


def steal_share(before: CpuTimes | None, after: CpuTimes | None) -> float | None:
    """Share of the CPUs' time between two readings that other guests took; None if unknown."""
    if before is None or after is None or after.total <= before.total:
        return None
    return (after.steal - before.steal) / (after.total - before.total)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""
