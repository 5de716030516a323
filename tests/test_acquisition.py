"""Acquisition functions against float64 numpy references and hand-worked cases."""

import numpy as np
import pytest
import torch

from dpe import acquisition as acq


def random_probs(E=5, N=7, K=4, seed=0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(E, N, K)) * 2
    p = np.exp(logits)
    return p / p.sum(-1, keepdims=True)


def np_entropy(p):
    return -(p * np.log(p)).sum(-1)


@pytest.fixture
def probs():
    return random_probs()


def test_predictive_entropy_matches_numpy(probs):
    expected = np_entropy(probs.mean(0))
    np.testing.assert_allclose(acq.predictive_entropy(torch.tensor(probs)).numpy(), expected, rtol=1e-12)


def test_member_entropy_matches_numpy(probs):
    expected = np_entropy(probs).mean(0)
    np.testing.assert_allclose(acq.member_entropy(torch.tensor(probs)).numpy(), expected, rtol=1e-12)


def test_mutual_information_is_difference_and_nonnegative(probs):
    mi = acq.mutual_information(torch.tensor(probs)).numpy()
    np.testing.assert_allclose(mi, np_entropy(probs.mean(0)) - np_entropy(probs).mean(0), rtol=1e-10)
    assert (mi >= 0).all()


def test_variance_is_sum_of_population_variances(probs):
    expected = probs.var(0, ddof=0).sum(-1)
    np.testing.assert_allclose(acq.variance(torch.tensor(probs)).numpy(), expected, rtol=1e-12)


def test_weighted_variance_with_one_hot_weight_is_that_class_variance(probs):
    w = np.array([0.0, 0.0, 1.0, 0.0])
    scores = acq.weighted_variance(torch.tensor(probs), torch.tensor(w)).numpy()
    np.testing.assert_allclose(scores, probs[:, :, 2].var(0), rtol=1e-12)
    np.testing.assert_array_equal(np.argsort(-scores, kind="stable"), np.argsort(-probs[:, :, 2].var(0), kind="stable"))
    w2 = np.array([0.5, 1.0, 2.0, 0.0])
    np.testing.assert_allclose(
        acq.weighted_variance(torch.tensor(probs), torch.tensor(w2)).numpy(), probs.var(0) @ w2, rtol=1e-12
    )


def test_variation_ratio_hand_worked():
    # 4 members, 3 classes; member votes per sample given by one-hot-ish probabilities
    votes = [[0, 0, 0, 0], [0, 0, 1, 2], [1, 1, 2, 2], [2, 1, 0, 2]]  # (N, E)
    probs = torch.full((4, 4, 3), 0.1)
    for n, vs in enumerate(votes):
        for e, k in enumerate(vs):
            probs[e, n, k] = 0.8
    # modal counts 4, 2, 2 (tie 1 vs 2), 2 -> VR = 0, 0.5, 0.5, 0.5
    np.testing.assert_allclose(acq.variation_ratio(probs).numpy(), [0.0, 0.5, 0.5, 0.5])


def test_scores_are_float64_even_for_float32_input(probs):
    p32 = torch.tensor(probs, dtype=torch.float32)
    for name in ("H_ens", "H_cat", "MI", "V", "VR"):
        assert acq.score(name, p32).dtype == torch.float64


def test_mean_forms_rank_like_the_papers_sums(probs):
    """Table 2 writes H_ens and H_cat with sums over members; the ranking must be the same."""
    E = probs.shape[0]
    s = probs.sum(0)
    paper_h_ens = -(s * np.log(s)).sum(-1)
    paper_h_cat = np_entropy(probs).sum(0)
    ours_h_ens = acq.predictive_entropy(torch.tensor(probs)).numpy()
    ours_h_cat = acq.member_entropy(torch.tensor(probs)).numpy()
    np.testing.assert_array_equal(np.argsort(-paper_h_ens), np.argsort(-ours_h_ens))
    np.testing.assert_array_equal(np.argsort(-paper_h_cat), np.argsort(-ours_h_cat))
    np.testing.assert_allclose(paper_h_ens, E * (ours_h_ens - np.log(E)), rtol=1e-10)


def test_entropy_handles_exact_zeros():
    probs = torch.tensor([[[1.0, 0.0], [0.5, 0.5]], [[1.0, 0.0], [0.5, 0.5]]])
    np.testing.assert_allclose(acq.predictive_entropy(probs).numpy(), [0.0, np.log(2)])


def test_registry_has_the_papers_symbols_and_todays_baselines():
    assert set(acq.ACQUISITIONS) == {"R", "H_ens", "H_cat", "MI", "V", "VR", "V_w", "margin", "LC"}
    assert {name: reads for name, (reads, _) in acq.SET_ACQUISITIONS.items()} == {
        "coreset": "features", "BADGE": "gradients", "TypiClust": "features"}


def np_variation_ratio(p):
    votes = p.argmax(-1)  # (E, N)
    counts = np.stack([(votes == k).sum(0) for k in range(p.shape[-1])], -1)  # (N, K)
    return 1 - counts.max(-1) / p.shape[0]


@pytest.mark.parametrize("name, formula", [
    ("H_ens", lambda p, w: np_entropy(p.mean(0))),
    ("H_cat", lambda p, w: np_entropy(p).mean(0)),
    ("MI", lambda p, w: np_entropy(p.mean(0)) - np_entropy(p).mean(0)),
    ("V", lambda p, w: p.var(0).sum(-1)),
    ("VR", lambda p, w: np_variation_ratio(p)),
    ("V_w", lambda p, w: p.var(0) @ w),
])
def test_every_registry_name_scores_by_its_own_formula(name, formula):
    """Each name, through ``score`` and the registry, against its float64 formula, on
    probabilities where every pair of formulas disagrees (a swapped entry fails here)."""
    p = random_probs(E=6, N=40, K=4, seed=3)
    w = np.array([0.3, 1.0, 2.0, 0.5])
    expected = formula(p, w)
    np.testing.assert_allclose(acq.score(name, torch.tensor(p), weights=torch.tensor(w)).numpy(), expected, rtol=1e-10, atol=1e-12)
    if name != "V_w":
        np.testing.assert_allclose(acq.ACQUISITIONS[name](torch.tensor(p)).numpy(), expected, rtol=1e-10, atol=1e-12)


