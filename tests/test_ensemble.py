"""The vectorised ensemble computes exactly what E separate networks compute."""

import pytest
import torch
from torch import nn

from dpe.ensemble import GroupedLinear, build_ensemble, pack
from dpe.models import build_member


@pytest.mark.parametrize("arch, width, channels, size", [("preact-resnet18", 4, 1, 28), pytest.param("resnet18", 64, 3, 32, marks=pytest.mark.heavy)])
def test_packed_equals_looped_in_train_and_eval_mode(arch, width, channels, size):
    torch.manual_seed(0)
    packed = build_ensemble(arch, 3, 10, channels, width, seed=7)
    looped = build_ensemble(arch, 3, 10, channels, width, seed=7, looped=True)
    x = torch.randn(3, 4, channels, size, size)  # a different mini-batch per member
    torch.testing.assert_close(packed(x), looped(x), rtol=1e-4, atol=1e-4)
    packed.eval(), looped.eval()
    shared = torch.randn(5, channels, size, size)  # the same images for all members
    torch.testing.assert_close(packed(shared), looped(shared), rtol=1e-4, atol=1e-4)


def test_members_have_independent_initialisations():
    ens = build_ensemble("preact-resnet18", 3, 10, 1, 4, seed=0)
    stem = ens.net.stem.weight.view(3, -1)
    assert not torch.equal(stem[0], stem[1]) and not torch.equal(stem[1], stem[2])
    bn = ens.net.bn.weight.view(3, -1)
    assert not torch.equal(bn[0], bn[1])  # drawn from the prior N(1, 0.01), not all ones


def test_batch_norm_is_per_member():
    """Hand-checkable: with batch statistics, member 0's output must not depend on member 1's
    batch, and the running statistics must be each member's own."""
    torch.manual_seed(0)
    members = [build_member("preact-resnet18", 10, 1, 2, seed=s) for s in (1, 2)]
    ens_a, ens_b = (pack(members)[0] for _ in range(2))
    x0 = torch.randn(6, 1, 28, 28)
    x1, x1_other = torch.randn(6, 1, 28, 28) * 5 + 3, torch.randn(6, 1, 28, 28)
    fold = lambda a, b: torch.cat([a, b], 1)  # (B, E*C, H, W) with E=2, C=1
    out_a = ens_a(fold(x0, x1)).view(6, 2, 10)
    out_b = ens_b(fold(x0, x1_other)).view(6, 2, 10)
    torch.testing.assert_close(out_a[:, 0], out_b[:, 0])  # member 0 is unaffected by member 1's batch
    assert not torch.allclose(out_a[:, 1], out_b[:, 1])
    # running statistics of the stem's following BN equal those of member 0 trained alone
    alone = members[0]
    alone(x0)
    torch.testing.assert_close(ens_a.blocks[0].bn1.running_mean.view(2, -1)[0], alone.blocks[0].bn1.running_mean)
    torch.testing.assert_close(ens_a.blocks[0].bn1.running_var.view(2, -1)[0], alone.blocks[0].bn1.running_var)


def test_gradients_stay_within_their_member():
    ens = build_ensemble("preact-resnet18", 3, 10, 1, 2, seed=0)
    x = torch.randn(3, 4, 1, 28, 28)
    ens(x)[1].sum().backward()  # a loss on member 1 only
    stem = ens.net.stem.weight.grad.view(3, -1)
    fc = ens.net.fc.weight.grad
    assert stem[0].abs().sum() == 0 and stem[2].abs().sum() == 0 and stem[1].abs().sum() > 0
    assert fc[0].abs().sum() == 0 and fc[2].abs().sum() == 0 and fc[1].abs().sum() > 0


def test_grouped_linear_is_e_linear_layers():
    lin = GroupedLinear(3, 5, 2)
    nn.init.normal_(lin.weight), nn.init.normal_(lin.bias)
    x = torch.randn(4, 15)
    expected = torch.cat([x[:, 5 * e : 5 * e + 5] @ lin.weight[e].T + lin.bias[e] for e in range(3)], 1)
    torch.testing.assert_close(lin(x), expected)


def test_priors_follow_the_paper():
    ens = build_ensemble("preact-resnet18", 2, 10, 1, 4, seed=0)
    assert ens.priors["stem.weight"] == (0.0, 2.0 / (4 * 3 * 3))
    assert ens.priors["bn.weight"] == (1.0, 0.01) and ens.priors["bn.bias"] == (0.0, 0.01)
    assert ens.priors["fc.weight"] == (0.0, 2.0 / 10)
    assert ens.priors["blocks.2.shortcut.weight"] == (0.0, 2.0 / (8 * 1 * 1))


