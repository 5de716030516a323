"""The robustness chapter's pieces against hand-worked cases: core-set (greedy k-center), MC
dropout, RandAugment, the paired test, curve AUC, labels-to-reach, verdicts and the grid."""

import json
import math
import random

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dpe import active
from dpe.acquisition import k_center_greedy, predictive_entropy
from dpe.config import ConfigError, make_config
from dpe.ensemble import Ensemble, build_ensemble
from dpe.study.grids import robustness_grid
from dpe.models import build_member
from dpe.study.robustness import curve_auc, labels_to_reach, paired_comparisons
from dpe.study.stats import verdict
from dpe.study.stats import paired_test
from dpe.images import Normalizer, rand_augment
from dpe.predict import pool_features, predict_probs, score_pool

NORM = Normalizer(torch.tensor([0.0]), torch.tensor([1 / 255]))  # uint8 x -> float x, unchanged


# --- core-set: greedy k-center (Sener & Savarese, 2018) -----------------------------------


def test_k_center_hand_worked_on_a_line():
    # points 0 1 2 10 11 5, point 0 labelled. Distances to the centres {0}: 0 1 2 10 11 5 -> pick
    # 11 (index 4); to {0, 11}: 0 1 2 1 0 5 -> pick 5 (index 5); to {0, 11, 5}: 0 1 2 1 0 0 -> 2.
    x = torch.tensor([[0.0], [1.0], [2.0], [10.0], [11.0], [5.0]])
    labeled = torch.tensor([True, False, False, False, False, False])
    assert k_center_greedy(x, labeled, 3).tolist() == [4, 5, 2]


def test_k_center_ties_go_to_the_lowest_index_and_labelled_points_are_never_picked():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]])  # index 3 duplicates a centre
    labeled = torch.tensor([True, False, False, False])
    assert k_center_greedy(x, labeled, 3).tolist() == [1, 2, 3]


def _k_center_reference(points, labeled, k):
    """Plain-Python greedy k-center in float64, from the definition."""
    centres = [p for p, is_labeled in zip(points, labeled) if is_labeled]
    picked = []
    for _ in range(k):
        best, best_d = None, -1.0
        for i, p in enumerate(points):
            if labeled[i] or i in picked:
                continue
            d = min(math.dist(p, c) for c in centres) if centres else math.inf
            if d > best_d:
                best, best_d = i, d
        picked.append(best)
        centres.append(points[best])
    return picked


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_k_center_matches_a_plain_python_reference(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(60, 5, generator=g)
    labeled = torch.rand(60, generator=g) < 0.2
    got = k_center_greedy(x, labeled, 12, chunk=4).tolist()  # a small chunk exercises the split
    assert got == _k_center_reference(x.double().tolist(), labeled.tolist(), 12)


def test_k_center_rejects_bad_k():
    x, labeled = torch.zeros(5, 2), torch.tensor([True, True, True, False, False])  # 3 labelled, 2 not
    with pytest.raises(ValueError, match=r"k=3 is invalid: choose 1 to 2 \(the unlabelled points\)"):
        k_center_greedy(x, labeled, 3)
    with pytest.raises(ValueError, match=r"k=0 is invalid"):
        k_center_greedy(x, labeled, 0)
    assert k_center_greedy(x, labeled, 1).tolist() == [3] and k_center_greedy(x, labeled, 2).tolist() == [3, 4]
    with pytest.raises(ValueError, match=r"features must be \(N, D\) and labeled \(N,\); got \(4,\), \(5,\)"):
        k_center_greedy(torch.zeros(4), labeled, 1)
    with pytest.raises(ValueError, match=r"got \(5, 2\), \(3,\)"):
        k_center_greedy(x, labeled[:3], 1)


def test_pool_features_put_members_side_by_side():
    ens = build_ensemble("preact-resnet18", 3, 10, 1, 4, seed=0)
    images = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    feats = pool_features(ens, images, NORM)  # (N, E*D)
    assert feats.shape == (5, 3 * 32)
    for e in range(3):  # member e alone, as a plain network
        net = build_member("preact-resnet18", 10, 1, 4, seed=0 * 1000 + e).eval()
        with torch.no_grad():
            alone = net.features(images.float())
        torch.testing.assert_close(feats[:, 32 * e : 32 * (e + 1)], alone, rtol=1e-4, atol=1e-5)


# --- MC dropout ---------------------------------------------------------------------------


def _toy_dropout_net(p: float = 0.5) -> Ensemble:
    """One member: flatten a 1x1x2 image [a, b], dropout p, identity classifier -> logits."""
    member = nn.Sequential(nn.Flatten(), nn.Dropout(p), nn.Linear(2, 2))
    with torch.no_grad():
        member[2].weight.copy_(torch.eye(2))
        member[2].bias.zero_()
    return Ensemble([member], channels_last=False)


def test_mc_dropout_passes_are_the_four_hand_worked_masks():
    # image [a, b] = [1, 3]; dropout 0.5 keeps each feature with prob 1/2, scaled by 2: the logits
    # of one pass are one of [0, 0], [2, 0], [0, 6], [2, 6], each with probability 1/4
    net, image = _toy_dropout_net(), torch.tensor([[[[1, 3]]]], dtype=torch.uint8)
    outcomes = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 6.0], [2.0, 6.0]]).softmax(-1)  # (4, K)
    torch.manual_seed(0)
    probs = predict_probs(net, image, NORM, mc_samples=4000)  # (T, 1, K)
    assert probs.shape == (4000, 1, 2)
    distance = (probs[:, 0, None, :] - outcomes[None]).abs().sum(-1)  # (T, 4)
    which = distance.argmin(1)
    assert distance.min(1).values.max() < 1e-6  # every pass is exactly one of the four
    share = torch.bincount(which, minlength=4) / 4000.0
    assert (share - 0.25).abs().max() < 0.03  # 4.4 standard deviations of a binomial share
    deterministic = predict_probs(net, image, NORM)  # eval mode: dropout off -> softmax([1, 3])
    torch.testing.assert_close(deterministic[0, 0], torch.tensor([1.0, 3.0]).softmax(-1))
    net.train()
    predict_probs(net, image, NORM, mc_samples=2)
    assert net.training and net.net[1].training


