"""Acquisition functions (Table 2 and Eq. 10) on member probabilities.

Every function takes ``probs`` of shape (E, N, K) -- E members, N samples, K classes, each row
a softmax output -- and returns scores of shape (N,), float64, where higher means more worth
labelling. The arithmetic runs in float64 whatever the input dtype.

The paper writes H_ens and H_cat with *sums* over members; we use the *mean*. For H_ens the sum
``s = E * p_mean`` gives ``-s.log(s) = E * (H(p_mean) - log E)``, a positive affine map of the
entropy of the mean; for H_cat the sum is E times the mean. Affine maps with a positive slope
preserve the ranking, so the top-b choice is exactly the paper's, and our values stay in nats
with MI = H_ens - H_cat >= 0 (the Jensen-Shannon divergence of the members).

Core-set selection (Sener & Savarese, 2018) is not a score per image but a choice of a set:
``k_center_greedy`` works on penultimate features and is registered in ``SET_ACQUISITIONS``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

__all__ = [
    "ACQUISITIONS",
    "SET_ACQUISITIONS",
    "k_center_greedy",
    "member_entropy",
    "mutual_information",
    "predictive_entropy",
    "random",
    "random_scores",
    "score",
    "top_k",
    "variance",
    "variation_ratio",
    "weighted_variance",
]


def _check(probs: Tensor) -> Tensor:
    """Validate (E, N, K) probabilities once and return them as float64."""
    if probs.ndim != 3:
        raise ValueError(f"probs must have shape (E, N, K); got shape {tuple(probs.shape)}")
    if not torch.isfinite(probs).all():
        raise ValueError("probs contain NaN or inf: the ensemble diverged; lower the lr or beta")
    return probs.double()


def _entropy(p: Tensor) -> Tensor:
    """Entropy in nats over the last axis, with 0 log 0 = 0."""
    return -torch.special.xlogy(p, p).sum(-1)


def predictive_entropy(probs: Tensor) -> Tensor:
    """H_ens (Eq. 9): entropy of the members' mean prediction, in nats."""
    return _entropy(_check(probs).mean(0))  # (N,)


def member_entropy(probs: Tensor) -> Tensor:
    """H_cat (Table 2): mean over members of each member's entropy, in nats."""
    return _entropy(_check(probs)).mean(0)  # (E, N) -> (N,)


def mutual_information(probs: Tensor) -> Tensor:
    """MI (Table 2): H_ens - H_cat, the members' disagreement (epistemic part), in nats."""
    return predictive_entropy(probs) - member_entropy(probs)


def variance(probs: Tensor) -> Tensor:
    """V (Table 2): sum over classes of the population variance over members."""
    return _check(probs).var(0, correction=0).sum(-1)  # (N, K) -> (N,)


def weighted_variance(probs: Tensor, weights: Tensor) -> Tensor:
    """V_w (Eq. 10): class-weighted sum of the variance over members; ``weights`` is (K,)."""
    probs = _check(probs)
    weights = torch.as_tensor(weights, dtype=torch.float64, device=probs.device)
    if weights.shape != probs.shape[-1:]:
        raise ValueError(
            f"weights must have shape ({probs.shape[-1]},), one per class; got {tuple(weights.shape)}"
        )
    return probs.var(0, correction=0) @ weights  # (N, K) @ (K,) -> (N,)


def variation_ratio(probs: Tensor) -> Tensor:
    """VR (Table 2): 1 - f_m / E, f_m the number of members voting for the modal class.

    Ties between classes with equally many votes go to the lowest class index; f_m is the
    same whichever tied class is the mode, so the score does not depend on that choice.
    """
    probs = _check(probs)
    E, _, K = probs.shape
    votes = probs.argmax(-1)  # (E, N), first maximum on ties
    counts = torch.nn.functional.one_hot(votes, K).sum(0)  # (N, K)
    return 1.0 - counts.max(-1).values.double() / E


