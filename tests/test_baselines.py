"""The baselines beyond the paper (margin, least confidence, BADGE, TypiClust), each against a
hand computation or an independent float64 one."""

from __future__ import annotations

import torch

from dpe.acquisition import (gradient_embedding, kmeans, kmeans_pp_seeds, least_confidence, margin, score, typicality,
                             typiclust)


def test_margin_and_least_confidence_read_the_mean_prediction():
    # members' rows: image 0 (0.6, 0.3, 0.1) and (0.4, 0.5, 0.1) -> mean (0.5, 0.4, 0.1);
    # image 1 (0.2, 0.2, 0.6) and (0.2, 0.4, 0.4) -> mean (0.2, 0.3, 0.5)
    probs = torch.tensor([[[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]], [[0.4, 0.5, 0.1], [0.2, 0.4, 0.4]]])
    assert torch.allclose(margin(probs), torch.tensor([1 - (0.5 - 0.4), 1 - (0.5 - 0.3)], dtype=torch.float64))
    assert torch.allclose(least_confidence(probs), torch.tensor([0.5, 0.5], dtype=torch.float64))
    assert margin(probs).dtype == torch.float64
    assert torch.equal(score("margin", probs), margin(probs)) and torch.equal(score("LC", probs), least_confidence(probs))


def test_the_gradient_embedding_is_the_last_layers_cross_entropy_gradient_by_autograd():
    """BADGE's embedding against autograd: each member a linear layer W_e h + b_e on features h,
    the loss the cross-entropy at the ensemble's predicted label; d loss / d W_e per image."""
    g = torch.Generator().manual_seed(0)
    E, N, D, K = 3, 5, 4, 6
    h = torch.randn(E, N, D, generator=g, dtype=torch.float64)
    W = torch.randn(E, K, D, generator=g, dtype=torch.float64)
    b = torch.randn(E, K, generator=g, dtype=torch.float64)
    probs = (torch.einsum("enD,ekD->enk", h, W) + b[:, None]).softmax(-1)  # (E, N, K)
    label = probs.mean(0).argmax(-1)  # (N,)
    expected = []
    for n in range(N):
        weights = W.clone().requires_grad_(True)
        logits = torch.einsum("eD,ekD->ek", h[:, n], weights) + b  # (E, K)
        loss = torch.nn.functional.cross_entropy(logits, label[n].repeat(E), reduction="sum")
        (grad,) = torch.autograd.grad(loss, weights)  # (E, K, D)
        expected.append(grad.flatten())  # member 0's K x D first
    assert torch.allclose(gradient_embedding(h, probs), torch.stack(expected), atol=1e-12)


def test_badge_seeds_start_at_the_largest_norm_then_draw_by_squared_distance():
    """Unlabelled points (0, 20), a duplicate of it, (0, 17) and (0, 16); the labelled (0, 100) is
    never a seed. The first seed is (0, 20) (largest norm, first index); the second is (0, 17)
    with probability 9/25 and (0, 16) with 16/25 (squared distances 9 and 16), the duplicate never."""
    points = torch.tensor([[0.0, 20.0], [0.0, 20.0], [0.0, 17.0], [0.0, 16.0], [0.0, 100.0]])
    labeled = torch.tensor([False, False, False, False, True])
    draws = [kmeans_pp_seeds(points, labeled, 2, torch.Generator().manual_seed(s)).tolist() for s in range(2000)]
    assert all(d[0] == 0 for d in draws)
    seconds = torch.tensor([d[1] for d in draws])
    assert not (seconds == 1).any() and not (seconds == 4).any()
    assert abs(float((seconds == 2).double().mean()) - 9 / 25) < 0.035  # 4.6 standard errors
    assert sorted(kmeans_pp_seeds(points, labeled, 4, torch.Generator().manual_seed(0)).tolist()) == [0, 1, 2, 3]


def test_typicality_is_the_inverse_mean_distance_to_the_nearest_neighbours():
    # points 0, 1, 3, 7 on a line, 2 neighbours: mean distances 2, 1.5, 2.5, 5
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    assert torch.allclose(typicality(x, 2), torch.tensor([1 / 2, 1 / 1.5, 1 / 2.5, 1 / 5], dtype=torch.float64))


