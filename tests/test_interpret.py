"""Feature channels (lab.experiments.superposition.channels, .interpret): the sign-pattern reader
recovers the explicit constructions' channels exactly, its tolerance behaves as stated, the
prediction is scored against its baseline, a re-trained network read over features computes what
the trained one computed, `lab interpret` runs end to end on a tiny run, and `lab report` shows the
reading it saved."""

import dataclasses
import json
import shutil

import jax
import numpy as np
import pytest

import lab
from lab import cli, experiment, interpretation, store
from lab.experiments.superposition import channels as ch
from lab.experiments.superposition import interpret
from lab.experiments.superposition.construction import build, random_code, used_inputs
from lab.experiments.superposition.criterion import Criterion
from lab.experiments.superposition.task import BooleanTask, sample_pairs


def as_features(params: dict) -> dict:
    """A raw-input construction's parameters, read over features (w_in is already per feature)."""
    return {"w_in_MxN": np.asarray(params["w_in_DxN"]), "b_in_N": np.asarray(params["b_in_N"]),
            "w_out_NxK": np.asarray(params["w_out_NxK"]), "b_out_K": np.asarray(params["b_out_K"])}


@pytest.mark.parametrize("op", ["and", "perm"])
@pytest.mark.parametrize("tol", [0.0, 0.1, 0.5, 0.99])
def test_dedicated_channel_is_the_feature_s_own_neuron(op, tol):
    task = BooleanTask(m=16, op=op, s=3)
    pairs = np.asarray(sample_pairs(jax.random.key(0), task, 6))
    net = as_features(build(task, pairs, 9, jax.random.key(1), scheme="dedicated"))
    c_KxN = ch.channels(ch.sign_pattern(net, tol), pairs)
    assert (c_KxN == np.eye(6, 9, dtype=bool)).all()
    stats = ch.channel_stats(ch.sign_pattern(net, tol), pairs)
    assert stats["size"].tolist() == [1] * 6 and stats["private"].tolist() == [1] * 6
    assert stats["containment"].tolist() == [0.0] * 6 and stats["leak"].tolist() == [0] * 6
    assert stats["load_N"].tolist() == [1] * 6 + [0] * 3
    pattern = ch.sign_pattern(net, tol)
    assert (pattern.bias_N[:6] == (-1 if op == "and" else 0)).all()


@pytest.mark.parametrize("op", ["and", "perm"])
def test_code_channel_is_the_intersection_of_the_input_codes(op):
    """Code scheme: every used input written to w neurons (its set S_i); AND output (a, b) reads
    S_a ∩ S_b, a permutation output reads S_π(j): exactly the channels the reader finds."""
    task = BooleanTask(m=24, op=op, s=3)
    pairs = np.asarray(sample_pairs(jax.random.key(3), task, 40 if op == "and" else 12))
    key, n, w = jax.random.key(4), 20, 5
    net = as_features(build(task, pairs, n, key, scheme="code", w=w))
    code_MxN = random_code(key, used_inputs(pairs, task.m), n, w) > 0  # the code build draws from the same key
    expected_KxN = code_MxN[pairs[:, 0]] & code_MxN[pairs[:, 1]]
    for tol in (0.0, 0.1, 0.5):
        assert (ch.channels(ch.sign_pattern(net, tol), pairs) == expected_KxN).all()
    stats = ch.channel_stats(ch.sign_pattern(net), pairs)
    assert (stats["size"] == expected_KxN.sum(1)).all()
    assert (stats["load_N"] == expected_KxN.sum(0)).all()
    assert (stats["leak"] == 0).all()  # an output reads only its shared neurons
    assert expected_KxN.sum(1).max() > 1 and expected_KxN.sum(0).max() > 1  # channels share neurons


