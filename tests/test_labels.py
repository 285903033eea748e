"""A swept learning rate in labels, selections and file names: rounded for reading, matched at the
precision typed; thresholds at the precision their interval supports."""

import math

import pytest

from lab import analysis, labels

LRS = [10 ** (-3 + 0.5 * i) for i in range(5)]  # {geom = [1e-3, 1e-1], num = 5}: 0.001, 0.00316, 0.01, 0.0316, 0.1


def rows():
    return [{"id": f"{n}-{i}", "n": n, "lr": lr, "model": "mlp", "success": True, "status": "ok"}
            for n in (8, 16) for i, lr in enumerate(LRS)]


@pytest.mark.parametrize("v, text", [(0.031622776601683794, "0.0316"), (0.001, "0.001"), (1e-5, "1e-05"), (8, "8"),
                                     (2.0, "2"), (True, "True"), (None, "None"), ("and", "and")])
def test_value_text(v, text):
    assert labels.value_text(v) == text


@pytest.mark.parametrize("typed, lr", [("3e-2", LRS[3]), ("0.0316", LRS[3]), ("3.16e-2", LRS[3]), ("0.03162277660168379", LRS[3]),
                                       ("1e-3", LRS[0]), ("0.001", LRS[0]), ("0.1", LRS[4]), ("3e-3", LRS[1])])
def test_where_matches_the_grid_value_it_rounds_to(typed, lr):
    chosen = analysis.select(rows(), {"lr": typed})
    assert {r["lr"] for r in chosen} == {lr} and len(chosen) == 2
    assert analysis.where_suffix({"lr": typed}, chosen) == f"-lr={labels.value_text(lr)}"


def test_where_that_matches_nothing_or_several_values_is_an_error():
    with pytest.raises(analysis.SelectionError, match="no rows with lr=0.05"):
        analysis.select(rows(), {"lr": "0.05"})
    close = [{"id": str(i), "lr": lr} for i, lr in enumerate([0.031, 0.034])]
    with pytest.raises(analysis.SelectionError, match="several values.*more digits"):
        analysis.select(close, {"lr": "3e-2"})
    assert [r["lr"] for r in analysis.select(close, {"lr": "0.034"})] == [0.034]


def test_text_fields_and_integers_still_match_exactly():
    assert len(analysis.select(rows(), {"model": "mlp", "n": "8"})) == 5
    assert not labels.matches("8", 80) and not labels.matches("mlp", 1.0)


def test_summary_names_a_swept_lr_with_rounded_values():
    fit = {"series": [{"key": {"n": 8, "m": 64, "lr": lr}, "censored": "below", "bound": 8.0} for lr in LRS[:3]]}
    rows_ = [{"n": 8, "m": 64, "lr": lr, "m_out": 8, "status": "ok", "success": False} for lr in LRS[:3]]
    text = analysis.summary_text("superposition", rows_, fit, [])
    assert "  lr=0.001: < 8" in text and "lr=0.00316: < 8" in text and "lr=0.01: < 8" in text


@pytest.mark.parametrize("s, integer, text", [
    ({"threshold": math.sqrt(32), "lo": 4.0, "hi": 8.0}, True, "between 4 and 8"),
    ({"threshold": 45.3, "lo": 30.2, "hi": 70.9}, True, "45 [30, 71]"),
    ({"threshold": 1.2345, "lo": 1.2, "hi": 1.3}, False, "1.23 [1.2, 1.3]"),
    ({"threshold": 0.012345, "lo": 0.006, "hi": 0.031}, False, "0.012 [0.006, 0.031]"),
    ({"censored": "below", "bound": 8.0}, True, "< 8"),
    ({"censored": "above", "bound": 512.0}, True, "> 512"),
    ({"threshold": None}, False, "no estimate"),
])
def test_threshold_precision(s, integer, text):
    assert labels.threshold_text(s, integer) == text