def test_kmeans_finds_two_separated_blobs():
    g = torch.Generator().manual_seed(1)
    blob = torch.randn(20, 2, generator=g) * 0.1
    x = torch.cat([blob, blob + 10])
    cluster = kmeans(x, 2, torch.Generator().manual_seed(3))
    assert len(set(cluster[:20].tolist())) == 1 and len(set(cluster[20:].tolist())) == 1 and cluster[0] != cluster[20]


def test_typiclust_picks_the_densest_point_of_the_cluster_with_fewest_labels_first():
    """Two blobs of 11 points on a line, at 0 and at 100, the first point of the second labelled,
    two clusters: the first pick is a point at 0 of the first blob (the most typical: its 5
    nearest at 0, 0, 1, 1, 2, mean 0.8, against 1.2 for -1), the first of the three; the second
    pick the first point at 100 of the other blob, the cluster with a label."""
    line = torch.tensor([-5.0, -4.0, -3.0, -2.0, -1.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0])
    x = torch.cat([line, line + 100]).unsqueeze(1)
    labeled = torch.zeros(22, dtype=torch.bool)
    labeled[11] = True  # 95
    assert typiclust(x, labeled, 1, torch.Generator().manual_seed(0)).tolist() == [5]
    assert typiclust(x, labeled, 2, torch.Generator().manual_seed(0), max_clusters=2).tolist() == [5, 16]


def _rounds(values: dict[str, list[float]]) -> "pd.DataFrame":
    """Three trials of each label: accuracy 0.5 at the shared 100 labels, ``values`` at 200."""
    import pandas as pd

    rows = [{"label": label, "run": f"{label}-{t}", "trial": t, "labeled": n, "accuracy": a, "diverged": False,
             "test_size": 1000, "steps": 500}
            for label, finals in values.items() for t, final in enumerate(finals) for n, a in ((100, 0.5), (200, final))]
    return pd.DataFrame(rows)


def test_each_baseline_is_read_against_dpe_h_ens_and_its_own_random_sampling_in_one_holm_family():
    """DPE + H_ens minus each method; each method minus random sampling with its own network
    (deterministic + BADGE against deterministic + R); Holm over every row together."""
    from dpe.study.baselines import NEW_METHODS, baseline_tests, tests_at
    from dpe.study.stats import holm
    from dpe.study.tables import p_text

    rounds = _rounds({"DPE + H_ens": [0.80, 0.82, 0.81], "DPE + R": [0.75, 0.76, 0.78], "DPE + margin": [0.79, 0.80, 0.80],
                      "deterministic + R": [0.70, 0.71, 0.69], "deterministic + BADGE": [0.72, 0.74, 0.72]})
    tests = baseline_tests(rounds, [200])
    got = {(r.method, r.versus): round(r.difference, 6) for r in tests.itertuples()}
    assert got == {("DPE + H_ens", "DPE + margin"): 0.013333, ("DPE + H_ens", "deterministic + BADGE"): 0.083333,
                   ("DPE + margin", "DPE + R"): 0.033333, ("deterministic + BADGE", "deterministic + R"): 0.026667}
    assert list(tests["p_holm"]) == holm(list(tests["p_paired"]))  # one family, not one per table
    shown = tests_at(tests, 200).set_index("method")
    assert list(shown.index) == NEW_METHODS  # every new method, "–" until it has run
    assert shown.loc["DPE + least confidence"].tolist() == ["–", "–"]
    assert shown.loc["DPE + margin", "over its random sampling, points [95 % CI]"].startswith("+3.33 [")
    assert ", 3 trials, " in shown.loc["DPE + margin", "over its random sampling, points [95 % CI]"]
    holm_p = tests.set_index(["method", "versus"]).loc[("DPE + margin", "DPE + R"), "p_holm"]
    assert f", Holm p {p_text(holm_p)}, " in shown.loc["DPE + margin", "over its random sampling, points [95 % CI]"]