def test_weighted_variance_takes_weights_of_any_numeric_kind(probs):
    """Weights given as a list of ints (as a config holds them) are used as float64."""
    expected = probs.var(0) @ np.array([0.0, 0.0, 1.0, 2.0])
    np.testing.assert_allclose(acq.weighted_variance(torch.tensor(probs), [0, 0, 1, 2]).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(acq.score("V_w", torch.tensor(probs), weights=(0, 0, 1, 2)).numpy(), expected, rtol=1e-12)
    with pytest.raises(ValueError, match=r"shape \(4,\), one per class; got \(3,\)"):  # K = 4, not N = 7
        acq.weighted_variance(torch.tensor(probs), [1, 1, 1])


def test_random_scores_land_on_the_asked_device():
    """Drawn on the CPU (the same numbers everywhere), then moved: "meta" stands for a GPU here."""
    assert acq.random_scores(3, torch.Generator().manual_seed(0), "meta").device.type == "meta"
    assert acq.random(torch.zeros(2, 5, 3, device="meta"), torch.Generator().manual_seed(0)).device.type == "meta"


def test_random_scores_are_uniform_draws_of_their_generator():
    a = acq.random_scores(1000, torch.Generator().manual_seed(5))
    assert a.dtype == torch.float64 and torch.equal(a, torch.rand(1000, generator=torch.Generator().manual_seed(5), dtype=torch.float64))
    assert 0.45 < a.mean().item() < 0.55 and a.min() >= 0 and a.max() < 1
    assert torch.equal(acq.random(torch.zeros(2, 1000, 3), torch.Generator().manual_seed(5)), a)


def test_random_is_reproducible_with_a_generator(probs):
    p = torch.tensor(probs)
    a = acq.score("R", p, generator=torch.Generator().manual_seed(3))
    b = acq.score("R", p, generator=torch.Generator().manual_seed(3))
    assert a.shape == (7,) and torch.equal(a, b)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: acq.score("entropy", torch.rand(2, 3, 4)), "unknown acquisition"),
        (lambda: acq.score("V_w", torch.rand(2, 3, 4)), "needs class weights"),
        (lambda: acq.weighted_variance(torch.rand(2, 3, 4), torch.ones(3)), "one per class"),
        (lambda: acq.predictive_entropy(torch.rand(3, 4)), "shape"),
        (lambda: acq.variance(torch.full((2, 3, 4), float("nan"))), "NaN"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_top_k_takes_the_highest_scores_and_breaks_ties_at_random():
    scores = torch.tensor([0.1, 0.9, 0.5, 0.5, 0.5, 0.5, 0.2, 0.9], dtype=torch.float64)
    # k = 4: both 0.9s (indices 1, 7), then 2 of the four tied 0.5s (indices 2-5)
    picks = [set(acq.top_k(scores, 4, torch.Generator().manual_seed(s)).tolist()) for s in range(200)]
    assert all({1, 7} < p and len(p) == 4 and p - {1, 7} <= {2, 3, 4, 5} for p in picks)
    counts = np.bincount([i for p in picks for i in p - {1, 7}], minlength=8)[2:6]
    # each tied index is taken with probability 1/2: 100 of 200 expected, sd sqrt(200 / 4) ~ 7
    assert counts.min() > 70 and counts.max() < 130  # the lowest index would win every time on a stable sort
    assert acq.top_k(scores, 2, torch.Generator().manual_seed(0)).sort().values.tolist() == [1, 7]
    assert acq.top_k(scores, 0, torch.Generator()).numel() == 0
    assert sorted(acq.top_k(scores, 8, torch.Generator()).tolist()) == list(range(8))  # k = N: the whole pool
    with pytest.raises(ValueError, match="k=9"):
        acq.top_k(scores, 9, torch.Generator())


def test_top_k_with_variation_ratio_ties_spreads_over_the_pool():
    # E = 4 members: VR takes 4 values, so a 2000-image pool is a few big ties; the picks must
    # not come from the start of the pool (the audit found 96 % from its first half)
    votes = torch.randint(0, 3, (4, 2000), generator=torch.Generator().manual_seed(1))
    probs = torch.nn.functional.one_hot(votes, 10).double() * 0.9 + 0.01
    scores = acq.variation_ratio(probs)
    picked = acq.top_k(scores, 100, torch.Generator().manual_seed(0))
    assert (scores[picked] >= scores.sort(descending=True).values[99]).all()
    assert 0.3 < (picked < 1000).double().mean() < 0.7


def test_top_k_ties_follow_the_generators_shuffle_alone():
    """Among tied scores the picks are those first in torch.randperm(N, generator) (the shuffle
    a stable sort keeps), worked out independently; the global RNG plays no part."""
    scores = torch.tensor([0.5] * 6 + [0.9, 0.1], dtype=torch.float64)
    for seed in range(20):
        perm = torch.randperm(8, generator=torch.Generator().manual_seed(seed)).tolist()
        tied_first = [i for i in perm if i < 6][:2]
        torch.manual_seed(1000 + seed)  # the global RNG moves; the picks must not
        picks = acq.top_k(scores, 3, torch.Generator().manual_seed(seed)).tolist()
        assert picks == [6] + tied_first
