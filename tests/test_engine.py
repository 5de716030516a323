"""The fast path computes the same function as the plain path (dpe.engine).

Every test runs on the CPU and, where one is present, on CUDA as well (the GPU machine runs
``pytest tests/test_engine.py``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from conftest import class_images

from dpe.acquisition import score
from dpe.config import make_config
from dpe.engine import make_engine
from dpe.ensemble import build_ensemble
from dpe.images import Normalizer
from dpe.predict import predict_probs, score_pool
from dpe.train import train_ensemble

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
NORM = Normalizer(torch.tensor([0.2]), torch.tensor([0.3]))


def _images(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.arange(n) % 10
    images = torch.from_numpy(class_images(labels.numpy(), seed=seed)).permute(0, 3, 1, 2).contiguous()
    return images, labels


def _train(engine, device, dtype=torch.float32, steps: int = 12):
    """Train a 3-member ensemble for ``steps`` SGD steps (with augmentation, per-member batch
    orders) and return its float64 softmax outputs (E, N, K) on 200 held-out images."""
    images, labels = _images(120)
    config = make_config("smoke", max_epochs=1, min_steps=steps, batch_size=20, lr=0.05)
    ens = build_ensemble("preact-resnet18", 3, 10, 1, 4, seed=0, channels_last=engine.channels_last)
    ens = ens.to(device, dtype)
    norm = Normalizer(NORM.mean.to(device, dtype), NORM.std.to(device, dtype))
    generator = torch.Generator(device).manual_seed(0)
    stats = train_ensemble(ens, images.to(device), labels.to(device), config, norm, generator, 2, True,
                           progress=False, engine=engine)
    assert stats["steps"] == steps
    test, _ = _images(200, seed=5)
    return predict_probs(ens, test.to(device), norm, engine).cpu().double()


def _fast32(device):
    return dataclasses.replace(make_engine(device, "fast"), bf16=False, tf32=False)


@pytest.mark.parametrize("device", DEVICES)
def test_fast_path_trains_exactly_the_plain_paths_function_in_float64(device):
    """In float64 rounding is out of the way: channels-last kernels and the foreach/fused
    update must give the plain path's trained network to ~1e-12."""
    fast, plain = _fast32(device), make_engine(device, "plain")
    assert fast.channels_last and fast.optimizer in ("fused", "foreach") and not plain.channels_last
    p_fast, p_plain = _train(fast, device, torch.float64), _train(plain, device, torch.float64)
    # CUDA: cuDNN's autotuner picks kernels (summation orders) per run, and 12 steps amplify
    # float64 rounding of 1e-16 (see the float32 test's note); CPU kernels are fixed.
    tolerance = 1e-9 if device == "cpu" else 1e-6
    assert (p_fast - p_plain).abs().max().item() < tolerance


@pytest.mark.parametrize("device", DEVICES)
def test_fast_path_in_float32_predicts_like_the_plain_path(device):
    """In float32 the paths round differently (channels-last batch norm on the CPU is ~10x
    less exact than NCHW, still ~1e-6 relative), and this tiny network's training amplifies
    rounding: a pre-activation on the other side of a ReLU kink flips a gradient entry.
    Measured on the CPU against the float64 run: after 6 steps fast 3e-3 mean |dp| (94.5 %
    argmax agreement), plain 3e-8; after 24 steps even the plain float32 path agrees with its
    own float64 run on only 56 % of the images. Hence a short run here, and exactness in the
    float64 test above."""
    p_fast = _train(_fast32(device), device, steps=6)
    p_plain = _train(make_engine(device, "plain"), device, steps=6)
    assert (p_fast - p_plain).abs().mean() < 1e-2
    assert (p_fast.mean(0).argmax(-1) == p_plain.mean(0).argmax(-1)).double().mean() >= 0.9


