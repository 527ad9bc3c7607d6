"""The residual-unit ablations of He et al. 2016b (issue 14 §1-2): placements (Fig. 4)
and shortcut variants (Fig. 2) as the `unit` config group.

Pinned here: each variant's parameter count (worked out by hand below), the formula each
unit computes on fixed weights, the equivalences that follow from the paper (option C is
the 1x1 conv shortcut; a v1 net with a pre-activation unit is the pre-activation net),
the refusals, a dropout mask that is a function of (seed, iteration) only, and a run with
it that resumes bitwise.
"""

from dataclasses import asdict

import numpy as np
import pytest

import keras
import tensorflow as tf

from _checks import assert_trains_end_to_end
from _faults import checkpoint_steps, tiny
from rescore.config import UnitConfig
from rescore.models import build_model, count_trainable_params
from rescore.models.inspect import count_macs
from rescore.train.weights import weights_sha256

PLACEMENTS = ["original", "bn_after_add", "relu_before_add", "relu_only_preact", "full_preact"]
# The settings of each shortcut variant used below (the paper's where it has one value).
VARIANTS = {
    "identity": {},
    "constant_scaling": {"scale_shortcut": 0.5, "scale_residual": 0.25},
    "exclusive_gating": {"gate_bias": -6.0},
    "shortcut_only_gating": {"gate_bias": -6.0},
    "conv1x1": {},
    "dropout": {"dropout_ratio": 0.5},
}
BN_SCALE = 1 / np.sqrt(1 + 1e-5)  # a fresh BN in inference: (z - 0) / sqrt(1 + eps)


def unit(placement=None, shortcut="identity", **settings):
    return UnitConfig(placement=placement, shortcut=shortcut, **settings)


def built(name, option=None, **unit_settings):
    """`name` with shortcut `option` and the unit of `unit_settings` (none: the default),
    its weights drawn from seed 0."""
    keras.utils.set_random_seed(0)
    return build_model(name, shortcut=option,
                       unit=unit(**unit_settings) if unit_settings else None)


# ----------------------------------------------------------------- parameter counts
#
# ResNet-20, option A: 269,722 (Table 6). Its 9 units: stage 1 has 3 at 16 channels, all
# identity; stages 2 and 3 start with a unit that changes dimensions (zero-pad shortcut,
# left as it is), then 2 identity units at 32 and at 64 channels. A variant on an identity
# unit of C channels adds:
#   gating (1x1 conv C->C with bias):  C² + C  -> 3·272 + 2·1,056 + 2·4,160 = 11,248
#   conv1x1 shortcut (1x1 conv + BN):  C² + 2C -> 3·288 + 2·1,088 + 2·4,224 = 11,488
#   constant scaling, dropout: nothing (constants, a mask).
# Placements move BN and ReLU, which have 2C and 0 parameters:
#   bn_after_add: the last BN of F (C) moves after the addition (C): +0;
#   relu_before_add, relu_only_preact (BN after every conv, stem BN kept, head ReLU): +0;
#   full_preact: no stem BN (-2·16), a head BN (+2·64), and the first BN of the two
#   dimension-changing units sees their input width (-2·(32-16) - 2·(64-32)): +0;
#   with option B the projections are bare 1x1 convs, 16·32 + 32·64 = 2,560, where v1's
#   B projections (272,474 - 269,722 = 2,752) also have a BN, and so do relu_only_preact's
#   (2,560 + 2·(32 + 64)).
RESNET20 = 269_722
RESNET20_COUNTS = {
    ("identity", "original", "A"): RESNET20,
    ("identity", "bn_after_add", "A"): RESNET20,
    ("identity", "relu_before_add", "A"): RESNET20,
    ("identity", "relu_only_preact", "A"): RESNET20,
    ("identity", "full_preact", "A"): RESNET20,
    ("identity", "full_preact", "B"): RESNET20 + 16 * 32 + 32 * 64,
    ("identity", "relu_only_preact", "B"): RESNET20 + 16 * 32 + 32 * 64 + 2 * (32 + 64),
    ("constant_scaling", "original", "A"): RESNET20,
    ("exclusive_gating", "original", "A"): RESNET20 + 11_248,
    ("shortcut_only_gating", "original", "A"): RESNET20 + 11_248,
    ("conv1x1", "original", "A"): RESNET20 + 11_488,
    ("dropout", "original", "A"): RESNET20,
}