def test_ternary_tolerance_is_relative_to_each_vector():
    x = np.array([1.0, 0.05, -0.2, -1e-3, 0.0])
    assert ch.ternary(x, 0.1).tolist() == [1, 0, -1, 0, 0]
    assert ch.ternary(x, 0.0).tolist() == [1, 1, -1, -1, 0]
    assert ch.ternary(1e3 * x, 0.1).tolist() == [1, 0, -1, 0, 0]  # scale-free
    # each input's code is read against its own largest weight: a strong row does not erase a weak one
    w_MxN = np.array([[100.0, -50.0, 0.0], [0.02, 0.03, -0.001]])
    net = {"w_in_MxN": w_MxN, "b_in_N": np.array([-0.5, 10.0, 0.0]), "w_out_NxK": np.array([[1.0], [1.0], [0.001]]),
           "b_out_K": np.zeros(1)}
    pattern = ch.sign_pattern(net, 0.1)
    assert pattern.code_MxN.tolist() == [[1, -1, 0], [1, 1, 0]]
    assert pattern.readout_NxK.tolist() == [[1], [1], [0]]
    # a bias against its neuron's largest input weight: -0.5 next to 100 is ~0; 10 next to 50 is +
    assert pattern.bias_N.tolist() == [0, 1, 0]
    assert ch.channels(pattern, np.array([[0, 1]])).tolist() == [[True, False, False]]
    assert ch.channels(ch.sign_pattern(net, 0.0), np.array([[0, 1]])).tolist() == [[True, False, False]]


def test_channel_statistics_on_a_hand_made_pattern():
    # neurons 0-3; feature 0 = (0, 1) channel {0, 1}; feature 1 = (1, 2) channel {1}; feature 2 = (2, 3) channel {}
    code = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [0, 1, 0, 1], [0, 0, 0, 0]], np.int8)
    readout = np.array([[1, 0, 0], [1, 1, 1], [1, 0, 1], [0, 0, 1]], np.int8)
    pattern = ch.SignPattern(code_MxN=code, bias_N=np.zeros(4, np.int8), readout_NxK=readout, tol=0.1)
    stats = ch.channel_stats(pattern, np.array([[0, 1], [1, 2], [2, 3]]))
    assert stats["C_KxN"].astype(int).tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    assert stats["size"].tolist() == [2, 1, 0]
    assert stats["load_N"].tolist() == [1, 2, 0, 0]
    assert stats["containment"].tolist() == [0.5, 1.0, 1.0]  # feature 1 lies inside feature 0's channel
    assert stats["private"].tolist() == [1, 0, 0]
    assert stats["load"].tolist() == [1.5, 2.0, 0.0]
    # leak: neurons read + by the feature where exactly one of its inputs is +
    assert stats["leak"].tolist() == [1, 0, 2]  # f0: neuron 2 (input 0 only); f2: neurons 1, 3 (input 2 only)
    s = ch.summary(stats)
    assert s["neurons_per_feature"] == 1.0 and s["features_per_neuron"] == 0.75 and s["empty"] == pytest.approx(1 / 3)


def test_prediction_is_scored_against_the_majority_baseline():
    rng = np.random.default_rng(0)
    size = rng.integers(0, 8, 300)
    stats = {"size": size, "leak": rng.integers(0, 3, 300), "containment": rng.uniform(0, 1, 300),
             "private": rng.integers(0, 3, 300), "load": rng.uniform(0, 5, 300)}
    x = interpret.features_matrix(stats)
    groups = np.arange(300) // 30  # ten "networks"
    planted = interpret.cross_validate(x, size >= 3, groups)  # the verdict is a channel statistic
    assert planted["accuracy"] >= 0.97 and planted["baseline"] == pytest.approx(max((size >= 3).mean(), (size < 3).mean()))
    assert planted["networks"] == 10 and planted["features"] == 300
    noise = rng.uniform(size=300) < 0.7  # unrelated to the statistics: no better than the baseline
    unrelated = interpret.cross_validate(x, noise, groups)
    assert unrelated["baseline"] == pytest.approx(noise.mean())
    assert unrelated["accuracy"] <= unrelated["baseline"] + 0.03


TINY = """
kind = "superposition"
seeds = 2
[fixed]
m = 8
s = 2
lr = 0.05
d = 6       # inputs and outputs in superposition: read over features, the embedding and decoder folded in
d_out = 3
[sweep]
n = [2, 4]
m_out = [1, 3, 6]
[train]
steps = 300
batch = 32
evals = 1
[success]
epsilon = 0.2
[run]
max_waste = 0.5
"""


@pytest.fixture(scope="module")
def tiny_run(train_tiny):
    """A tiny run, read by `lab interpret`."""
    out = train_tiny(TINY, "--no-analysis")
    assert cli.main(["interpret", str(out), "--members", "4", "--seeds", "0", "--tol", "0.2"]) == 0
    return out