def random_scores(n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> Tensor:
    """R: ``n`` uniform random scores in float64, drawn on the CPU by ``generator`` and moved to
    ``device``: random sampling, the baseline. The loops call it without predicting anything."""
    return torch.rand(n, generator=generator, dtype=torch.float64).to(device)


def random(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """R as a function of probabilities (E, N, K), which it does not look at."""
    return random_scores(probs.shape[1], generator, probs.device)


ACQUISITIONS: dict[str, Callable[..., Tensor]] = {
    "R": random,
    "H_ens": predictive_entropy,
    "H_cat": member_entropy,
    "MI": mutual_information,
    "V": variance,
    "VR": variation_ratio,
    "V_w": weighted_variance,
}


def score(
    name: str,
    probs: Tensor,
    *,
    generator: torch.Generator | None = None,
    weights: Tensor | None = None,
) -> Tensor:
    """Scores (N,) of the acquisition called ``name`` (a key of ACQUISITIONS)."""
    if name not in ACQUISITIONS:
        raise ValueError(f"unknown acquisition {name!r}; choose one of {sorted(ACQUISITIONS)}")
    if name == "R":
        return random(probs, generator)
    if name == "V_w":
        if weights is None:
            raise ValueError("acquisition 'V_w' needs class weights (one per class)")
        return weighted_variance(probs, weights)
    return ACQUISITIONS[name](probs)


def top_k(scores: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """Indices (k,) of the ``k`` highest of ``scores`` (N,), ties broken uniformly at random.

    Scores tie often: with E members variation ratio takes only E values, and a saturated
    ensemble gives many pool images the same entropy to the last bit. Taking the lowest index
    among equals would fill a round from the start of the pool, so the candidates are shuffled
    (by ``generator``, on the CPU) before a stable sort."""
    if not 0 <= k <= len(scores):
        raise ValueError(f"k={k} is invalid: choose 0 to {len(scores)} (the scored images)")
    shuffle = torch.randperm(len(scores), generator=generator).to(scores.device)  # (N,)
    order = torch.sort(scores[shuffle], descending=True, stable=True).indices  # (N,) into shuffle
    return shuffle[order[:k]]


def k_center_greedy(features: Tensor, labeled: Tensor, k: int, chunk: int = 4096) -> Tensor:
    """Core-set selection (Sener & Savarese, 2018, Alg. 1): the greedy 2-approximation of the
    k-center problem. Each of ``k`` steps picks the unlabelled point farthest (Euclidean) from
    every labelled or already picked point, so the chosen set covers the pool in feature space.

    features (N, D), labeled (N,) bool; returns (k,) indices in the order picked. Distances are
    float64; ties go to the lowest index. With no labelled point, the first pick is index 0."""
    if features.ndim != 2 or labeled.shape != features.shape[:1]:
        raise ValueError(f"features must be (N, D) and labeled (N,); got {tuple(features.shape)}, {tuple(labeled.shape)}")
    if not 0 < k <= int((~labeled).sum()):
        raise ValueError(f"k={k} is invalid: choose 1 to {int((~labeled).sum())} (the unlabelled points)")
    x = features.double()
    nearest = torch.full((len(x),), torch.inf, dtype=torch.float64, device=x.device)  # (N,) to the centres
    for centres in x[labeled].split(chunk):  # (c, D)
        nearest = torch.minimum(nearest, torch.cdist(x, centres).min(1).values)
    nearest[labeled] = -1.0  # never re-picked (a duplicate of a centre is at distance 0 > -1)
    picked = []
    for _ in range(k):
        i = int(nearest.argmax())  # first maximum on ties
        picked.append(i)
        nearest = torch.minimum(nearest, torch.cdist(x, x[i : i + 1]).squeeze(1))  # (N,)
        nearest[i] = -1.0
    return torch.tensor(picked, dtype=torch.long, device=features.device)


SET_ACQUISITIONS: dict[str, Callable[..., Tensor]] = {
    "coreset": k_center_greedy,  # on the ensemble's penultimate features (members concatenated)
}
