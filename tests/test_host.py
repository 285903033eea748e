"""lab.host: the machine a result came from (rows and benchmark records name it) and CPU steal time."""

import jax

from lab import host

CPUINFO = """processor\t: 0
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 rdtscp
processor\t: 1
model name\t: AMD EPYC 9R14
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 rdtscp
"""
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm sve\n"


def test_cpu_model_and_the_flags_that_change_xla_code():
    assert host.cpu_model(CPUINFO) == "AMD EPYC 9R14"
    assert host.cpu_flags(CPUINFO) == ("avx512f", "avx512_bf16", "avx2", "fma")  # ISA_FLAGS order, others dropped
    assert host.cpu_flags(ARM) == ("sve", "asimd")
    assert host.cpu_flags("") == ()


def test_describe_names_platform_and_jax():
    text = host.describe()
    assert text.startswith(jax.local_devices()[0].platform + ": ") and text.endswith(f"jax {jax.__version__}")


def test_steal_share_over_an_interval():
    before = host.parse_cpu_times("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n")
    after = host.parse_cpu_times("cpu  200 0 100 900 50 0 0 50 0 0\n")
    assert before == host.CpuTimes(busy=150, idle=850, steal=0)
    assert host.steal_share(before, after) == 50 / 300  # 150 busy + 100 idle + 50 stolen ticks in between
    assert host.steal_share(before, before) is None and host.steal_share(None, after) is None
    assert host.parse_cpu_times("intr 1 2\n") is None
