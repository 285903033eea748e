"""One JAX device per CPU core: how the lab spreads a population over a CPU's cores.

XLA's CPU runtime runs one device's program an operation at a time and spreads only large
operations (a big matrix product, a long elementwise loop) over the cores. A population's
per-member products are small, so with one CPU device a population program keeps about 1.5 of 2
cores busy, and its batched per-member products run on one core. With one device per core,
lab.engine shards the population over the devices (as over GPUs) and each device's members run
on their own core: on the 2-core benchmark machine 1.1-1.3x the small superposition population's
model-steps/s and 1.6-2.7x the attention populations' (benchmarks/README.md).

``import lab`` asks JAX for the devices through XLA_FLAGS (``--xla_force_host_platform_device_count``),
which JAX reads when its CPU backend starts: it holds when lab is imported before the process's
first JAX operation (``lab`` commands always are). Set ``LAB_CPU_DEVICES=N`` for N devices
(1: one device, as plain JAX); an XLA_FLAGS that already names a device count is left as it is.
Accelerators are unaffected: the flag only shapes the CPU backend.

Results do not depend on the device count beyond the last float bits that any change of a
program's width can move (lab.sweep), and a run directory resumes only under the device count
that started it (lab.store.check_plan says so and how to restore it).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

ENV = "LAB_CPU_DEVICES"
FLAG = "--xla_force_host_platform_device_count"


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def flagged(environ: MutableMapping[str, str] | None = None) -> str | None:
    """The device count XLA_FLAGS names (the last ``FLAG=...``, which XLA obeys), or None."""
    environ = os.environ if environ is None else environ
    counts = [f.split("=", 1)[1] for f in environ.get("XLA_FLAGS", "").split() if f.startswith(FLAG + "=")]
    return counts[-1] if counts else None


def requested(environ: MutableMapping[str, str] | None = None) -> int | None:
    """CPU devices the lab asks for: ``$LAB_CPU_DEVICES``, else one per usable core; None when
    XLA_FLAGS already names a device count (the user's choice wins)."""
    environ = os.environ if environ is None else environ
    if flagged(environ) is not None:
        return None
    value = environ.get(ENV, "").strip()
    if not value:
        return usable_cores()
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{ENV} must be a positive number of CPU devices, got {value!r}")
    return int(value)


def configure(environ: MutableMapping[str, str] | None = None) -> int | None:
    """Ask JAX for ``requested()`` CPU devices by adding the flag to XLA_FLAGS; returns that count,
    or None when XLA_FLAGS already named one. It takes effect only if JAX's CPU backend has not
    started yet (``import lab`` calls it; see the module docstring)."""
    environ = os.environ if environ is None else environ
    count = requested(environ)
    if count is not None:
        environ["XLA_FLAGS"] = f"{environ.get('XLA_FLAGS', '')} {FLAG}={count}".strip()
    return count


def shortfall(local_devices: int, platform: str, environ: MutableMapping[str, str] | None = None) -> str | None:
    """A note when a CPU process has fewer devices than the flag in XLA_FLAGS asks for: JAX's
    backend started before ``import lab`` (or before XLA_FLAGS was set), so the population runs on
    fewer cores than it could. None when all is as asked."""
    asked = flagged(environ)
    if platform != "cpu" or asked is None or not asked.isdigit() or int(asked) <= local_devices:
        return None
    return (f"JAX has {local_devices} CPU device(s), not the {asked} asked for ({FLAG} in XLA_FLAGS): it started "
            f"before `import lab`, so the population uses fewer cores than it could; import lab before the first JAX "
            f"operation (or set {ENV}=1 to silence this)")


__all__ = ["ENV", "FLAG", "usable_cores", "flagged", "requested", "configure", "shortfall"]
