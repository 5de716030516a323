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

Beyond the paper, the baselines of today's benchmarks (CDALBench, Werner et al. 2024; Lüth et
al. 2023): margin and least confidence score the members' mean prediction; BADGE (Ash et al.,
2020) seeds k-means++ on gradient embeddings of the last layer; TypiClust (Hacohen et al., 2022)
picks the most typical point of each uncovered k-means cluster -- here on the trained network's
own penultimate features, not on a self-supervised encoder as in its paper (none can be trained
or downloaded here).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

__all__ = [
    "ACQUISITIONS",
    "SET_ACQUISITIONS",
    "gradient_embedding",
    "k_center_greedy",
    "kmeans",
    "kmeans_pp_seeds",
    "least_confidence",
    "margin",
    "member_entropy",
    "mutual_information",
    "predictive_entropy",
    "random",
    "random_scores",
    "score",
    "top_k",
    "typicality",
    "typiclust",
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


# beyond the paper: the uncertainty baselines of today's benchmarks (module docstring)
def margin(probs: Tensor) -> Tensor:
    """Margin: one minus the gap between the two most probable classes of the members' mean
    prediction; higher means nearer the decision boundary."""
    top2 = _check(probs).mean(0).topk(2, dim=-1).values  # (N, 2)
    return 1.0 - (top2[:, 0] - top2[:, 1])


def least_confidence(probs: Tensor) -> Tensor:
    """Least confidence: one minus the largest class probability of the mean prediction."""
    return 1.0 - _check(probs).mean(0).max(-1).values


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
    "margin": margin,  # beyond the paper: the baselines of today's benchmarks
    "LC": least_confidence,
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


# ---------------------------------------------------------------------------------------------
# Beyond the paper, the set choices of today's benchmarks: BADGE and TypiClust (module docstring).

def gradient_embedding(features: Tensor, probs: Tensor) -> Tensor:
    """BADGE's embedding (Ash et al., 2020, Sec. 3): the gradient of the cross-entropy with
    respect to each member's last linear layer at the ensemble's predicted label y,
    (p_e - onehot(y)) (x) h_e, members side by side so that squared distances add over members.
    features (E, N, D) penultimate, probs (E, N, K) softmax -> (N, E*K*D), float64."""
    if features.shape[:2] != probs.shape[:2]:
        raise ValueError(f"features (E, N, D) and probs (E, N, K) disagree: {tuple(features.shape)}, {tuple(probs.shape)}")
    p, h = _check(probs), features.double()
    y = p.mean(0).argmax(-1)  # (N,) the hypothesised label
    g = p - torch.nn.functional.one_hot(y, p.shape[-1]).double()  # (E, N, K) d CE / d logits
    return (g.unsqueeze(-1) * h.unsqueeze(-2)).permute(1, 0, 2, 3).flatten(1)  # (N, E*K*D)


def kmeans_pp_seeds(points: Tensor, labeled: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """BADGE's choice (Ash et al., 2020, Alg. 1): k-means++ seeding on the unlabelled points --
    the first the one of largest norm, each next drawn (by ``generator``, on the CPU) with
    probability proportional to its squared distance to the nearest one chosen. points (N, D),
    labeled (N,) bool -> (k,) indices in the order picked."""
    _check_set(points, labeled, k)
    candidates = (~labeled).nonzero().squeeze(1)  # (U,)
    x = points[candidates].double()
    first = int(x.norm(dim=1).argmax())
    picked = [first]
    d2 = ((x - x[first]) ** 2).sum(1)  # (U,) to the nearest seed
    for _ in range(k - 1):
        weights = d2.clamp(min=0).cpu()
        if weights.sum() <= 0:  # every point left sits on a seed: any of them
            weights = torch.ones_like(weights)
            weights[picked] = 0
        i = int(torch.multinomial(weights, 1, generator=generator))
        picked.append(i)
        d2 = torch.minimum(d2, ((x - x[i]) ** 2).sum(1))
        d2[picked] = 0
    return candidates[torch.tensor(picked, device=candidates.device)]


def kmeans(x: Tensor, k: int, generator: torch.Generator, iterations: int = 100) -> Tensor:
    """Lloyd's k-means from a k-means++ start (float64): the cluster (N,) of each row of x (N, D).
    Stops when no assignment changes; an emptied cluster keeps its centre."""
    x = x.double()
    first = int(torch.randint(len(x), (1,), generator=generator))
    centres = [x[first]]
    d2 = ((x - x[first]) ** 2).sum(1)
    for _ in range(k - 1):
        weights = d2.cpu() if d2.sum() > 0 else torch.ones(len(x), dtype=torch.float64)
        i = int(torch.multinomial(weights, 1, generator=generator))
        centres.append(x[i])
        d2 = torch.minimum(d2, ((x - x[i]) ** 2).sum(1))
    centres = torch.stack(centres)  # (k, D)
    assignment = torch.cdist(x, centres).argmin(1)  # (N,)
    for _ in range(iterations):
        sums = torch.zeros_like(centres).index_add_(0, assignment, x)  # (k, D)
        counts = torch.bincount(assignment, minlength=k)  # (k,)
        centres[counts > 0] = sums[counts > 0] / counts[counts > 0].unsqueeze(1)
        new = torch.cdist(x, centres).argmin(1)
        if torch.equal(new, assignment):
            break
        assignment = new
    return assignment


def typicality(x: Tensor, neighbours: int) -> Tensor:
    """TypiClust's typicality (Hacohen et al., 2022, Eq. 4): the inverse of the mean Euclidean
    distance of each row of x (N, D) to its ``neighbours`` nearest other rows; (N,) float64."""
    x = x.double()
    d = torch.cdist(x, x)
    d.fill_diagonal_(torch.inf)
    return 1.0 / d.topk(neighbours, dim=1, largest=False).values.mean(1)


def typiclust(
    features: Tensor, labeled: Tensor, k: int, generator: torch.Generator,
    neighbours: int = 20, max_clusters: int = 500, min_cluster: int = 5,
) -> Tensor:
    """TypiClust (Hacohen et al., 2022, Alg. 1, as their code runs it): k-means of the whole pool
    into min(|L| + k, ``max_clusters``) clusters; the clusters of more than ``min_cluster``
    points in order of fewest labelled points, then largest; one pick per cluster in turn
    (cycling), the unlabelled point of highest ``typicality`` among the cluster's unlabelled
    points (with min(``neighbours``, n // 2) neighbours). features (N, D) -> (k,) indices."""
    _check_set(features, labeled, k)
    x = features.double()
    cluster = kmeans(x, min(int(labeled.sum()) + k, max_clusters, len(x)), generator)  # (N,)
    sizes = torch.bincount(cluster, minlength=int(cluster.max()) + 1)
    existing = torch.bincount(cluster[labeled], minlength=len(sizes))
    order = sorted((c for c in range(len(sizes)) if sizes[c] > min_cluster), key=lambda c: (int(existing[c]), -int(sizes[c]), c))
    order = order or sorted(range(len(sizes)), key=lambda c: -int(sizes[c]))  # a pool of tiny clusters
    free = ~labeled.clone()
    picked = []
    step = 0
    while len(picked) < k:
        c = order[step % len(order)]
        step += 1
        members = (free & (cluster == c)).nonzero().squeeze(1)
        if len(members) == 0:
            if not any((free & (cluster == o)).any() for o in order):
                order = sorted(range(len(sizes)), key=lambda o: -int(sizes[o]))  # only small clusters left
            continue
        best = members[0] if len(members) < 2 else members[int(typicality(x[members], min(neighbours, len(members) // 2)).argmax())]
        picked.append(int(best))
        free[best] = False
    return torch.tensor(picked, dtype=torch.long, device=features.device)


def _check_set(points: Tensor, labeled: Tensor, k: int) -> None:
    if points.ndim != 2 or labeled.shape != points.shape[:1]:
        raise ValueError(f"points must be (N, D) and labeled (N,); got {tuple(points.shape)}, {tuple(labeled.shape)}")
    if not 0 < k <= int((~labeled).sum()):
        raise ValueError(f"k={k} is invalid: choose 1 to {int((~labeled).sum())} (the unlabelled points)")


# name -> (what of the pool it reads, the choice): "features" are the ensemble's penultimate
# features (members side by side, ``dpe.predict.pool_features``), "gradients" BADGE's gradient
# embeddings (``dpe.predict.pool_gradient_embeddings``); each choice is (points (N, D), labeled
# (N,), k, generator) -> (k,) indices.
SET_ACQUISITIONS: dict[str, tuple[str, Callable[..., Tensor]]] = {
    "coreset": ("features", lambda points, labeled, k, generator: k_center_greedy(points, labeled, k)),
    "BADGE": ("gradients", kmeans_pp_seeds),
    "TypiClust": ("features", typiclust),
}