def test_mc_dropout_scores_are_the_entropy_of_the_mean_pass():
    net = build_ensemble("preact-resnet18", 1, 10, 1, 4, seed=3, dropout=0.25)
    images = torch.randint(0, 256, (7, 1, 28, 28), dtype=torch.uint8)
    torch.manual_seed(5)
    probs = predict_probs(net, images, NORM, mc_samples=6)  # (T, N, K)
    torch.manual_seed(5)
    scores = score_pool(net, images, NORM, "H_ens", mc_samples=6)
    mean = probs.double().mean(0)
    torch.testing.assert_close(scores, -torch.special.xlogy(mean, mean).sum(-1))
    assert (probs[0] - probs[1]).abs().max() > 1e-4  # the passes differ
    torch.testing.assert_close(scores, predictive_entropy(probs))


def test_mc_dropout_refuses_an_ensemble():
    with pytest.raises(ValueError, match="one network"):
        predict_probs(build_ensemble("preact-resnet18", 2, 10, 1, 4, seed=0), torch.zeros(1, 1, 28, 28, dtype=torch.uint8),
                      NORM, mc_samples=4)


def test_dropout_changes_no_weight_and_zero_dropout_changes_nothing():
    plain = build_member("preact-resnet18", 10, 1, 4, seed=7)
    dropped = build_member("preact-resnet18", 10, 1, 4, seed=7, dropout=0.3)
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())
    assert sum(isinstance(m, nn.Dropout) for m in dropped.modules()) == 8 + 1  # every block, classifier
    for (name, a), (_, b) in zip(plain.state_dict().items(), dropped.state_dict().items()):
        assert torch.equal(a, b), name
    x = torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(plain.eval()(x), dropped.eval()(x))  # eval: dropout is the identity


def test_mc_dropout_config():
    c = make_config("quick", model="mc-dropout", acquisition="H_ens")
    assert (c.members, c.dropout, c.mc_samples, c.regularizer) == (1, 0.25, 16, "l2")
    with pytest.raises(ConfigError, match="single network"):
        make_config("quick", model="mc-dropout", members=4)
    with pytest.raises(ConfigError, match="dropout rate above 0"):
        make_config("quick", model="mc-dropout", dropout=0.0)
    with pytest.raises(ConfigError, match="dropout=1.5"):
        make_config("quick", dropout=1.5)


def test_late_fields_keep_old_record_names():
    # the names of records committed before dropout, mc_samples and strong_augment existed (made
    # with the quick profile's round length of then: 32 images, 4 epochs, at least 60 steps)
    before = dict(batch_size=32, max_epochs=4, min_steps=60)
    assert make_config("quick", acquisition="R", **before).hash() == "c41c2b311375538a"
    assert make_config("quick", acquisition="H_ens", **before).hash() == "0617e3bca5a13ed4"
    assert "dropout" not in make_config("quick").to_dict()
    assert make_config("quick", strong_augment=True).hash() != make_config("quick").hash()
    assert make_config("quick", strong_augment=True).to_dict()["strong_augment"] is True


@pytest.mark.heavy
@pytest.mark.parametrize("overrides", [dict(model="mc-dropout", acquisition="H_ens"), dict(acquisition="coreset"),
                                       dict(acquisition="H_ens", strong_augment=True)])
def test_new_options_run_end_to_end(fmnist_root, tmp_path, overrides):
    config = make_config("smoke", schedule="sizes", sizes=(20, 40), **overrides)
    path = active.run(config, tmp_path, data_root=str(fmnist_root), progress=False)
    record = json.loads(path.read_text())
    assert record["finished"] and [r["labeled"] for r in record["rounds"]] == [20, 40]
    chosen = record["rounds"][0]["selected"]
    assert len(chosen) == len(set(chosen)) == 20 and not set(chosen) & set(record["initial"])
    again = json.loads(active.run(config, tmp_path / "again", data_root=str(fmnist_root), progress=False).read_text())
    assert again["rounds"][0]["selected"] == chosen  # reproducible, MC masks and RandAugment included
    assert again["rounds"][1]["accuracy"] == record["rounds"][1]["accuracy"]


# --- strong augmentation -----------------------------------------------------------------