def test_lab_interpret_on_a_tiny_run(tiny_run, capsys):
    folder = tiny_run / "interpret"
    summary = json.loads((folder / "interpret.json").read_text())
    assert summary["networks"] == 4 and summary["seeds"] == [0]
    assert {r["n"] for r in summary["per_network"]} == {2, 4}
    rep = summary["reproduced"]
    assert rep["features"] == sum(r["m_out"] for r in summary["per_network"])
    assert rep["agree"] >= 0.9 * rep["features"]  # re-training gives the run's verdicts (up to float rounding)
    for r in summary["per_network"]:
        if r["n"] >= r["m_out"]:  # one neuron per feature: every channel is one neuron
            assert r["construction"]["neurons_per_feature"] == 1.0 and r["construction"]["computed"] == 1.0
    pred = summary["prediction"]
    assert 0 <= pred["accuracy"] <= 1 and 0.5 <= pred["baseline"] <= 1
    for stem in ("channel_sizes", "channel_load", "channel_network"):
        assert (folder / f"{stem}.png").stat().st_size > 0
    text = (folder / "interpret.md").read_text()
    assert text.startswith("Feature channels") and "construction" in text
    assert summary["tol"] == 0.2
    # a second reading re-uses the re-trained parameters (RUN_DIR/interpret/params.npz)
    stamp = (folder / "params.npz").stat().st_mtime_ns
    rows = interpret.select(store.load_rows(tiny_run), seeds=[0], members=4)
    found = interpret.retrain(tiny_run, rows, store.read_meta(tiny_run))
    assert sorted(found) == sorted(r["id"] for r in rows) and (folder / "params.npz").stat().st_mtime_ns == stamp


READING = "### Reading the trained networks"
FIGURES = ("channel_sizes", "channel_load", "channel_network")


def test_lab_report_shows_the_saved_reading(tiny_run, tmp_path, capsys):
    """`lab report RUN_DIR` and lab.write_report show what `lab interpret` saved: the heading, the
    text and the figures with their captions, made by the same command; a run without one, none."""
    assert cli.main(["fit", str(tiny_run)]) == 0
    assert cli.main(["report", str(tiny_run)]) == 0
    md = (tiny_run / "report.md").read_text()
    assert md.count(READING) == 1 and "Feature channels read statically" in md and "Stale" not in md
    for stem in FIGURES:
        assert f"![{stem}](interpret/{stem}.png)" in md
    assert f"Made by `lab interpret {tiny_run} --members 4 --seeds 0 --tol 0.2`." in md
    assert "Neurons in each feature's channel" in md  # the kind's caption, saved with the reading
    html = lab.write_report([tiny_run], tmp_path / "api.md").with_suffix(".html").read_text()
    assert READING.removeprefix("### ") in html and html.count("data:image/png;base64,") == len(FIGURES)

    bare = tmp_path / "bare"  # the same run without its reading
    shutil.copytree(tiny_run, bare, ignore=shutil.ignore_patterns("interpret", "report.*"))
    assert lab.load_reading(bare) is None
    assert cli.main(["report", str(bare)]) == 0
    md = (bare / "report.md").read_text()
    assert "## tiny (superposition)" in md and "Reading the trained networks" not in md and "interpret/" not in md


def test_a_stale_reading_is_shown_with_a_note(tiny_run):
    rows, meta = store.load_rows(tiny_run), store.read_meta(tiny_run)
    saved = lab.load_reading(tiny_run)
    assert saved["stale"] is None and saved["summary"]["networks"] == 4 and "reading" not in saved["summary"]
    assert [p.name for p in saved["figures"] if p.suffix == ".png"] == [f"{stem}.png" for stem in FIGURES]
    assert saved["text"] == (tiny_run / "interpret" / "interpret.md").read_text().rstrip("\n")
    resumed = lab.load_reading(tiny_run, rows=rows[:-1], meta=meta)  # as if the run had grown since
    assert f"{len(rows)} rows then, {len(rows) - 1} now" in resumed["stale"]
    other = lab.load_reading(tiny_run, rows=rows, meta={**meta, "digest": "0123"})
    assert "another spec" in other["stale"]
    note = interpretation.blocks(other, other["command"])[1]
    assert note.kind == "p" and note.content.startswith("**Stale reading:**") and other["command"] in note.content