def test_pack_refuses_layers_it_cannot_vectorise():
    with pytest.raises(TypeError, match="cannot vectorise LayerNorm"):
        pack([nn.Sequential(nn.Conv2d(1, 2, 3), nn.LayerNorm(2))] * 2)


def test_wrong_member_count_is_an_error():
    ens = build_ensemble("preact-resnet18", 2, 10, 1, 2, seed=0)
    with pytest.raises(ValueError, match="3 member batches"):
        ens(torch.randn(3, 2, 1, 28, 28))


def test_features_are_each_members_own_penultimate_features():
    """features() (E, B, D) of the packed ensemble equal each separate member's features()."""
    torch.manual_seed(0)
    packed = build_ensemble("preact-resnet18", 3, 10, 1, 4, seed=7).eval()
    looped = build_ensemble("preact-resnet18", 3, 10, 1, 4, seed=7, looped=True).eval()
    assert looped.members == packed.members == 3
    x = torch.randn(5, 1, 28, 28)
    ours = packed.features(x)
    assert ours.shape == (3, 5, 8 * 4)
    torch.testing.assert_close(ours, torch.stack([net.features(x) for net in looped.nets]), rtol=1e-4, atol=1e-4)


def test_packed_equals_looped_with_three_input_channels():
    """The fold keeps each member's channels together: with C = 3 a member-channel mix-up shows."""
    torch.manual_seed(0)
    packed = build_ensemble("preact-resnet18", 2, 10, 3, 4, seed=3)
    looped = build_ensemble("preact-resnet18", 2, 10, 3, 4, seed=3, looped=True)
    x = torch.randn(2, 3, 3, 16, 16)
    torch.testing.assert_close(packed(x), looped(x), rtol=1e-4, atol=1e-4)


def test_member_e_is_built_from_seed_times_1000_plus_e():
    looped = build_ensemble("preact-resnet18", 2, 10, 1, 2, seed=2, looped=True)
    reference = build_member("preact-resnet18", 10, 1, 2, seed=2001)
    assert all(torch.equal(a, b) for a, b in zip(looped.nets[1].state_dict().values(), reference.state_dict().values()))
    with pytest.raises(ValueError) as error:
        build_ensemble("preact-resnet18", 0, 10, 1, 2, seed=0)
    assert str(error.value) == "an ensemble needs at least 1 member; got members=0"


def test_memory_format_is_channels_last_by_default_for_two_or_more_members():
    def fmt(ens):
        conv = ens.net.stem if hasattr(ens, "net") else ens.nets[0].stem
        return conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()

    two, one = build_ensemble("preact-resnet18", 2, 10, 3, 4, seed=0), build_ensemble("preact-resnet18", 1, 10, 3, 4, seed=0)
    assert two.memory_format == torch.channels_last and fmt(two)
    assert one.memory_format == torch.contiguous_format and not fmt(one)
    plain = build_ensemble("preact-resnet18", 2, 10, 3, 4, seed=0, channels_last=False)
    assert plain.memory_format == torch.contiguous_format and not fmt(plain)
    assert fmt(build_ensemble("preact-resnet18", 2, 10, 3, 4, seed=0, looped=True))
    assert not fmt(build_ensemble("preact-resnet18", 2, 10, 3, 4, seed=0, looped=True, channels_last=False))


def test_prior_vectors_follow_the_asked_dtype_and_cache_per_dtype():
    ens = build_ensemble("preact-resnet18", 2, 10, 1, 2, seed=0)
    mean32, var32 = ens.prior_vectors(torch.device("cpu"), torch.float32)
    mean64, var64 = ens.prior_vectors(torch.device("cpu"), torch.float64)
    assert (mean32.dtype, mean64.dtype, var64.dtype) == (torch.float32, torch.float64, torch.float64)
    assert mean64.shape == (ens.flat_parameters().shape[1],) and torch.equal(var64.float(), var32)


def test_grouped_linear_without_bias_and_the_priors_of_odd_layers():
    from dpe.ensemble import prior_of

    layer = GroupedLinear(2, 3, 4, bias=False)
    assert layer.bias is None
    nn.init.normal_(layer.weight)
    x = torch.randn(5, 2 * 3)
    expected = torch.cat([x[:, 3 * e:3 * e + 3] @ layer.weight[e].T for e in range(2)], 1)
    torch.testing.assert_close(layer(x), expected)
    assert prior_of(nn.Conv2d(2, 5, (1, 3)), "weight") == (0.0, 2.0 / (5 * 1 * 3))  # n_out k_h k_w
    with pytest.raises(TypeError) as error:
        prior_of(nn.LayerNorm(2), "weight")
    assert str(error.value) == "no prior defined for LayerNorm.weight"
    with pytest.raises(TypeError) as error:
        pack([nn.Conv2d(1, 2, 3)] * 2)
    assert str(error.value) == "pack needs a network that contains layers, not a bare layer"