@pytest.mark.parametrize("variant, placement, option", sorted(RESNET20_COUNTS))
def test_resnet20_parameter_counts(variant, placement, option):
    model = built("resnet20", option, placement=placement, shortcut=variant,
                  **VARIANTS[variant])
    assert count_trainable_params(model) == RESNET20_COUNTS[variant, placement, option]


@pytest.mark.slow
def test_resnet110_exclusive_gating_parameter_count():
    """The paper's net: 54 units, 18 + 17 + 17 with identity shortcuts at 16/32/64
    channels: 18·(16²+16) + 17·(32²+32) + 17·(64²+64) = 4,896 + 17,952 + 70,720."""
    model = build_model("resnet110", unit=unit(shortcut="exclusive_gating", gate_bias=-6))
    assert count_trainable_params(model) == 1_727_962 + 93_568
    gates = [layer for layer in model.layers if layer.name.endswith("_short_gate")]
    assert len(gates) == 18 + 17 + 17  # 54 units, 2 change dimensions
    assert {float(b) for g in gates for b in g.bias.numpy()} == {-6.0}


# resnet56_v2: a bottleneck pre-activation net, n = 6 units per stage, inner widths
# 16/32/64, outputs 64/128/256, 590,426 parameters, projections (B) where dimensions
# change: the first unit of every stage (stage 1: 16 -> 64).
#   original / relu_only_preact (BN after every conv): per unit, BNs on the outputs of
#   the convs (w, w, 4w) instead of before them (c_in, w, w): 2·(4w - c_in) more, 0 for
#   units that keep their width, 2·(64-16) + 2·(128-64) + 2·(256-128) = 96 + 128 + 256
#   for the first ones; a BN after each projection, 2·(64+128+256) = 896; a stem BN
#   (+32); no head BN (-512). Together +896.
#   exclusive gating: 5 identity units per stage at 64/128/256 channels:
#   5·(64²+64) + 5·(128²+128) + 5·(256²+256) = 20,800 + 82,560 + 328,960 = 432,320.
#   conv1x1 (bare, like the pre-activation projections): 5·(64² + 128² + 256²) = 430,080,
#   the same count as option C (a projection on every unit, 1,020,506).
RESNET56_V2 = 590_426
BOTTLENECK_COUNTS = {
    ("identity", "original"): RESNET56_V2 + 896,
    ("identity", "relu_only_preact"): RESNET56_V2 + 896,
    ("exclusive_gating", "full_preact"): RESNET56_V2 + 432_320,
    ("conv1x1", "full_preact"): RESNET56_V2 + 430_080,
}


@pytest.mark.slow
@pytest.mark.parametrize("variant, placement", sorted(BOTTLENECK_COUNTS))
def test_bottleneck_parameter_counts(variant, placement):
    model = built("resnet56_v2", placement=placement, shortcut=variant, **VARIANTS[variant])
    assert count_trainable_params(model) == BOTTLENECK_COUNTS[variant, placement]


def test_a_gate_adds_its_1x1_conv_macs_and_dropout_none():
    """resnet8 has one identity unit (stage 1, 32x32x16): a gate costs 32·32·16·16 MACs."""
    base = count_macs(built("resnet8"))
    assert count_macs(built("resnet8", shortcut="exclusive_gating", gate_bias=-6)) == \
        base + 32 * 32 * 16 * 16
    assert count_macs(built("resnet8", shortcut="dropout", dropout_ratio=0.5)) == base


# ----------------------------------------------------------------- the formulas