def test_rand_augment_is_reproducible_and_keeps_shape_and_dtype():
    x = torch.randint(0, 256, (16, 1, 28, 28), dtype=torch.uint8)
    a = rand_augment(x, torch.Generator().manual_seed(1))
    b = rand_augment(x, torch.Generator().manual_seed(1))
    c = rand_augment(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and a.dtype == torch.uint8
    assert torch.equal(a, b) and not torch.equal(a, c)
    state = torch.get_rng_state()
    rand_augment(x, torch.Generator().manual_seed(3))
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is left as it was


# --- paired statistics, AUC, labels to reach, verdicts -------------------------------------


def test_paired_test_hand_worked():
    first = [0.70, 0.72, 0.68, 0.75, 0.71]
    second = [0.69, 0.70, 0.69, 0.71, 0.70]
    # d = .01 .02 -.01 .04 .01: mean .014, sd sqrt(.00132 / 4) = .0181659, se = sd / sqrt(5)
    test = paired_test(first, second)
    sd = math.sqrt(0.00132 / 4)
    se = sd / math.sqrt(5)
    assert test.n == 5
    assert test.mean_difference == pytest.approx(0.014)
    assert test.t == pytest.approx(0.014 / se)
    assert test.effect_size == pytest.approx(0.014 / sd)
    half = 2.776445 * se  # t_{0.975, 4} from a printed table
    assert (test.ci_low, test.ci_high) == (pytest.approx(0.014 - half, abs=1e-6), pytest.approx(0.014 + half, abs=1e-6))
    assert test.p == pytest.approx(0.15999, abs=2e-4)  # 2 P(T_4 > 1.7233), from a table
    assert not test.significant()


def test_paired_test_wilcoxon_exact_and_t_quantile():
    # 10 pairs, every difference positive and distinct: the exact two-sided signed-rank p is
    # 2 / 2^10 (only the all-positive sign pattern is as extreme, and its mirror)
    first = [0.5 + 0.01 * i for i in range(10)]
    second = [f - 0.001 * (i + 1) for i, f in enumerate(first)]
    test = paired_test(first, second)
    assert test.p_wilcoxon == pytest.approx(2 / 2**10)
    d = [0.001 * (i + 1) for i in range(10)]
    mean, sd = sum(d) / 10, float(np.std(d, ddof=1))
    assert test.ci_high - mean == pytest.approx(2.262157 * sd / math.sqrt(10), rel=1e-6)  # t_{0.975, 9}


def test_paired_test_pairing_matters_and_edge_cases():
    rng = random.Random(0)
    shared = [rng.gauss(0.7, 0.05) for _ in range(10)]  # trial effects both methods share
    first = [s + 0.01 + rng.gauss(0, 0.002) for s in shared]
    test = paired_test(first, shared)
    assert test.ci_low > 0 and test.p < 1e-4  # clear once paired, though the trial spread is 5x the gain
    same = paired_test([0.5, 0.6], [0.5, 0.6])
    assert (same.mean_difference, same.p, same.p_wilcoxon) == (0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="equal lengths"):
        paired_test([1, 2], [1])
    with pytest.raises(ValueError, match="at least 2"):
        paired_test([1], [1])


def test_curve_auc_and_labels_to_reach_hand_worked():
    labeled, acc = [100, 200, 400, 800], [0.5, 0.6, 0.7, 0.8]
    # trapezoids 100 * 0.55 + 200 * 0.65 + 400 * 0.75 = 485 over a span of 700
    assert curve_auc(labeled, acc) == pytest.approx(485 / 700)
    assert curve_auc(labeled[::-1], acc[::-1]) == pytest.approx(485 / 700)  # order does not matter
    assert curve_auc([100], [0.4]) == 0.4
    assert labels_to_reach(labeled, acc, 0.65) == pytest.approx(300)  # halfway from 200 to 400
    assert labels_to_reach(labeled, acc, 0.4) == 100
    assert labels_to_reach(labeled, acc, 0.8) == 800
    assert math.isnan(labels_to_reach(labeled, acc, 0.81))
    assert labels_to_reach([100, 200, 400], [0.7, 0.6, 0.8], 0.75) == pytest.approx(350)  # 200 + 0.15 / 0.2 * 200
    # the mean of (0.1, 0.2, 0.3) summed in two orders differs in its last bits: still reached at 400
    mean_a, mean_b = (0.1 + 0.2 + 0.3) / 3, (0.3 + 0.2 + 0.1) / 3
    assert mean_b < mean_a
    assert labels_to_reach([100, 400], [0.0, mean_b], mean_a) == 400


@pytest.mark.parametrize("ci, gain, reference, p_adjusted, expected", [
    ((-0.03, -0.01), -0.02, None, None, "reverses"),
    ((-0.03, -0.01), -0.02, None, 0.2, "inconclusive"),  # Holm: not significant among many tests
    ((-0.005, 0.008), 0.001, None, None, "vanishes"),  # within +-1 point
    ((-0.01, 0.01), 0.0, None, None, "vanishes"),
    ((-0.01, 0.02), 0.005, None, None, "inconclusive"),  # contains 0 but a 2-point gain is possible
    ((-0.0699, 0.0693), -0.0003, None, None, "inconclusive"),  # the audit's [-6.99, +6.93] points
    ((0.0, 0.02), 0.01, None, None, "inconclusive"),
    ((0.001, 0.02), 0.01, (0.03, 0.01, 0.05), None, "shrinks"),
    ((0.001, 0.02), 0.01, (0.03, 0.01, 0.05), 0.01, "shrinks"),
    ((0.001, 0.02), 0.01, (0.03, 0.01, 0.05), 0.06, "inconclusive"),
    ((0.001, 0.03), 0.02, (0.03, 0.01, 0.05), None, "holds"),
    ((0.001, 0.03), 0.02, None, None, "holds"),
    ((0.001, 0.02), 0.01, (0.03, -0.01, 0.07), None, "holds"),  # the reference did not hold: nothing shrank
    ((0.001, 0.02), 0.01, (-0.09, -0.13, -0.04), None, "holds"),  # the reference reversed
    ((0.001, 0.03), 0.02, None, 0.05, "inconclusive"),  # an adjusted p of exactly alpha is not under it
    ((0.001, 0.02), 0.01, (0.03, 0.0, 0.07), None, "holds"),  # a reference interval touching 0 did not hold
    ((0.001, 0.03), 0.02, (0.04, 0.01, 0.07), None, "holds"),  # exactly half the reference's gain has not shrunk
    ((-0.03, 0.0), -0.02, None, None, "inconclusive"),  # an interval ending at 0 is not below it
])
def test_verdicts(ci, gain, reference, p_adjusted, expected):
    assert verdict(*ci, gain, reference, p_adjusted) == expected


def test_paired_comparisons_pairs_by_trial():
    rows = []
    # method B beats A by 0.02 at the final round in every trial; the first rounds are equal
    for trial, base in enumerate([0.60, 0.70, 0.65]):
        for method, gain in (("A", 0.0), ("B", 0.02 + 0.001 * trial)):
            for labeled, acc in ((100, 0.5), (200, base + gain)):
                rows.append({"condition": "c", "method": method, "trial": trial, "run": f"{method}{trial}",
                             "labeled": labeled, "accuracy": acc})
    table = paired_comparisons(pd.DataFrame(rows), baseline="A")
    assert len(table) == 1
    row = table.iloc[0]
    assert row["method"] == "B" and row["trials"] == 3
    assert row["difference"] == pytest.approx(0.021)
    assert row["auc_difference"] == pytest.approx(0.021 / 2)  # half the span carries the gain
    assert row["ci_low"] > 0 and row["effect_size"] == pytest.approx(0.021 / 0.001)


def test_robustness_grid():
    grid = robustness_grid("smoke", "fashion-mnist", 2, [10, 40])
    labels = [label for label, _ in grid]
    assert len(grid) == 2 * (5 + 2 + 2 + 2)
    assert labels[:5] == [f"base (start 20, step 20) | {m}" for m in
                          ("DPE + R", "DPE + H_ens", "MC dropout + R", "MC dropout + H_ens", "DPE + core-set")]
    configs = dict(grid[:11])
    mc_random = configs["base (start 20, step 20) | MC dropout + R"]
    assert (mc_random.model, mc_random.acquisition, mc_random.members) == ("mc-dropout", "R", 1)
    assert configs["start 10, step 10 | DPE + R"].labeled_sizes() == [10, 20, 40, 80]
    assert configs["start 40, step 40 | DPE + H_ens"].labeled_sizes() == [40, 80]
    assert configs["strong augmentation | DPE + R"].strong_augment
    assert configs["base (start 20, step 20) | MC dropout + H_ens"].members == 1
    assert {c.trial for _, c in grid[:11]} == {0} and {c.trial for _, c in grid[11:]} == {1}  # trial-major


def test_cli_exposes_the_new_options(capsys):
    from dpe import cli

    assert cli.main(["run", "--profile", "smoke", "--model", "mc-dropout", "--members", "4"]) == 2
    assert "single network" in capsys.readouterr().err
    assert cli.main(["run", "--profile", "smoke", "--acquisition", "kcenter"]) == 2
    assert "'coreset'" in capsys.readouterr().err  # the error lists the valid names
    assert cli.main(["run", "--profile", "smoke", "--dropout", "0.3", "--arch", "resnet18"]) == 2
    assert "preact-resnet18 only" in capsys.readouterr().err


def test_curves_by_condition_draws_each_line_in_label_order():
    """Rows in any order (here 50 after 800) still give left-to-right lines."""
    from dpe.study import figures

    summary = pd.DataFrame({
        "condition": ["c"] * 3, "method": ["m"] * 3, "labeled": [100, 800, 50],
        "mean": [0.6, 0.7, 0.5], "ci_low": [0.5, 0.6, 0.4], "ci_high": [0.7, 0.8, 0.6],
    })
    fig = figures.curves_by_condition(summary, "t")
    line = fig.axes[0].lines[0]
    assert list(line.get_xdata()) == [50, 100, 800]
    assert np.allclose(line.get_ydata(), [50, 60, 70])
    figures.plt.close(fig)


# --- the chapter's tables (dpe.study.robustness), on a hand-built grid -----------------------

BASE, SMALL = "base (start 100, step 100)", "start 50, step 50"
FINAL = {  # accuracy at 200 labels in trial t: (intercept, slope in t); every run starts at 0.50 + 0.01 t
    (BASE, "DPE + R"): (0.60, 0.010), (BASE, "DPE + H_ens"): (0.64, 0.011), (BASE, "MC dropout + R"): (0.55, 0.010),
    (BASE, "MC dropout + H_ens"): (0.56, 0.011), (BASE, "DPE + core-set"): (0.61, 0.012),
    (SMALL, "DPE + R"): (0.60, 0.010), (SMALL, "DPE + H_ens"): (0.61, 0.011),
}


def _chapter_rounds() -> pd.DataFrame:
    rows = []
    for t in range(3):
        for (condition, method), (a, b) in FINAL.items():
            for labeled, acc in ((100, 0.50 + 0.01 * t), (200, a + b * t)):
                rows.append({"condition": condition, "method": method, "trial": t, "run": f"{condition}/{method}/{t}",
                             "labeled": labeled, "accuracy": acc, "round": labeled // 100 - 1, "steps": 500})
    return pd.DataFrame(rows)


def test_mean_interval_is_the_t_interval_of_the_mean():
    from dpe.study.robustness import mean_interval

    got = mean_interval(pd.Series([0.6, 0.7, 0.8]))
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t_{0.975, 2} from a table
    assert got["mean"] == pytest.approx(0.7) and got["trials"] == 3
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((0.7 - half, 0.7 + half), rel=1e-9)
    one = mean_interval(pd.Series([0.6]))
    assert one["mean"] == 0.6 and math.isnan(one["ci_low"]) and math.isnan(one["ci_high"])


def test_curve_summary_keeps_the_grid_order():
    from dpe.study.robustness import curve_summary

    summary = curve_summary(_chapter_rounds())
    assert list(zip(summary["condition"], summary["method"]))[::2] == list(FINAL)  # grid order, 2 sizes each
    assert summary["labeled"].tolist() == [100, 200] * len(FINAL)
    row = summary[(summary["method"] == "DPE + H_ens") & (summary["condition"] == BASE) & (summary["labeled"] == 200)].iloc[0]
    assert row["mean"] == pytest.approx(0.64 + 0.011) and row["trials"] == 3


def test_robustness_tests_compare_what_the_chapter_says_with_the_right_verdicts():
    from dpe.study.robustness import per_trial_differences, robustness_tests, test_sentence, tests_display
    from dpe.study.stats import holm, z_test_proportions

    rounds = _chapter_rounds()
    tests = robustness_tests(rounds, BASE, n_test=1000)
    assert tests["comparison"].tolist() == [
        f"{BASE}: DPE + H_ens vs DPE + R", f"{BASE}: DPE + core-set vs DPE + R", f"{SMALL}: DPE + H_ens vs DPE + R",
        f"{BASE}: MC dropout + H_ens vs MC dropout + R", f"{BASE}: DPE + H_ens vs MC dropout + H_ens",
        f"{BASE}: DPE + H_ens vs DPE + core-set",
    ]
    gains = [0.041, 0.012, 0.011, 0.011, 0.08, 0.029]  # mean over trials of the final-accuracy differences
    assert tests["difference"].tolist() == pytest.approx(gains)
    assert tests["auc_difference"].tolist() == pytest.approx([g / 2 for g in gains])  # the gain is at the end only
    assert tests["p_holm"].tolist() == pytest.approx(holm(list(tests["p"])))
    mean = lambda m, c=BASE: FINAL[(c, m)][0] + FINAL[(c, m)][1]  # noqa: E731 (mean over t = 0, 1, 2)
    z = z_test_proportions(mean("DPE + H_ens"), 3000, mean("DPE + R"), 3000).p
    assert tests["z_pooled_p"].iloc[0] == pytest.approx(z)
    verdicts = dict(zip(tests["comparison"], tests["verdict"]))
    assert verdicts[f"{BASE}: DPE + H_ens vs DPE + R"] == "holds"
    assert verdicts[f"{SMALL}: DPE + H_ens vs DPE + R"] == "shrinks"  # 0.011 is under half the base's 0.041
    assert verdicts[f"{BASE}: DPE + H_ens vs MC dropout + H_ens"] == "holds"

    per_trial = per_trial_differences(rounds, tests)
    first = per_trial[per_trial["comparison"] == tests["comparison"].iloc[0]]
    assert first["trial"].tolist() == [0, 1, 2] and first["difference"].tolist() == pytest.approx([0.04, 0.041, 0.042])
    shown = tests_display(tests)
    assert shown.loc[f"{BASE}: DPE + H_ens vs DPE + R", "gain (points)"] == pytest.approx(4.1)
    assert shown.loc[f"{BASE}: DPE + H_ens vs DPE + R", "verdict"] == "holds"
    sentence = test_sentence(next(tests.itertuples()))
    assert sentence.startswith(f"- **{BASE}: DPE + H_ens vs DPE + R**: +4.10 points") and "**holds**" in sentence


def test_label_efficiency_reads_random_samplings_final_accuracy():
    from dpe.study.robustness import label_efficiency

    eff = label_efficiency(_chapter_rounds()).set_index(["condition", "method"])
    target = 0.60 + 0.010  # DPE + R at 200 labels, mean of 3 trials
    assert eff["target"].tolist() == pytest.approx([target] * len(FINAL))
    # DPE + H_ens's mean curve: 0.51 at 100, 0.651 at 200: it reaches 0.61 at 100 + 100 * 0.10 / 0.141
    assert eff.loc[(BASE, "DPE + H_ens"), "labels"] == pytest.approx(100 + 100 * 0.10 / 0.141)
    assert eff.loc[(BASE, "DPE + R"), "labels"] == pytest.approx(200)
    assert math.isnan(eff.loc[(BASE, "MC dropout + R"), "labels"])  # 0.56 never reaches 0.61
    assert eff.loc[(BASE, "DPE + R"), "auc"] == pytest.approx((0.51 + 0.61) / 2)


def test_class_shares_average_each_runs_acquired_classes(tmp_path):
    from dpe.config import make_config
    from dpe.study.robustness import class_shares

    grid, paths = [], []
    for t, histograms in enumerate([[[1, 3]], [[4, 0], [4, 0]]]):  # trial 0: 1 of 4 labels of class a; trial 1: 8 of 8
        config = make_config("smoke", trial=t)
        paths.append(_record_with_histograms(tmp_path, config, histograms))
        grid.append((f"{BASE} | DPE + H_ens", config))
    shares = class_shares(grid, paths, ["a", "b"])
    # each run's share, then the mean over runs: (0.25 + 1) / 2 for a (pooled counts would give 9 / 12)
    assert shares.loc[(BASE, "DPE + H_ens")].tolist() == pytest.approx([0.625, 0.375])


def test_setting_note_names_the_scale_and_where_the_labels_went():
    from dpe.config import make_config
    from dpe.study.robustness import setting_note

    grid = [(f"{BASE} | {m}", make_config("quick", model="mc-dropout" if m.startswith("MC") else "dpe"))
            for m in ("DPE + R", "DPE + H_ens", "MC dropout + H_ens")]
    rounds = _chapter_rounds()
    shares = pd.DataFrame([[0.1] * 10, [0.2, 0.2, 0.2, 0.2, 0.05, 0.05, 0.05, 0.05, 0.0, 0.0]],
                          index=pd.MultiIndex.from_tuples([(BASE, "DPE + R"), (BASE, "DPE + H_ens")]),
                          columns=[f"c{i}" for i in range(10)])
    note = setting_note("quick", "fashion-mnist", grid, rounds, shares, BASE, 1000)
    assert note.startswith("These runs are the `quick` profile: a pool of 2,000 images of fashion-mnist")
    assert "500 to 500 SGD steps" in note and "1,000 test images" in note
    assert "puts 80 % of its acquired labels on its four most-acquired classes (c0, c1, c2, c3; random sampling: 40 %" in note
    assert "MC dropout (one network, dropout 0.25, T = 16) is at 51.0 % and the 4-member DPE at 51.0 %" in note


def test_mean_interval_of_two_trials_and_of_none():
    from dpe.study.robustness import mean_interval

    got = mean_interval(pd.Series([0.6, 0.8]))
    half = 12.706204736174707 * math.sqrt(0.02) / math.sqrt(2)  # t_{0.975, 1}, sd of (0.6, 0.8)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((0.7 - half, 0.7 + half), rel=1e-9)
    assert mean_interval(pd.Series([0.6, 0.8]), confidence=0.5)["ci_high"] == pytest.approx(0.8, rel=1e-9)  # t_{0.75,1} = 1
    empty = mean_interval(pd.Series([], dtype=float))
    assert empty["trials"] == 0 and math.isnan(empty["ci_low"])


def test_labels_to_reach_at_its_boundaries():
    # exactly at the first point, and at a later point reached exactly: no interpolation past it
    assert labels_to_reach([100, 200], [0.6, 0.7], 0.6) == 100
    assert labels_to_reach([100, 200, 400], [0.5, 0.6, 0.7], 0.6) == 200
    # 1e-12 below the target still reaches it; 1e-9 below does not
    assert labels_to_reach([100, 200], [0.6 - 1e-12, 0.7], 0.6) == 100
    assert labels_to_reach([100, 200], [0.6 - 1e-9, 0.6 + 1e-9], 0.6) == pytest.approx(150)
    assert labels_to_reach([100, 200], [0.7, 0.5], 0.6) == 100  # the first point already reaches it
    assert labels_to_reach([100, 200], [0.6, 0.5], 0.6) == 100  # reached exactly at the first point, then lost
    assert labels_to_reach([100, 200], [-1e-12, 1.0], 0.0) == 100  # exactly 1e-12 below: snapped, not interpolated


def test_curve_summary_is_in_grid_order_not_alphabetical_with_a_plain_index():
    from dpe.study.robustness import curve_summary

    rounds = _chapter_rounds()
    rounds = rounds[rounds["condition"] == SMALL].iloc[::-1]  # H_ens listed before R, 200 before 100
    summary = curve_summary(rounds)
    assert summary["method"].tolist() == ["DPE + H_ens", "DPE + H_ens", "DPE + R", "DPE + R"]
    assert summary["labeled"].tolist() == [100, 200, 100, 200]
    assert summary.index.tolist() == [0, 1, 2, 3] and "index" not in summary.columns
    assert list(summary.columns) == ["condition", "method", "labeled", "mean", "ci_low", "ci_high", "trials"]


def test_label_efficiency_reads_each_conditions_own_random_run_in_grid_order():
    from dpe.study.robustness import curve_auc, label_efficiency

    rounds = _chapter_rounds()
    rounds.loc[(rounds["condition"] == SMALL) & (rounds["method"] == "DPE + R") & (rounds["labeled"] == 200), "accuracy"] += 0.05
    rounds["auc"] = rounds.groupby("run")["accuracy"].transform(lambda a: curve_auc([100, 200], a.to_numpy()))
    eff = label_efficiency(rounds)
    assert list(eff.columns) == ["condition", "method", "target", "budget", "labels", "auc", "auc_low", "auc_high"]
    assert list(zip(eff["condition"], eff["method"])) == list(FINAL)  # grid order, not sorted
    assert eff[eff["condition"] == SMALL]["target"].tolist() == pytest.approx([0.66, 0.66])  # its own R: 0.61 + 0.05
    assert eff[eff["condition"] == BASE]["target"].tolist() == pytest.approx([0.61] * 5)
    assert eff["budget"].tolist() == [200] * len(FINAL)
    small_r = eff[(eff["condition"] == SMALL) & (eff["method"] == "DPE + R")].iloc[0]
    aucs = [(0.50 + 0.01 * t + 0.65 + 0.01 * t) / 2 for t in range(3)]  # this condition's runs only
    half = 4.302652729911275 * np.std(aucs, ddof=1) / math.sqrt(3)
    assert (small_r["auc"], small_r["auc_low"], small_r["auc_high"]) == pytest.approx((np.mean(aucs), np.mean(aucs) - half, np.mean(aucs) + half))


def test_class_shares_keep_grid_order_and_class_names(tmp_path):
    from dpe.config import make_config
    from dpe.study.robustness import class_shares

    grid, paths = [], []
    for i, (label, histogram) in enumerate([(f"{SMALL} | DPE + R", [1, 1]), (f"{BASE} | DPE + H_ens", [3, 1])]):
        config = make_config("smoke", trial=0, seed=i)  # two runs: two records
        paths.append(_record_with_histograms(tmp_path, config, [histogram]))
        grid.append((label, config))
    shares = class_shares(grid, paths, ["a", "b"])
    assert shares.index.tolist() == [(SMALL, "DPE + R"), (BASE, "DPE + H_ens")]  # grid order, not sorted
    assert list(shares.columns) == ["a", "b"] and shares.loc[(BASE, "DPE + H_ens")].tolist() == [0.75, 0.25]
    assert list(class_shares(grid, paths).columns) == [0, 1]  # no names: the histogram's class indices


def test_setting_note_word_for_word():
    from dpe.config import make_config
    from dpe.study.robustness import setting_note

    grid = [(f"{BASE} | {m}", make_config("quick", model="mc-dropout" if m.startswith("MC") else "dpe"))
            for m in ("DPE + R", "DPE + H_ens", "MC dropout + H_ens")]
    classes = [f"c{i}" for i in range(10)]
    dpe = [0.30, 0.20, 0.12, 0.10, 0.09, 0.08, 0.05, 0.04, 0.0245, 0.01]  # four most: 0.72; three least: 0.0745
    rnd = [0.05, 0.06, 0.07, 0.0845, 0.1, 0.1, 0.1, 0.14, 0.1345, 0.15]  # on those four: 0.2645; on those three: 0.4245
    shares = pd.DataFrame([rnd, dpe], index=pd.MultiIndex.from_tuples([(BASE, "DPE + R"), (BASE, "DPE + H_ens")]), columns=classes)
    note = setting_note("quick", "fashion-mnist", grid, _chapter_rounds(), shares, BASE, 1000)
    assert note == (
        "These runs are the `quick` profile: a pool of 2,000 images of fashion-mnist, a ResNet-18 of width 8, 4 members, "
        "the fast training protocol with 500 to 500 SGD steps a round (the Training to convergence chapter checks this "
        "length), and 1,000 test images. A verdict here says what happens *at this scale*; the same notebook runs the "
        "same grid at the paper's scale with `python -m dpe.study --profile paper --only robustness` on a GPU."
        "\n\n"
        "In the base condition DPE + H_ens puts 72 % of its acquired labels on its four most-acquired classes "
        "(c0, c1, c2, c3; random sampling: 26 % on the same classes) and 7 % on its three least-acquired "
        "(c7, c8, c9; random: 42 %)."
        "\n\n"
        "On the initial random set, before any acquisition, MC dropout (one network, dropout 0.25, T = 16) is at 51.0 % "
        "and the 4-member DPE at 51.0 %. MC dropout + H_ens is therefore also compared with MC dropout + R, the same "
        "network with random labels, so that the gap between the models does not pass for an effect of the acquisition."
    )
    whole = [(f"{BASE} | DPE + R", make_config("paper"))]
    rounds = _chapter_rounds()
    only_dpe = shares.drop(index=[(BASE, "DPE + R")])  # no random shares: no sentence about where labels went
    note = setting_note("paper", "fashion-mnist", whole, rounds[~rounds["method"].str.startswith("MC")], only_dpe, BASE, 10000)
    assert note.startswith("These runs are the `paper` profile: the whole training set as the pool of fashion-mnist, "
                           "a ResNet-18 of width 64, 8 members, the paper training protocol")
    assert "\n\n" not in note and "10,000 test images" in note


# --- the chapter's tables, column by column, on a grid built to reach every branch ----------

NOISY = {  # per trial t = 0, 1, 2: the final accuracy minus DPE + R's [0.60, 0.62, 0.61] in its condition
    (BASE, "DPE + H_ens"): [0.040, 0.042, 0.041], (BASE, "DPE + core-set"): [0.030, 0.034, 0.032],
    (BASE, "DPE + noisy 1"): [0.015, 0.030, 0.025], (BASE, "DPE + noisy 2"): [0.016, 0.031, 0.026],
    (SMALL, "DPE + H_ens"): [0.010, 0.012, 0.011], (SMALL, "DPE + core-set"): [0.017, 0.019, 0.018],
    (SMALL, "MC dropout + H_ens"): [0.020, 0.022, 0.021],  # over MC dropout + R, which only SMALL has
}


def _branching_rounds() -> pd.DataFrame:
    """Every run starts at 0.50 (so each AUC difference is half the final one); DPE + R and MC
    dropout + R end at 0.60, 0.62, 0.61 in trials 0, 1, 2."""
    finals = {(c, base): [0.60, 0.62, 0.61] for c, base in ((BASE, "DPE + R"), (SMALL, "DPE + R"), (SMALL, "MC dropout + R"))}
    for (condition, method), gains in NOISY.items():
        finals[(condition, method)] = [b + g for b, g in zip([0.60, 0.62, 0.61], gains)]
    order = [(BASE, "DPE + R"), (BASE, "DPE + H_ens"), (BASE, "DPE + core-set"), (BASE, "DPE + noisy 1"), (BASE, "DPE + noisy 2"),
             (SMALL, "DPE + R"), (SMALL, "DPE + H_ens"), (SMALL, "DPE + core-set"), (SMALL, "MC dropout + R"), (SMALL, "MC dropout + H_ens")]
    rows = []
    for condition, method in order:
        for t, final in enumerate(finals[(condition, method)]):
            for labeled, acc in ((100, 0.50), (200, final)):
                rows.append({"condition": condition, "method": method, "trial": t, "run": f"{condition}/{method}/{t}",
                             "labeled": labeled, "accuracy": acc})
    return pd.DataFrame(rows)


def test_robustness_tests_every_column_against_scipy_and_every_verdict_by_hand():
    """Differences, CIs, t, p, d_z and Wilcoxon p against scipy on the per-trial differences;
    Welch's t on the final accuracies; Holm over the 8 comparisons, which lifts the two noisy
    gains (unadjusted p ~0.03, CI above 0) over 0.05; "shrinks" read only against the same
    method's own base-condition gain over random sampling; no base gain for MC dropout, which
    the base condition lacks; nothing compared against MC dropout outside the base condition."""
    import scipy.stats

    from dpe.study.robustness import per_trial_differences, robustness_tests
    from dpe.study.stats import holm

    rounds = _branching_rounds()
    tests = robustness_tests(rounds, BASE, n_test=1000)
    comparisons = [f"{c}: {m} vs {'MC dropout + R' if m.startswith('MC') else 'DPE + R'}" for c, m in NOISY]
    assert tests["comparison"].tolist() == comparisons + [f"{BASE}: DPE + H_ens vs DPE + core-set"]
    assert tests.index.tolist() == list(range(8))
    differences = list(NOISY.values()) + [[a - b for a, b in zip(NOISY[(BASE, "DPE + H_ens")], NOISY[(BASE, "DPE + core-set")])]]
    base_finals = [0.60, 0.62, 0.61]
    for row, d, key in zip(tests.itertuples(), differences, list(NOISY) + [(BASE, "DPE + core-set")]):
        d = np.array(d)
        reference = base_finals if row.Index < 7 else [b + g for b, g in zip(base_finals, NOISY[key])]
        method = np.array(reference) + d
        half = scipy.stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
        assert row.trials == 3
        assert (row.method_acc, row.baseline_acc) == pytest.approx((method.mean(), np.mean(reference)), abs=1e-12)
        assert (row.difference, row.ci_low, row.ci_high) == pytest.approx((d.mean(), d.mean() - half, d.mean() + half), abs=1e-12)
        assert (row.t, row.p) == pytest.approx(tuple(scipy.stats.ttest_rel(method, reference)), rel=1e-6)
        assert row.effect_size == pytest.approx(d.mean() / d.std(ddof=1), rel=1e-6)
        assert row.p_wilcoxon == pytest.approx(scipy.stats.wilcoxon(d).pvalue)
        assert (row.auc_difference, row.auc_ci_low, row.auc_ci_high) == pytest.approx(
            (d.mean() / 2, (d.mean() - half) / 2, (d.mean() + half) / 2), abs=1e-12)
        assert (row.auc_t, row.auc_p, row.auc_effect_size) == pytest.approx((row.t, row.p, row.effect_size), rel=1e-6)
        assert row.auc_p_wilcoxon == pytest.approx(row.p_wilcoxon)
        assert row.welch_p == pytest.approx(scipy.stats.ttest_ind(method, reference, equal_var=False).pvalue, rel=1e-6)
    assert tests["p_holm"].tolist() == pytest.approx(holm(list(tests["p"])))
    assert tests["auc_p_holm"].tolist() == pytest.approx(holm(list(tests["auc_p"])))
    assert (tests["p"].iloc[2:4] < 0.05).all() and (tests["p_holm"].iloc[2:4] > 0.05).all()  # the grid does what it says
    # BASE: holds x2, the noisy pair inconclusive (Holm); SMALL: H_ens 0.011 is under half of BASE's 0.041
    # (shrinks), core-set 0.018 over half of BASE's core-set 0.032 (holds: not BASE's H_ens, the first
    # row); MC dropout: no base gain to shrink from; BASE H_ens vs core-set (0.009) is in the base: holds
    expected = ["holds", "holds", "inconclusive", "inconclusive", "shrinks", "holds", "holds", "holds"]
    assert tests["verdict"].tolist() == expected and tests["auc_verdict"].tolist() == expected

    per_trial = per_trial_differences(rounds, tests)
    assert per_trial.columns.tolist() == ["comparison", "trial", "difference", "auc_difference"]
    assert per_trial.index.tolist() == list(range(24)) and per_trial["trial"].tolist() == [0, 1, 2] * 8
    assert per_trial["difference"].tolist() == pytest.approx([x for d in differences for x in d], abs=1e-12)
    assert per_trial["auc_difference"].tolist() == pytest.approx([x / 2 for d in differences for x in d], abs=1e-12)


def test_robustness_tables_when_comparisons_are_missing():
    """With no MC dropout or core-set in the base condition there is nothing to compare DPE +
    H_ens with but random sampling; with one trial per run, nothing at all, and every table keeps
    its columns."""
    from dpe.study.robustness import per_trial_differences, robustness_tests

    rounds = _branching_rounds()
    two = rounds[rounds["method"].isin(["DPE + R", "DPE + H_ens"]) & (rounds["condition"] == BASE)]
    tests = robustness_tests(two, BASE, n_test=1000)
    assert tests["comparison"].tolist() == [f"{BASE}: DPE + H_ens vs DPE + R"] and tests.index.tolist() == [0]
    none = robustness_tests(two[two["trial"] == 0], BASE, n_test=1000)
    assert none.empty and {"z_pooled_p", "welch_p", "p_holm", "verdict", "auc_verdict"} <= set(none.columns)
    assert none["z_pooled_p"].dtype == none["welch_p"].dtype == np.float64
    empty = per_trial_differences(two, none)
    assert empty.empty and empty.columns.tolist() == ["comparison", "trial", "difference", "auc_difference"]


def test_paired_comparisons_columns_trial_counts_and_grouping():
    """Exactly the documented columns, even with no row; a method with 2 paired trials is
    compared and one with a single trial is skipped without stopping the others; ``by`` and
    ``group`` name the columns compared and grouped."""
    stats = ["difference", "ci_low", "ci_high", "t", "p", "effect_size", "p_wilcoxon", "p_equivalence"]
    columns = ["condition", "method", "baseline", "trials", "unmatched", "method_acc", "baseline_acc", *stats, *(f"auc_{c}" for c in stats)]
    rows = []
    for method, trials, gain in (("R", 3, 0.0), ("one", 1, 0.05), ("two", 2, 0.03), ("three", 3, 0.02)):
        for t in range(trials):
            for labeled, acc in ((100, 0.5), (200, 0.6 + 0.01 * t + gain + 0.001 * t * (method == "three"))):
                rows.append({"condition": "c", "method": method, "model": method, "setting": "c", "trial": t,
                             "run": f"{method}{t}", "labeled": labeled, "accuracy": acc})
    rounds = pd.DataFrame(rows)
    table = paired_comparisons(rounds, baseline="R")
    assert table.columns.tolist() == columns
    assert table["method"].tolist() == ["two", "three"] and table["trials"].tolist() == [2, 3]
    assert table["method_acc"].tolist() == pytest.approx([0.635, 0.6 + 0.01 + 0.02 + 0.001])
    assert table["baseline_acc"].tolist() == pytest.approx([0.605, 0.61])
    by_model = paired_comparisons(rounds.drop(columns="method"), baseline="R", by="model", group="setting")
    assert by_model.columns.tolist()[:2] == ["setting", "model"] and by_model["model"].tolist() == ["two", "three"]
    empty = paired_comparisons(rounds[rounds["trial"] == 0], baseline="R")
    assert empty.empty and empty.columns.tolist() == columns


def test_tests_display_and_test_sentence_word_for_word():
    from types import SimpleNamespace

    from dpe.study import robustness

    row = dict(comparison="c: A vs B", trials=3, difference=0.0123, ci_low=0.001, ci_high=0.0236, p=0.0456,
               effect_size=1.25, p_wilcoxon=0.25, p_holm=0.0912, z_pooled_p=1e-5, welch_p=0.0789,
               auc_difference=0.004, auc_ci_low=-0.001, auc_ci_high=0.009, verdict="holds", auc_verdict="inconclusive")
    shown = robustness.tests_display(pd.DataFrame([row]))
    assert shown.index.tolist() == ["c: A vs B"] and shown.index.name == "comparison"
    assert shown.iloc[0].to_dict() == {
        "trials": 3, "gain (points)": pytest.approx(1.23), "95 % CI": "[+0.10, +2.36]", "paired t p": "0.046",
        "d_z": 1.25, "Wilcoxon p": "0.25", "Holm p": "0.091", "Z pooled p": "< 1e-4", "Welch t p": "0.079",
        "AUC gain (points)": pytest.approx(0.4), "AUC 95 % CI": "[-0.10, +0.90]", "verdict": "holds", "AUC verdict": "inconclusive"}
    assert robustness.test_sentence(SimpleNamespace(**row)) == (
        "- **c: A vs B**: +1.23 points at the final budget (95 % CI [+0.10, +2.36], paired t p = 0.0456, d_z = +1.25, "
        "Wilcoxon p = 0.25; the paper's pooled Z-test p = 1e-05) -- **holds**; over the curve +0.40 points of AUC "
        "([-0.10, +0.90]) -- **inconclusive**.")
    zero = robustness.test_sentence(SimpleNamespace(**{**row, "z_pooled_p": 0.0}))
    assert "the paper's pooled Z-test p < 1e-300)" in zero


def test_a_run_resumed_in_another_dtype_pairs_with_nobody():
    """The AUC spans every round, so robustness pairs whole runs: trial 1 of "a" has a float32
    round after a bf16 one (resumed elsewhere) and is left out; trials 0 and 2 pair."""
    from dpe.study.robustness import paired_trials

    rows = []
    for method, run_numerics in (("a", ["fast bf16", "mixed", "fast bf16"]), ("b", ["fast bf16"] * 3)):
        for t in range(3):
            rows.append({"method": method, "trial": t, "run": f"{method}{t}", "labeled": 800, "accuracy": 0.8,
                         "run_numerics": run_numerics[t]})
    a, b = paired_trials(pd.DataFrame(rows), "a", "b")
    assert a.index.tolist() == b.index.tolist() == [0, 2]


def test_runs_resumed_elsewhere_pair_with_nobody_not_even_each_other():
    """Whole runs on one machine pair; a run trained on two machines ("mixed") pairs with none,
    not even another mixed run (their rounds need not have moved at the same place)."""
    from dpe.study.robustness import paired_trials

    machines = {"a": ["CPU: AMD EPYC", "mixed", "CPU: AMD EPYC", "CPU: AMD EPYC"],
                "b": ["CPU: AMD EPYC", "mixed", "CPU: Intel(R) Xeon(R) Processor", "CPU: AMD EPYC"]}
    rows = [{"method": m, "trial": t, "run": f"{m}{t}", "labeled": 800, "accuracy": 0.8, "run_numerics": "fast bf16",
             "run_machine": machines[m][t]} for m in machines for t in range(4)]
    a, b = paired_trials(pd.DataFrame(rows), "a", "b")
    assert a.index.tolist() == b.index.tolist() == [0, 3]


def _record_with_histograms(folder, config, histograms):
    """A valid record of ``config`` whose rounds selected ``histograms`` (one per round)."""
    from conftest import valid_record
    from dpe.records import record_path, save_record

    record = valid_record(config, rounds=len(histograms))
    for entry, histogram in zip(record["rounds"], histograms):
        entry["selection_histogram"] = histogram
    path = record_path(folder, config)
    save_record(path, record)
    return path
