"""The KL penalty (Eq. 7) and the L2 penalty against float64 references."""

import math

import numpy as np
import pytest
import torch

from dpe.ensemble import build_ensemble
from dpe.regularizers import VARIANCE_EPS, gaussian_kl, kl_penalty, l2_penalty


def np_kl(values: np.ndarray, mu_p: float, var_p: float) -> float:
    m = values.mean(0)
    s2 = values.var(0) + VARIANCE_EPS
    return float((np.log(s2) + var_p / s2 + (m - mu_p) ** 2 / s2).sum())


def test_gaussian_kl_hand_worked():
    # members 1 and 3: m = 2, s^2 = 1; prior N(0, 2): log 1 + 2/1 + 4/1 = 6 (up to the eps guard)
    values = torch.tensor([[1.0], [3.0]], dtype=torch.float64)
    assert gaussian_kl(values, 0.0, 2.0).item() == pytest.approx(6.0, abs=1e-6)


def test_gaussian_kl_matches_numpy_float64():
    values = np.random.default_rng(0).normal(0.3, 0.2, size=(8, 5, 3, 3))
    got = gaussian_kl(torch.tensor(values), 0.1, 0.05).item()
    assert got == pytest.approx(np_kl(values, 0.1, 0.05), rel=1e-12)


def test_gaussian_kl_equals_twice_eq6_up_to_constants():
    """Eq. 7 is 2 KL(q||p) (Eq. 6) minus terms independent of q: 2 KL = ours - log var_p - 1."""
    values = np.random.default_rng(1).normal(0.5, 0.3, size=(6, 10))
    m, s2 = values.mean(0), values.var(0) + VARIANCE_EPS  # the same guarded variance
    mu_p, var_p = 0.2, 0.04
    kl = 0.5 * (np.log(s2 / var_p) + (var_p + (m - mu_p) ** 2) / s2 - 1)  # Eq. 6 with q, p swapped as in the paper
    ours = gaussian_kl(torch.tensor(values), mu_p, var_p).item()
    assert ours == pytest.approx(float((2 * kl + np.log(var_p) + 1).sum()), rel=1e-12)


def test_gaussian_kl_needs_two_members():
    with pytest.raises(ValueError, match="at least 2 member"):
        gaussian_kl(torch.zeros(1, 3), 0.0, 1.0)


def test_kl_penalty_sums_every_parameter_with_its_he_prior():
    ens = build_ensemble("preact-resnet18", 3, 10, 1, 2, seed=0).double()
    expected, seen = 0.0, 0
    for name, p in ens.net.named_parameters():
        module = ens.net.get_submodule(name.rsplit(".", 1)[0])
        values = p.detach().numpy().reshape(3, -1)
        if name.endswith("bias"):
            prior = (0.0, 0.01)
        elif isinstance(module, torch.nn.BatchNorm2d):
            prior = (1.0, 0.01)
        elif isinstance(module, torch.nn.Conv2d):
            n_out = module.out_channels // 3  # per member
            prior = (0.0, 2.0 / (n_out * module.kernel_size[0] * module.kernel_size[1]))
        else:  # the classifier, a GroupedLinear: 2 / n_out
            prior = (0.0, 2.0 / p.shape[1])
        expected += np_kl(values, *prior)
        seen += 1
    assert seen == len(list(ens.parameters()))
    assert kl_penalty(ens).item() == pytest.approx(expected, rel=1e-10)


def test_kl_gradient_reaches_every_member_and_matches_analytic():
    ens = build_ensemble("preact-resnet18", 4, 10, 1, 2, seed=0).double()
    kl_penalty(ens).backward()
    weight = ens.net.stem.weight  # (E * 2, 1, 3, 3): member e owns rows 2e, 2e+1
    grad = weight.grad.view(4, -1)
    assert all(grad[e].abs().sum() > 0 for e in range(4))
    # analytic d/dw_e of log s2 + (v + (m - mu)^2) / s2, with s2 = var + eps, m = mean
    w = weight.detach().view(4, -1).numpy()
    E, var_p = 4, 2.0 / (2 * 9)
    m, s2 = w.mean(0), w.var(0) + VARIANCE_EPS
    c = var_p + m**2
    analytic = (2 * (w - m) / E) * (1 / s2 - c / s2**2) + (2 * m / E) / s2
    np.testing.assert_allclose(grad.numpy(), analytic, rtol=1e-8)


def test_kl_penalty_refuses_a_single_member():
    ens = build_ensemble("preact-resnet18", 1, 10, 1, 2, seed=0)
    with pytest.raises(ValueError, match="at least 2 members"):
        kl_penalty(ens)


def test_l2_penalty_is_the_sum_of_squares():
    ens = build_ensemble("preact-resnet18", 2, 10, 1, 2, seed=0).double()
    expected = sum(float((p.detach().numpy() ** 2).sum()) for p in ens.parameters())
    assert l2_penalty(ens).item() == pytest.approx(expected, rel=1e-12)
    assert math.isfinite(expected) and expected > 0


def test_gaussian_kl_of_scalar_copies_and_its_message():
    # one scalar parameter, copies 0 and 2: m = 1, s^2 = 1 (+eps): log 1 + (1 + (1 - 0)^2) / 1 = 2
    assert gaussian_kl(torch.tensor([0.0, 2.0], dtype=torch.float64), 0.0, 1.0).item() == pytest.approx(2.0, rel=1e-7)
    with pytest.raises(ValueError) as error:
        gaussian_kl(torch.tensor(1.0), 0.0, 1.0)
    assert str(error.value) == "gaussian_kl needs at least 2 member copies on axis 0; got shape ()"


def test_kl_penalty_of_two_members_in_the_parameters_dtype():
    """Two members are enough; the penalty is every parameter's gaussian_kl with its prior, in
    float64 when the ensemble is float64 (the prior vectors follow the parameters' dtype)."""
    ens = build_ensemble("preact-resnet18", 2, 10, 1, 2, seed=0).double()
    expected = sum(gaussian_kl(values, *prior).item() for values, prior in ens.member_parameters())
    got = kl_penalty(ens)
    assert got.dtype == torch.float64 and got.item() == pytest.approx(expected, rel=1e-10)
    single = build_ensemble("preact-resnet18", 1, 10, 1, 2, seed=0)
    with pytest.raises(ValueError) as error:
        kl_penalty(single)
    assert str(error.value) == "the KL penalty needs an ensemble of at least 2 members (--members >= 2)"