def probe(model, names, x, training=False):
    outputs = keras.Model(model.input, [model.get_layer(n).output for n in names])(
        x, training=training)
    return [np.asarray(o, np.float64) for o in outputs]


IMAGES = tf.random.stateless_normal([2, 32, 32, 3], seed=[4, 2])
UNIT = "stage1_block1"  # resnet8's identity unit (16 -> 16 channels)


def fixed_gate(model, bias: float):
    """Small fixed weights instead of the initial ones, so g is far from 0 and 1."""
    gate = model.get_layer(f"{UNIT}_short_gate")
    i, j = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    w = (0.05 * (((i + 2 * j) % 5) - 2)).astype(np.float32)
    gate.kernel.assign(w.reshape(1, 1, 16, 16))
    gate.bias.assign(np.full(16, bias, np.float32))
    return w


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("variant", ["identity", "constant_scaling", "exclusive_gating",
                                     "shortcut_only_gating", "conv1x1"])
def test_each_shortcut_variant_computes_its_formula(variant):
    model = built("resnet8", shortcut=variant, **VARIANTS[variant])
    names = ["stem_relu", f"{UNIT}_2_bn", f"{UNIT}_add"]
    if variant in ("exclusive_gating", "shortcut_only_gating"):
        assert set(model.get_layer(f"{UNIT}_short_gate").bias.numpy()) == {-6.0}  # b_g
        w = fixed_gate(model, bias=0.3)
    if variant == "conv1x1":
        k = np.arange(256, dtype=np.float32).reshape(16, 16) % 7 / 10 - 0.3
        model.get_layer(f"{UNIT}_short_proj_conv").kernel.assign(k.reshape(1, 1, 16, 16))
    x, f, y = probe(model, names, IMAGES)
    if variant == "identity":
        expected = x + f
    elif variant == "constant_scaling":  # λ_shortcut 0.5, λ_F 0.25
        expected = 0.5 * x + 0.25 * f
    elif variant == "conv1x1":  # 1x1 conv, then BN (fresh, inference)
        expected = BN_SCALE * (x @ k) + f
    else:
        g = sigmoid(x @ w + 0.3)
        assert 0.05 < g.min() and g.max() < 0.95  # a real mix, not a saturated gate
        expected = (1 - g) * x + (g * f if variant == "exclusive_gating" else f)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_dropout_shortcut_formula_in_training_and_evaluation():
    """Training: each shortcut value is dropped or kept times 1/(1-p) = 2; evaluation: x + F."""
    model = built("resnet8", shortcut="dropout", dropout_ratio=0.5)
    names = ["stem_relu", f"{UNIT}_2_bn", f"{UNIT}_add"]
    x, f, y = probe(model, names, IMAGES)
    np.testing.assert_allclose(y, x + f, rtol=1e-5, atol=1e-6)
    x, f, y = probe(model, names, IMAGES, training=True)
    short = y - f
    kept = np.isclose(short, 2 * x, rtol=1e-4, atol=1e-5) & (x != 0)
    dropped = np.isclose(short, 0, atol=1e-5) & (x != 0)
    assert (kept | dropped)[x != 0].all()
    assert 0.45 < kept.sum() / (x != 0).sum() < 0.55  # p = 0.5 over ~16k values