@pytest.mark.parametrize("device", DEVICES)
def test_bf16_autocast_predicts_like_float32(device):
    ens = build_ensemble("preact-resnet18", 3, 10, 1, 4, seed=1).to(device)
    images, _ = _images(64)
    norm = Normalizer(NORM.mean.to(device), NORM.std.to(device))
    fast = dataclasses.replace(make_engine(device, "fast"), bf16=True)
    p16 = predict_probs(ens, images.to(device), norm, fast)
    p32 = predict_probs(ens, images.to(device), norm, make_engine(device, "plain"))
    assert p16.dtype == torch.float32  # softmax of bf16 logits is taken in float32
    rel = ((p16 - p32).norm() / p32.norm()).item()
    assert 0 < rel < 2e-2  # bf16 operands: 1e-3 .. 1e-2 relative error


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("optimizer", ["fused", "foreach", "for-loop"])
def test_sgd_step_matches_a_float64_hand_calculation(device, optimizer):
    if optimizer == "fused" and device == "cpu" and not _cpu_fused_sgd():
        pytest.skip("this torch has no fused SGD on the CPU")
    engine = dataclasses.replace(make_engine(device, "fast"), optimizer=optimizer)
    g = torch.Generator().manual_seed(3)
    w0, grads = torch.randn(5, 4, generator=g, dtype=torch.float64), torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    w = torch.nn.Parameter(w0.float().to(device))
    opt = engine.sgd([w], lr=0.1, momentum=0.9)
    expected, velocity = w0.clone(), torch.zeros_like(w0)
    for grad in grads:  # PyTorch's SGD: v <- m v + g (v = g at the first step), w <- w - lr v
        w.grad = grad.float().to(device)
        opt.step()
        velocity = grad.clone() if velocity.abs().sum() == 0 else 0.9 * velocity + grad
        expected -= 0.1 * velocity
    assert torch.allclose(w.detach().cpu().double(), expected, atol=1e-6)


def _cpu_fused_sgd() -> bool:
    try:
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, fused=True)
        return True
    except (RuntimeError, ValueError):
        return False


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("acquisition", ["H_ens", "MI", "V_w"])
def test_chunked_pool_scores_equal_scores_of_the_whole_pool(device, acquisition):
    ens = build_ensemble("preact-resnet18", 3, 10, 1, 4, seed=2).to(device)
    images, _ = _images(50)
    norm = Normalizer(NORM.mean.to(device), NORM.std.to(device))
    engine = dataclasses.replace(make_engine(device, "plain"), eval_batch=7)  # 8 chunks, the last of 1
    weights = tuple(float(k == 3) for k in range(10))
    got = score_pool(ens, images.to(device), norm, acquisition, engine, weights=weights)
    probs = predict_probs(ens, images.to(device), norm, dataclasses.replace(engine, eval_batch=1024))
    want = score(acquisition, probs, weights=weights)
    assert got.device.type == device and got.dtype == torch.float64 and got.shape == (50,)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-9)
    assert np.array_equal(got.argsort().cpu().numpy()[-10:], want.argsort().cpu().numpy()[-10:])


def test_random_acquisition_is_not_scored_by_prediction():
    ens = build_ensemble("preact-resnet18", 2, 10, 1, 2, seed=0)
    with pytest.raises(ValueError, match="random"):
        score_pool(ens, _images(4)[0], NORM, "R")


def test_engine_names_are_checked():
    with pytest.raises(ValueError, match="engine='turbo'"):
        make_engine("cpu", "turbo")
    with pytest.raises(ValueError, match="compile"):
        make_engine("cpu", "plain", compile=True)
    from dpe.engine import cpu_has_bf16

    assert make_engine("cpu").name == "fast" and make_engine("cpu").bf16 == cpu_has_bf16()
    assert not make_engine("cpu", "plain").bf16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_cuda_graph_replays_train_the_same_network_as_eager_steps():
    graphs = _fast32("cuda")
    assert graphs.cuda_graphs
    eager = dataclasses.replace(graphs, cuda_graphs=False)
    p_graph, p_eager = _train(graphs, "cuda", steps=12), _train(eager, "cuda", steps=12)
    # the same kernels up to cuDNN's per-run autotuning: measured 4e-5 on an H100
    assert (p_graph - p_eager).abs().max().item() < 2e-4


def test_cuda_graphs_are_for_cuda_and_not_with_compile():
    assert not make_engine("cpu").cuda_graphs and not make_engine("cpu", "plain").cuda_graphs
    if torch.cuda.is_available():
        assert make_engine("cuda").cuda_graphs and not make_engine("cuda", compile=True).cuda_graphs
