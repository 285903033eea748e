"""The benchmark harness's bookkeeping (no timing: speed is measured by `lab bench`, not by tests)."""

import pytest

pytest.importorskip("benchmarks.harness")
from benchmarks import harness as bench  # noqa: E402


def test_ratios_and_summary_cover_before_sweeps_and_scaling(tmp_path):
    row = lambda p, n, s: {"population": p, "n": n, "m": 2 * n, "m_out": 2 * n, "step_s": s,  # noqa: E731
                           "model_steps_per_s": p / s, "dense_flops": 1e9, "step_flops": 1e9, "compile_s": 1.0}
    res = {"peak": {"size": 8, "xla_flops": 2e9, "numpy_flops": 1e9, "peak_flops": 2e9},
           "population": {"attention": {"population": 4, "model_steps_per_s": 500.0, "dense_flops": 1e8, "compile_s": 1.0,
                                        "before": {"model_steps_per_s": 100.0}}},
           "peers": {"attention": {"torch_loop": {"model_steps_per_s": 50.0}}},
           "sweep": {"superposition-quick": {"members": 40, "steps": 3000, "programs": 8, "chunks": 8, "wall_s": 50.0,
                                             "compiled_wall_s": 40.0, "compile_s": 10.0, "compile_share": 0.2,
                                             "cpu_s": 100.0, "compiled_cpu_s": 80.0, "compile_cpu_s": 20.0,
                                             "compile_cpu_per_program_s": 2.5, "compile_cpu_share": 0.2, "cores_busy": 2.0}},
           "scaling": {"population": [row(64, 32, 0.01), row(256, 32, 0.04)], "width": [row(256, 16, 0.1), row(16, 64, 0.05)],
                       "width_step_flops": 6.4e9}}
    rat = bench.ratios(res)
    assert rat["attention_vs_before"] == 5.0 and rat["attention_vs_torch_loop"] == 10.0
    assert rat["superposition-quick_compile_share"] == 0.2 and rat["superposition-quick_compile_cpu_share"] == 0.2
    assert rat["scaling_population_p256_step_time_vs_first"] == pytest.approx(4.0)
    assert rat["scaling_width_n64_step_time_vs_first"] == pytest.approx(0.5)
    report = {"results": res, "ratios": rat, "seconds": 1.0, "date": "d", "versions": {"jax": "j", "torch": None},
              "device": {"platform": "cpu", "cpu": "c", "cores": 2, "count": 1, "kind": "cpu"},
              "load_before": [1.0, 1.0, 1.0], "load_after": [2.0, 2.0, 2.0], "steal_share": 0.3}
    text = bench.summary(report)
    assert "CPU steal 30% of the run" in text
    assert "5.0x the previous attention trainer" in text and "compiling added 20%" in text and "compiling cost 20 CPU-s (2.5 per program)" in text and "n=64 (P=16)" in text
    pytest.importorskip("matplotlib")
    assert bench.plot_scaling(res["scaling"], tmp_path / "s.png").stat().st_size > 0


def test_attention_flops_count_the_cheaper_exact_form():
    member = bench.attention_member()  # m = 32, d_model = 32, D_K = 8, context 16
    all_pairs = 2 * 32 * 32 * 8 + 32 * 32 * 8
    assert bench.attention_flops_per_step(member, batch=256) == 6.0 * all_pairs
    big = bench.attention_member(m=256, d_model=64, dk=64)  # context 8 at batch 32: context pairs are cheaper
    assert bench.attention_flops_per_step(big, batch=32) == 6.0 * (2 * 32 * 8 * 64 * 64 + 32 * 64 * 64)


def test_records_name_spec_paths_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert bench._shown(str(tmp_path / "sweeps" / "x.toml")) == "sweeps/x.toml"
    assert bench._shown("/elsewhere/y.toml") == "y.toml"


def test_difference_rate_cancels_fixed_costs():
    fixed, per_step = 0.5, 1e-3  # a run of S steps takes 0.5 s + S ms
    r = bench.difference_rate(lambda steps: fixed + per_step * steps, seconds=0.2)
    assert r["step_s"] == pytest.approx(per_step) and r["steps"] - bench.PROBE == pytest.approx(200, abs=4)