# What each placement puts between the unit's input and its output (Fig. 4), in order,
# for an identity unit (stage2_block2 of resnet20), and what f does after the addition.
UNIT_LAYERS = {
    "original": ["1_conv", "1_bn", "1_relu", "2_conv", "2_bn", "add", "out"],
    "bn_after_add": ["1_conv", "1_bn", "1_relu", "2_conv", "add", "add_bn", "out"],
    "relu_before_add": ["1_conv", "1_bn", "1_relu", "2_conv", "2_bn", "2_relu", "add"],
    "relu_only_preact": ["relu1", "conv1", "bn1", "relu2", "conv2", "bn2", "add"],
    "full_preact": ["bn1", "relu1", "conv1", "bn2", "relu2", "conv2", "add"],
}
STEM_AND_HEAD = {  # the layers before the first unit and after the last addition
    "original": (["stem_conv", "stem_bn", "stem_relu"], ["head_pool", "head_fc"]),
    "bn_after_add": (["stem_conv", "stem_bn", "stem_relu"], ["head_pool", "head_fc"]),
    "relu_before_add": (["stem_conv", "stem_bn", "stem_relu"], ["head_pool", "head_fc"]),
    "relu_only_preact": (["stem_conv", "stem_bn"], ["head_relu", "head_pool", "head_fc"]),
    "full_preact": (["stem_conv"], ["head_bn", "head_relu", "head_pool", "head_fc"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_each_placement_orders_bn_and_relu_as_fig4(placement):
    model = built("resnet20", placement=placement)
    names = [layer.name for layer in model.layers]
    block = "stage2_block2"
    assert [n[len(block) + 1:] for n in names if n.startswith(block)] == UNIT_LAYERS[placement]
    stem, head = STEM_AND_HEAD[placement]
    assert names[1:1 + len(stem)] == stem and names[-len(head):] == head
    # the addition sums the residual branch and the previous unit's output, untouched
    add = model.get_layer(f"{block}_add")
    assert [node.operation.name for node in add._inbound_nodes[0].parent_nodes] == [
        branch_end(placement, block), unit_input(placement)]


def branch_end(placement, block):
    """The last layer of F in `block`: the one before the addition in UNIT_LAYERS."""
    order = UNIT_LAYERS[placement]
    return f"{block}_{order[order.index('add') - 1]}"


def unit_input(placement):
    """The output of the unit before stage2_block2: after f (original, bn_after_add), or
    the bare addition where f is the identity."""
    return "stage2_block1_out" if UNIT_LAYERS[placement][-1] == "out" else "stage2_block1_add"


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_each_placement_computes_its_formula(placement):
    """y = x + F and x' = f(y): f = ReLU (4a), BN-ReLU (4b), identity (4c-e); F ends in
    a ReLU before the addition (4c), so it is never negative there."""
    model = built("resnet20", placement=placement)
    block = "stage2_block2"
    out_name = f"{block}_{UNIT_LAYERS[placement][-1]}"
    x, f, y, out = probe(model, [unit_input(placement), branch_end(placement, block),
                                 f"{block}_add", out_name], IMAGES)
    np.testing.assert_allclose(y, x + f, rtol=1e-5, atol=1e-5)
    if placement == "original":
        np.testing.assert_allclose(out, np.maximum(y, 0), rtol=1e-6)
    elif placement == "bn_after_add":
        np.testing.assert_allclose(out, np.maximum(BN_SCALE * y, 0), rtol=1e-5, atol=1e-6)
    else:
        assert out_name == f"{block}_add"  # nothing after the addition
    if placement == "relu_before_add":
        assert f.min() >= 0 and (f > 0).any()


# ----------------------------------------------------------------- what follows from the paper


@pytest.mark.slow
def test_the_1x1_conv_shortcut_with_option_b_is_option_c():
    """He et al. 2016b call the 1x1 conv shortcut option C of He et al. 2016."""
    conv1x1 = built("resnet20", "B", shortcut="conv1x1")
    option_c = built("resnet20", "C")
    assert [layer.name for layer in conv1x1.layers] == [layer.name for layer in option_c.layers]
    assert weights_sha256(conv1x1) == weights_sha256(option_c)


def test_a_v1_net_with_a_pre_activation_unit_is_the_pre_activation_net():
    from rescore.models.preact import preact_resnet

    v1 = built("resnet20", "B", placement="full_preact")
    keras.utils.set_random_seed(0)
    v2 = preact_resnet(20, "basic")
    assert [layer.name for layer in v1.layers] == [layer.name for layer in v2.layers]
    assert weights_sha256(v1) == weights_sha256(v2)
    assert v1.name == "resnet20"


@pytest.mark.slow
def test_a_pre_activation_net_with_the_original_unit_is_the_v1_net():
    from rescore.models.bottleneck import cifar_bottleneck_resnet

    v2 = built("resnet56_v2", placement="original")
    keras.utils.set_random_seed(0)
    v1 = cifar_bottleneck_resnet(56)
    assert [layer.name for layer in v2.layers] == [layer.name for layer in v1.layers]
    assert weights_sha256(v2) == weights_sha256(v1)


@pytest.mark.slow
def test_the_default_unit_builds_todays_model():
    """Explicitly asking for the family's own unit builds the same layers and weights."""
    for name, own in (("resnet8", "original"), ("resnet56_v2", "full_preact")):
        default, explicit = built(name), built(name, placement=own)
        assert weights_sha256(default) == weights_sha256(explicit)
        assert [layer.name for layer in default.layers] == [
            layer.name for layer in explicit.layers]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_trains_end_to_end(variant):
    assert_trains_end_to_end(built("resnet8", shortcut=variant, **VARIANTS[variant]))


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_every_placement_trains_end_to_end(placement):
    assert_trains_end_to_end(built("resnet8", placement=placement))


@pytest.mark.slow
@pytest.mark.parametrize("placement, variant", [("relu_only_preact", "exclusive_gating"),
                                                ("bn_after_add", "dropout"),
                                                ("relu_before_add", "conv1x1")])
def test_bottleneck_units_train_end_to_end(placement, variant):
    assert_trains_end_to_end(built("resnet56_v2", placement=placement, shortcut=variant,
                                   **VARIANTS[variant]))


# ----------------------------------------------------------------- refusals


@pytest.mark.slow
@pytest.mark.parametrize("overrides, fragment", [
    (["unit.gate_bias=-6"], "unit.gate_bias=-6 belongs to unit.shortcut=exclusive_gating or "
                            "shortcut_only_gating, but unit.shortcut=identity has none"),
    (["unit.shortcut=exclusive_gating"], "needs unit.gate_bias, the initial bias b_g"),
    (["unit.shortcut=shortcut_only_gating", "unit.gate_bias=nan"],
     "unit.gate_bias must be a finite number"),
    (["unit.shortcut=dropout"], "needs unit.dropout_ratio"),
    (["unit.shortcut=dropout", "unit.dropout_ratio=1"], "must be in [0, 1), got 1.0"),
    (["unit.shortcut=dropout", "unit.dropout_ratio=-0.1"], "must be in [0, 1), got -0.1"),
    (["unit.scale_shortcut=0.5"], "unit.scale_shortcut=0.5 belongs to "
                                  "unit.shortcut=constant_scaling"),
    (["unit.shortcut=dropout", "unit.dropout_ratio=0.5", "unit.scale_residual=0.5"],
     "but unit.shortcut=dropout has none"),
    (["unit.shortcut=constant_scaling"], "needs unit.scale_shortcut and/or "
                                         "unit.scale_residual"),
    (["unit.shortcut=conv1x1", "shortcut=C"], "shortcut=C puts a projection on every unit"),
    (["model=plain56", "unit=bn_after_add"], "plain56 is a plain net: it has no shortcuts"),
    (["model=plain20", "shortcut=A", "unit.shortcut=conv1x1"], "plain20 is a plain net"),
    (["model=resnet18", "unit.shortcut=conv1x1"], "resnet18 is an ImageNet-style net"),
])
def test_nonsense_is_refused_at_start_up_saying_why(compose_config, overrides, fragment):
    from rescore.config import to_settings
    from rescore.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        to_settings(compose_config(["experiment=smoke", *overrides]))
    assert fragment in str(raised.value)


def test_the_issues_example_composes_and_moves_the_digest(compose_config):
    from dataclasses import asdict

    from rescore.config import config_digest, to_settings

    example = ["model=resnet110", "unit=bn_after_add", "unit.shortcut=exclusive_gating",
               "unit.gate_bias=-6"]
    s = to_settings(compose_config(example))
    assert (s.unit.placement, s.unit.shortcut, s.unit.gate_bias) == (
        "bn_after_add", "exclusive_gating", -6.0)
    digest = config_digest(asdict(s))
    assert digest != config_digest(asdict(to_settings(compose_config(["model=resnet110"]))))
    assert digest != config_digest(asdict(to_settings(compose_config(
        [*example[:-1], "unit.gate_bias=-7"]))))


def test_build_model_refuses_what_the_config_check_refuses():
    with pytest.raises(ValueError, match="needs unit.gate_bias"):
        build_model("resnet8", unit=unit(shortcut="exclusive_gating"))


@pytest.mark.slow
def test_the_cli_exits_2_naming_the_problem(tmp_path):
    from _faults import run_cli

    proc = run_cli(["experiment=smoke", "unit.shortcut=dropout", "unit.dropout_ratio=1.5",
                    f"out_root={tmp_path / 'out'}"], cwd=tmp_path, timeout=180)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "unit.dropout_ratio must be in [0, 1), got 1.5" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "out").rglob("metrics.jsonl"))


# ----------------------------------------------------------------- the dropout mask


def dropout_output(seed: int, step: int, name: str = "probe_short_dropout",
                   jit_compile: bool = False):
    from rescore.models.unit_layers import ShortcutDropout

    layer = ShortcutDropout(0.5, name=name)
    x = tf.ones([2, 4, 4, 8])
    layer.build(x.shape)
    layer.step_seed.assign([seed, step])
    call = tf.function(lambda x: layer(x, training=True), jit_compile=jit_compile)
    return call(x).numpy()


@pytest.mark.slow
def test_the_mask_is_a_function_of_seed_iteration_and_unit():
    first = dropout_output(seed=0, step=7)
    assert set(np.unique(first)) == {0.0, 2.0}
    np.testing.assert_array_equal(first, dropout_output(seed=0, step=7))  # again: the same
    assert not np.array_equal(first, dropout_output(seed=0, step=8))      # next iteration
    assert not np.array_equal(first, dropout_output(seed=1, step=7))      # another run
    assert not np.array_equal(first, dropout_output(seed=0, step=7, name="other_short_dropout"))
    # integer draws: XLA (trainer.jit_compile) draws the very same mask
    np.testing.assert_array_equal(first, dropout_output(seed=0, step=7, jit_compile=True))


@pytest.mark.slow
def test_the_train_step_feeds_the_iteration_and_a_model_without_dropout_gets_nothing():
    from rescore.models.unit_layers import step_seeded_layers
    from rescore.train.optimizer import SGDMomentum
    from rescore.config import OptimConfig
    from rescore.train.step import StepInputs, make_train_step

    assert step_seeded_layers(built("resnet8")) == []
    model = built("resnet8", shortcut="dropout", dropout_ratio=0.5)
    (layer,) = step_seeded_layers(model)
    step = make_train_step(model, SGDMomentum(model.trainable_variables, OptimConfig()),
                           OptimConfig(wd=1e-4), StepInputs(0.5, 0.25, seed=3, augment=True))
    images = np.zeros([4, 32, 32, 3], np.uint8)
    step(images, np.zeros(4, np.int64), tf.constant(41, tf.int64), tf.constant(0.1))
    assert layer.step_seed.numpy().tolist() == [3, 41]


MAX_STEPS, EVERY, STOP_AT = 12, 4, 7
DROPOUT = ["unit.shortcut=dropout", "unit.dropout_ratio=0.5", "trainer.deterministic=true"]


@pytest.mark.slow
def test_a_run_with_dropout_shortcuts_resumes_bitwise(compose_config, tmp_path, monkeypatch):
    """Stopped by SIGTERM after iteration 7 and resumed, it ends with the weights of the
    run trained straight through, as does a run of 4 iterations per compiled call; the
    masks matter (the identity run ends elsewhere)."""
    from rescore.config import to_settings
    from rescore.errors import Preempted
    from rescore.train.loop import run

    settings = to_settings(compose_config(tiny(MAX_STEPS, EVERY, *DROPOUT)))
    straight = run(settings, tmp_path / "straight")
    monkeypatch.setenv("RESCORE_TESTING_SIGNAL_AT", str(STOP_AT))
    with pytest.raises(Preempted):
        run(settings, tmp_path / "resumed")
    monkeypatch.delenv("RESCORE_TESTING_SIGNAL_AT")
    assert checkpoint_steps(tmp_path / "resumed") == [4, STOP_AT]
    resumed = run(settings, tmp_path / "resumed")
    assert resumed["weights_sha256"] == straight["weights_sha256"]
    assert resumed["placement"] == "original" and resumed["steps"] == MAX_STEPS
    chunked = run(to_settings(compose_config(tiny(MAX_STEPS, EVERY, *DROPOUT,
                                                  "trainer.steps_per_call=4"))),
                  tmp_path / "chunked")  # several iterations per call: the same masks
    assert chunked["weights_sha256"] == straight["weights_sha256"]
    identity = run(to_settings(compose_config(tiny(MAX_STEPS, EVERY, DROPOUT[-1]))),
                   tmp_path / "identity")
    assert identity["weights_sha256"] != straight["weights_sha256"]


# ----------------------------------------------------------------- the paper's values


@pytest.mark.slow
def test_every_row_of_tables_1_and_2_is_a_valid_unit_and_is_found_again(compose_config):
    """Each row's settings compose into a config that the check accepts, and the look-up
    the report uses finds that very row for ResNet-110 (and Table 2's for ResNet-164)."""
    from rescore.config import to_settings
    from rescore.models import resolved_placement
    from rescore.report.paper import UNIT_TABLE1, UNIT_TABLE2, unit_paper_error

    for row, model, error in [*((r, "resnet110", r.resnet110) for r in UNIT_TABLE1),
                              *((r, "resnet110", r.resnet110) for r in UNIT_TABLE2),
                              *((r, "resnet164", r.resnet164) for r in UNIT_TABLE2)]:
        s = to_settings(compose_config([f"model={model}", *row.overrides().split()]))
        placement = resolved_placement(model, s.unit)
        found, value = unit_paper_error(model, placement, asdict(s.unit))
        assert value == error
        assert found == row or (row.case == "original [1]" and found.case ==
                                "original Residual Unit [1]"), (row, found)


@pytest.mark.parametrize("model, unit_settings, expected", [
    ("resnet110", {"shortcut": "exclusive_gating", "gate_bias": -6.0}, 8.70),
    ("resnet110", {"shortcut": "exclusive_gating", "gate_bias": -3.0}, "fail"),
    ("resnet110", {"shortcut": "exclusive_gating", "gate_bias": -8.0}, None),  # not in Table 1
    ("resnet110", {"shortcut": "constant_scaling", "scale_shortcut": 0.5}, "fail"),
    ("resnet110", {"shortcut": "constant_scaling", "scale_shortcut": 0.5,
                   "scale_residual": 0.5}, 12.35),
    ("resnet110", {"placement": "bn_after_add"}, 8.17),
    ("resnet110", {"placement": "bn_after_add", "shortcut": "conv1x1"}, None),  # Table 1: f=ReLU
    ("preact_resnet110", {}, 6.37),
    ("preact_resnet164", {}, 5.46),
    ("resnet164", {"placement": "relu_before_add"}, 6.14),
    ("resnet164", {"shortcut": "shortcut_only_gating", "gate_bias": -6.0}, None),  # 110 only
    ("resnet20", {"placement": "full_preact"}, None),
])
def test_the_paper_value_of_a_run(model, unit_settings, expected):
    from rescore.models import resolved_placement
    from rescore.report.paper import unit_paper_error

    settings = unit(**unit_settings)
    found = unit_paper_error(model, resolved_placement(model, settings), asdict(settings))
    assert (None if found is None else found[1]) == expected
