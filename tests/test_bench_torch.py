"""The bench's optional PyTorch baseline (issue 17): when it can mirror a run and why not,
and, where PyTorch is installed, that its net is rescore's net (same parameter count, same
logits from the same weights) and that the bench reports it."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from rescore.bench import torch_baseline
from rescore.bench.options import BenchOptions
from rescore.bench.run import add_torch_baseline
from rescore.bench.torch_baseline import why_not_measurable
from rescore.config import compose_settings


@pytest.fixture
def torch_present(monkeypatch):
    """The reasons below do not depend on PyTorch being on this machine."""
    monkeypatch.setattr(torch_baseline, "torch_installed", lambda: True)


@pytest.mark.parametrize("overrides, reason", [
    (["model=preact_resnet164"], "no PyTorch twin of preact_resnet164"),
    (["shortcut=B"], "option-A shortcuts only, not B"),
    (["unit=bn_after_add"], "the paper's unit only"),
    (["trainer.precision=mixed_float16"], "mixed_float16 has no PyTorch CPU counterpart"),
    (["+model.kwargs.stem=7x7"], "model.kwargs"),
])
def test_runs_it_cannot_mirror_are_named_with_the_reason(torch_present, overrides, reason):
    assert reason in why_not_measurable(compose_settings(overrides))


@pytest.mark.parametrize("overrides", [[], ["model=plain56"], ["model=resnet110"],
                                       ["trainer.precision=mixed_bfloat16"], ["shortcut=A"]])
def test_the_papers_nets_are_mirrored(torch_present, overrides):
    assert why_not_measurable(compose_settings(overrides)) is None


def test_no_cpu_twin_beside_a_gpu_timing(monkeypatch):
    """On a GPU machine loop/PyTorch would divide GPU by CPU images/s: the twin is skipped
    with the reason, and bench.torch=true refuses (the GPU itself is faked: none here)."""
    from rescore.bench import run as bench_run

    assert "the PyTorch twin runs on the CPU only" in why_not_measurable(
        compose_settings([]), tensorflow_on_gpu=True)
    monkeypatch.setattr(bench_run, "on_gpu", lambda: True)
    run, baselines = SimpleNamespace(settings=compose_settings([])), {}
    assert "compare devices" in add_torch_baseline(run, BenchOptions(torch=None), baselines)
    with pytest.raises(ValueError, match="bench.torch=true.*CPU only"):
        add_torch_baseline(run, BenchOptions(torch=True), baselines)
    assert baselines == {}


def test_without_pytorch_the_reason_says_how_to_install(monkeypatch):
    monkeypatch.setattr(torch_baseline, "torch_installed", lambda: False)
    why = why_not_measurable(compose_settings([]))
    assert 'pip install ".[torch]" in the rescore folder' in why


def test_bench_torch_true_refuses_with_the_reason_and_false_skips(torch_present):
    run = SimpleNamespace(settings=compose_settings(["shortcut=B"]))
    baselines = {}
    with pytest.raises(ValueError, match="bench.torch=true.*option-A shortcuts only"):
        add_torch_baseline(run, BenchOptions(torch=True), baselines)
    assert "option-A" in add_torch_baseline(run, BenchOptions(torch=None), baselines)
    assert add_torch_baseline(run, BenchOptions(torch=False), baselines) == "bench.torch=false"
    assert baselines == {}


# ------------------------------------------------------------ with PyTorch installed

def copy_keras_weights(model, net):
    """rescore's Keras weights into the PyTorch twin, layer by layer in build order: conv
    kernels HWIO → OIHW, BN γ/β/mean/variance, the dense kernel transposed."""
    import torch

    keras_convs = [l for l in model.layers if type(l).__name__ == "Conv2D"]
    keras_bns = [l for l in model.layers if "BatchNormalization" in type(l).__name__]
    dense = [l for l in model.layers if type(l).__name__ == "Dense"]
    torch_convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    torch_bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    linear = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert (len(keras_convs), len(keras_bns), len(dense)) == \
        (len(torch_convs), len(torch_bns), len(linear))
    with torch.no_grad():
        for k, t in zip(keras_convs, torch_convs):
            t.weight.copy_(torch.from_numpy(k.kernel.numpy().transpose(3, 2, 0, 1)))
        for k, t in zip(keras_bns, torch_bns):
            for src, dst in ((k.gamma, t.weight), (k.beta, t.bias),
                             (k.moving_mean, t.running_mean),
                             (k.moving_variance, t.running_var)):
                dst.copy_(torch.from_numpy(src.numpy()))
        t, k = linear[0], dense[0]
        t.weight.copy_(torch.from_numpy(k.kernel.numpy().T))
        t.bias.copy_(torch.from_numpy(k.bias.numpy()))


@pytest.mark.parametrize("name, shortcuts, params", [("resnet20", True, 269_722),
                                                     ("plain20", False, 269_722),
                                                     ("resnet56", True, 853_018)])
def test_the_twin_has_the_papers_parameter_count(name, shortcuts, params):
    pytest.importorskip("torch")
    from rescore.models.cifar import CIFAR_WIDTHS, blocks_per_stage

    depth = int(name.removeprefix("resnet").removeprefix("plain"))
    net = torch_baseline.build_torch_net(blocks_per_stage(depth), CIFAR_WIDTHS, 10, shortcuts)
    assert sum(p.numel() for p in net.parameters()) == params


@pytest.mark.parametrize("name", ["resnet20", "plain20"])
def test_the_twin_computes_rescores_logits_from_the_same_weights(name):
    """Inference with BN statistics set at random: every layer, the option-A shortcut's
    subsampling and zero channels, and the stride-2 padding must agree for the logits to."""
    torch = pytest.importorskip("torch")
    from rescore.models import build_model
    from rescore.models.cifar import CIFAR_WIDTHS, blocks_per_stage

    model = build_model(name)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if "BatchNormalization" in type(layer).__name__:
            for v, low in ((layer.gamma, 0.5), (layer.beta, -0.5),
                           (layer.moving_mean, -0.5), (layer.moving_variance, 0.5)):
                v.assign(rng.uniform(low, low + 1.0, v.shape).astype(np.float32))
    net = torch_baseline.build_torch_net(blocks_per_stage(20), CIFAR_WIDTHS, 10,
                                         shortcuts=name.startswith("resnet")).eval()
    copy_keras_weights(model, net)
    x = rng.standard_normal((4, 32, 32, 3)).astype(np.float32)
    expected = model(x, training=False).numpy()
    with torch.no_grad():
        got = net(torch.from_numpy(x.transpose(0, 3, 1, 2)).contiguous(
            memory_format=torch.channels_last)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_the_bench_reports_pytorch_beside_its_figures(tmp_path):
    pytest.importorskip("torch")
    from rescore.bench.__main__ import main

    out = tmp_path / "bench.json"
    main(["model=resnet8", "data=synthetic", "data.synthetic_train=64", "data.synthetic_test=16",
          "data.batch_size=8", "bench.steps=2", "bench.warmup_steps=1", "bench.rounds=2",
          "bench.keras=false", "bench.torch=true", f"bench.out={out}"])
    r = json.loads(out.read_text())
    assert len(r["torch"]["images_per_sec_by_round"]) == 2 and r["torch"]["images_per_sec"] > 0
    assert r["ratios"]["loop_over_torch"] == pytest.approx(
        r["loop"]["images_per_sec"] / r["torch"]["images_per_sec"])
    assert r["ratios"]["bare_over_torch"] == pytest.approx(
        r["bare"]["images_per_sec"] / r["torch"]["images_per_sec"])
    assert r["targets"]["loop_over_torch_met"] == (r["ratios"]["loop_over_torch"] >= 1.2)
    assert r["torch_baseline"]["measured"] and r["torch_baseline"]["memory_format"] \
        == "channels_last"
    assert r["torch_baseline"]["process"] == "its own (spawned)"


def test_a_failing_pytorch_process_is_reported_with_its_error(monkeypatch):
    """A child that cannot build its step says why, instead of hanging the bench (here:
    zero threads, which PyTorch refuses)."""
    pytest.importorskip("torch")
    spec = torch_baseline.TorchSpec(blocks=1, widths=(16, 32, 64), num_classes=10,
                                    shortcuts=True, lr=0.1, momentum=0.9, nesterov=False,
                                    wd=1e-4, wd_bn=False, threads=0, seed=0, bfloat16=False,
                                    images=np.zeros((2, 3, 32, 32), np.float32),
                                    labels=np.zeros(2, np.int64))
    monkeypatch.setattr(torch_baseline, "spec_of", lambda run: spec)
    with pytest.raises(RuntimeError, match="failed in its process"):
        torch_baseline.TorchProcess(run=None)
