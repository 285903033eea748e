"""The report and the analysis tables render what fit.json says, censoring included."""

import csv
import dataclasses
import io
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from lab import analysis, experiment, report, store
from lab.spec import parse_spec

FIT = {
    "kind": "superposition",
    "resource": "m_out",
    "direction": "decreasing",
    "covariates": ["n"],
    "series": [
        {"key": {"m": 64, "n": 8}, "threshold": 12.5, "lo": 10.0, "hi": 15.0, "censored": None, "bound": None, "width": 0.2, "seeds": 2},
        {"key": {"m": 64, "n": 64}, "threshold": None, "lo": None, "hi": None, "censored": "above", "bound": 1024.0, "width": None, "seeds": 2},
    ],
    "laws": [
        {"name": "power", "formula": "c·n^α", "params": {"c": {"value": 0.5, "lo": 0.3, "hi": 0.7}, "alpha": {"value": 1.5, "lo": 1.3, "hi": 1.7}},
         "aic": -3.0, "bic": -2.0, "heldout": 0.1, "converged": True},
        {"name": "linear", "formula": "c·n", "params": {"c": {"value": 1.6, "lo": 1.5, "hi": 1.7}}, "aic": 4.0, "bic": 4.5, "heldout": 0.4, "converged": True},
    ],
    "best": "power",
    "verdicts": ["exponent 1.5 [1.3, 1.7]: below the n²/log n upper bound"],
}


def test_tables_show_intervals_and_censored_bounds():
    header, rows = report.series_table(FIT, experiment.get("superposition").analysis)
    assert header[0] == "n"
    assert rows[0] == ["8", "12.5 [10, 15]", "2"]
    assert rows[1] == ["64", "> 1024 (censored)", "2"]
    header, rows = report.laws_table(FIT)
    assert header[:3] == ["law", "parameters [95% interval]", "ΔAIC"]
    assert rows[0][0] == "**c·n^α (`power`)** (best)" and rows[1][0] == "c·n (`linear`)"
    assert rows[0][1] == "c = 0.5 [0.3, 0.7]; alpha = 1.5 [1.3, 1.7]" and rows[0][2] == "0" and rows[1][2] == "7"
    table = list(csv.reader(io.StringIO(analysis.thresholds_csv(FIT))))
    assert table[0][:2] == ["n", "m"] and table[2][table[0].index("censored")] == "above"


def test_write_report_markdown_and_self_contained_html(tmp_path):
    spec = parse_spec({"kind": "superposition", "fixed": {"m": 8, "n": 2, "m_out": 2}}, source="t.toml")
    run_dir = store.open_run(tmp_path / "run", spec)
    store.write_rows(run_dir, [{"id": "a", "status": "ok", "success": True, "version": "test",
                                "host": "cpu: Some CPU (avx2, fma), jax 0.1"}], "p0")
    (run_dir / "fit.json").write_text(json.dumps(FIT))
    fig = tmp_path / "run" / "figures" / "capacity.png"
    fig.parent.mkdir()
    plt.plot([1, 2], [1, 4])
    plt.savefig(fig)
    plt.close()
    out = report.write_report([run_dir], tmp_path / "out" / "report.md")
    md = out.read_text()
    assert "exponent 1.5 [1.3, 1.7]" in md and "| **c·n^α (`power`)** (best) |" in md
    assert "](../run/figures/capacity.png)" in md and "Made by `lab run" in md
    assert "code version test, trained on cpu: Some CPU (avx2, fma), jax 0.1." in md  # machines round floats differently
    assert "Generated" not in md  # no date: the same runs give the same report
    html_before = out.with_suffix(".html").read_bytes()
    again = report.write_report([run_dir], tmp_path / "out" / "report.md")
    assert again.read_text() == md and again.with_suffix(".html").read_bytes() == html_before
    html = out.with_suffix(".html").read_text()
    assert "data:image/png;base64," in html and "&gt; 1024 (censored)" in html
    assert "<code>power</code>" in html and "<strong>" in html and "`" not in html.split("<body>")[1]


def test_long_tables_fold_and_a_kind_can_word_its_criterion(tmp_path):
    blocks = [report.Block("table", (["n", "m'*"], [[str(i), "1"] for i in range(report.FOLD_ROWS + 1)]))]
    md = report.render_markdown(blocks, tmp_path)
    assert md.startswith("<details><summary>13 rows") and md.rstrip().endswith("</details>")
    assert "<details>" in report.render_html(blocks, "t", tmp_path)
    exp = experiment.get("superposition")
    generic = report.success_text(dataclasses.replace(exp, success_text=None), {"epsilon": 0.05, "fraction": 1.0})
    assert "Criterion" in generic and "epsilon = 0.05" in generic
    worded = dataclasses.replace(exp, success_text=lambda s: f"recovery >= 1 - {s.epsilon}")
    assert report.success_text(worded, {"epsilon": 0.1}) == "recovery >= 1 - 0.1"
