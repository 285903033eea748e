"""What the attention figures draw beside the trained scorers, measured at a run's own settings: the
smallest exact construction (m = d_model) and the compressed construction's smallest D_K (m > d_model),
lab.experiments.attention.construction."""

from __future__ import annotations

import numpy as np

from lab.experiments.attention import construction


def overlay(rows: list[dict], success) -> dict:
    """The construction each (m, d_model, graph, m') of the run is to be compared with.

    m = d_model: the smallest exact construction (lab.experiments.attention.construction; recovery 1 in every
    context, tested): D_K = 2 for out-degree <= 1 (circle construction), else D_K = d_model
    (W_Q = Eᵀ A E, W_K = I), extra["exact"]. m > d_model:
    the smallest D_K at which the compressed construction succeeds, extra["construction"]; it needs
    several times the trained models' D_K, so sizes are searched on a geometric grid up to 4·d_model.
    """
    keys = ("m", "m_edges", "d_model", "dk")
    exact = {k: [] for k in keys}
    uncompressed = {(r["m"], r["d_model"], r["m_edges"], r["graph"] == "perm" or r.get("degree") == 1) for r in rows if r["m"] == r["d_model"]}
    for m, d_model, m_edges, function_graph in sorted(uncompressed):
        for k, v in zip(keys, (m, m_edges, d_model, 2 if function_graph else d_model)):
            exact[k].append(int(v))
    points = {k: [] for k in keys}
    searched = []  # compressed settings (m, d_model) searched, whether or not the construction succeeded
    for context in sorted({r["context"] for r in rows}):
        sub = [r for r in rows if r["context"] == context and r["m"] > r["d_model"]]
        if not sub:
            continue
        configs = sorted({(r["m"], r["d_model"], r["graph"], r["m_edges"]) for r in sub})
        top = 4 * max(r["d_model"] for r in sub)
        grid = sorted({int(r["dk"]) for r in sub} | set(np.unique(np.round(np.geomspace(1, top, 14)).astype(int)).tolist()))
        found = construction.construction_points(configs, dks=grid, context=context)
        for key in points:
            points[key] += found[key]
        searched += sorted({(int(r["m"]), int(r["d_model"]), 4 * int(r["d_model"])) for r in sub})
    out = {name: pts for name, pts in (("exact", exact), ("construction", points)) if pts["dk"]}
    if searched:
        out["construction_searched"] = {k: [s[i] for s in searched] for i, k in enumerate(("m", "d_model", "max_dk"))}
    return out