def test_a_kind_without_a_reading_is_one_clear_error(tiny_run, capsys, monkeypatch):
    exp = experiment.get("superposition")
    monkeypatch.setitem(experiment._REGISTRY, "superposition", dataclasses.replace(exp, interpret=None))
    assert cli.main(["interpret", str(tiny_run)]) == 2
    assert "has no reading of its trained networks" in capsys.readouterr().err


def test_a_network_read_over_features_computes_what_the_trained_one_computed(tiny_run):
    """Inputs and outputs in superposition: the embedding and the decoder folded into the weights
    (interpret._train) give a raw-input network whose exact scores are the trained network's."""
    import jax.numpy as jnp

    from lab.experiments.superposition.scoring import feature_scores

    criterion = Criterion(epsilon=0.2)
    digest = store.read_meta(tiny_run)["digest"]
    found = interpret._load_cache(tiny_run / "interpret" / "params.npz", digest)
    assert len(found) == 4
    for entry in found.values():
        n, k = entry["b_in_N"].shape[0], entry["pairs"].shape[0]
        assert entry["w_in_MxN"].shape == (8, n) and entry["w_out_NxK"].shape == (n, k)
        params = {"w_in_DxN": jnp.asarray(entry["w_in_MxN"]), "b_in_N": jnp.asarray(entry["b_in_N"]),
                  "w_out_NxK": jnp.asarray(entry["w_out_NxK"]), "b_out_K": jnp.asarray(entry["b_out_K"])}
        scores = feature_scores(params, jnp.int32(n), jnp.asarray(entry["pairs"]), BooleanTask(m=8, s=2), None,
                                jax.random.key(0), criterion)
        np.testing.assert_allclose(np.asarray(scores["fnr"]), entry["fnr"], atol=1e-6)
        np.testing.assert_allclose(np.asarray(scores["fpr_max"]), entry["fpr"], atol=1e-6)
        np.testing.assert_allclose(np.asarray(scores["precision"]), entry["precision"], atol=1e-6)


def test_keep_params_stores_the_trained_networks_and_interpret_reads_them(train_tiny, tiny_run, monkeypatch):
    """[run] keep_params = true: every member's trained parameters land in RUN_DIR/params, its rows
    are unchanged, and `lab interpret` reads those networks instead of training again (they are the
    networks the re-training gives, up to float rounding)."""
    kept = train_tiny(TINY + "keep_params = true\n", "--no-analysis")
    rows = store.load_rows(kept)
    assert len(list((kept / "params").glob("*.npz"))) >= 1
    params = lab.load_params(kept)
    assert sorted(params) == sorted(r["id"] for r in rows)
    by_id = {r["id"]: r for r in rows}
    for mid, p in params.items():
        assert set(p) == {"w_in_DxN", "b_in_N", "w_out_NxK", "b_out_K"}
        assert p["w_in_DxN"].shape[0] == 6 and p["w_out_NxK"].shape[1] == 3 and p["w_in_DxN"].shape[1] >= by_id[mid]["n"]
    plain = {r["id"]: r for r in store.load_rows(tiny_run)}
    assert all(np.array_equal(r["fnr_final"], plain[r["id"]]["fnr_final"]) for r in rows)  # storing changes no result

    chosen = interpret.select(rows, seeds=[0], members=4)
    monkeypatch.setattr(interpret, "_train", lambda *a, **k: pytest.fail("trained although the run kept its parameters"))
    found = interpret.retrain(kept, chosen, store.read_meta(kept))
    monkeypatch.undo()
    again = interpret._train(chosen, store.read_meta(kept))
    for r in chosen:
        entry, fresh = found[r["id"]], again[r["id"]]
        for name in ("w_in_MxN", "b_in_N", "w_out_NxK", "b_out_K", "pairs"):
            assert entry[name].shape == fresh[name].shape
            np.testing.assert_allclose(entry[name], fresh[name], atol=1e-4)
    assert cli.main(["interpret", str(kept), "--members", "4", "--seeds", "0", "--tol", "0.2"]) == 0
    assert json.loads((kept / "interpret" / "interpret.json").read_text())["reproduced"]["agree"] == \
        json.loads((kept / "interpret" / "interpret.json").read_text())["reproduced"]["features"]
