"""Model zoo beyond CIFAR v1: bottleneck v1, pre-activation v2, ImageNet-style ResNets.

Numbers are pinned: trainable parameter counts (torchvision's for the ImageNet nets at
1000 classes; rounded to the papers' sizes for the CIFAR nets) and MACs per image.
"""


import keras
import numpy as np
import pytest
import tensorflow as tf
from omegaconf import OmegaConf

from _checks import assert_trains_end_to_end
from rescore.models import build_model, count_trainable_params, list_models, model_info
from rescore.models.inspect import count_macs, count_params, stage_summary

from rescore.config import CONF_DIR

CONF_MODEL = CONF_DIR / "model"

# name -> (family, depth, block, trainable params, MACs per 32x32 image) for the
# configuration users get from conf/model/<name>.yaml (ImageNet nets: stem=cifar),
# num_classes=10 and the family-default shortcut (B).
ZOO = {
    "resnet164": ("resnet_v1_bottleneck", 164, "bottleneck", 1_704_154, 244_500_992),
    "preact_resnet110": ("resnet_v2", 110, "basic", 1_730_522, 253_149_824),
    "preact_resnet164": ("resnet_v2", 164, "bottleneck", 1_703_258, 244_500_992),
    "preact_resnet1001": ("resnet_v2", 1001, "bottleneck", 10_327_706, 1_487_849_984),
    "resnet56_v2": ("resnet_v2", 56, "bottleneck", 590_426, 84_068_864),
    "resnet110_v2": ("resnet_v2", 110, "bottleneck", 1_146_842, 164_284_928),
    "resnet164_v2": ("resnet_v2", 164, "bottleneck", 1_703_258, 244_500_992),
    "resnet1001_v2": ("resnet_v2", 1001, "bottleneck", 10_327_706, 1_487_849_984),
    "resnet18": ("imagenet", 18, "basic", 11_173_962, 555_422_720),
    "resnet34": ("imagenet", 34, "basic", 21_282_122, 1_159_402_496),
    "resnet50": ("imagenet", 50, "bottleneck", 23_520_842, 1_297_829_888),
    "resnet101": ("imagenet", 101, "bottleneck", 42_512_970, 2_509_983_744),
    "resnet152": ("imagenet", 152, "bottleneck", 58_156_618, 3_722_137_600),
}
# The sizes the papers print. He et al. 2016b count conv and fc weights only (no BN
# gamma/beta): ResNet-1001 has 10.33M trainable parameters but 10.18M conv+fc weights,
# printed as "10.2M". For the 1.7M nets both counts round the same way.
PAPER_SIZE_M = {"resnet164": 1.7, "preact_resnet110": 1.7, "preact_resnet164": 1.7,
                "preact_resnet1001": 10.2}
BIG = {"preact_resnet1001", "resnet1001_v2", "resnet1202"}  # ~10 s to build: marked slow
# torchvision's resnet18/34/50/101/152 (num_classes=1000): sum(p.numel() for p in
# model.parameters()), which includes BN gamma/beta but not the running statistics.
TORCHVISION_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160,
                      152: 60_192_808}
# MACs per 224x224 image; torchvision lists 1.81, 3.66, 4.09, 7.80, 11.51 "GFLOPS".
IMAGENET_MACS = {18: 1_814_073_344, 34: 3_663_761_408, 50: 4_089_184_256,
                 101: 7_801_405_440, 152: 11_513_626_624}
# Known CIFAR v1 figures (option A): 40.6M, 125M, 253M.
CIFAR_V1_MACS = {"resnet20": 40_551_040, "resnet56": 125_485_696, "resnet110": 252_887_680}

# Built with a forward/backward pass; resnet1001_v2 is preact_resnet1001 under another
# name (same builder, same arguments: checked below), so it is only built for its count.
GRADIENT_NAMES = [n for n in ZOO if n != "resnet1001_v2"]


def config_kwargs(name):
    cfg = OmegaConf.load(CONF_MODEL / f"{name}.yaml")
    return OmegaConf.to_container(cfg.get("kwargs") or OmegaConf.create({}))


def conv_and_fc_weights(model):
    return sum(int(np.prod(w.shape)) for layer in model.layers
               if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
               for w in layer.weights)


def main_path_depth(model):
    """Weighted layers on the main path: convs outside shortcuts plus the fc layer."""
    return sum(1 for layer in model.layers
               if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
               and "_short" not in layer.name)


def test_every_zoo_name_is_registered_with_its_info():
    for name, (family, depth, block, _, _) in ZOO.items():
        info = model_info(name)
        assert {k: info[k] for k in ("family", "depth", "block", "default_shortcut")} == {
            "family": family, "depth": depth, "block": block, "default_shortcut": "B"}, name


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_the_registered_parameter_count_is_the_built_models(name, request):
    """`list` prints the registry's facts without building: here they meet the models."""
    from rescore.models.__main__ import params_at

    info = model_info(name)
    model = (request.getfixturevalue("preact_resnet1001") if name == "preact_resnet1001"
             else build_model(name))
    assert count_trainable_params(model) == info["params"]
    assert model.layers[-1].kernel.shape[0] == info["features"]
    if info["depth"] <= 56:  # the class count moves only the head: checked on small nets
        hundred = build_model(name, num_classes=100)
        assert count_trainable_params(hundred) == params_at(info, 100)
    keras.backend.clear_session()


def test_the_family_default_shortcut_is_decided_by_build_model_alone():
    assert [model_info(n)["default_shortcut"] for n in ("resnet20", "plain20", "resnet164",
                                                        "preact_resnet110", "resnet18")] == [
        "A", None, "B", "B", "B"]
    assert count_trainable_params(build_model("resnet20")) == 269_722  # A: no projections
    assert count_trainable_params(build_model("resnet20", shortcut="B")) == 272_474


@pytest.fixture(scope="module")
def preact_resnet1001():
    """Built once: ~3300 layers take 10-20 s to build on two cores."""
    return build_model("preact_resnet1001", shortcut=None)


@pytest.mark.slow
@pytest.mark.parametrize("name", GRADIENT_NAMES)
def test_forward_gradient_params_macs_and_depth(name, request):
    family, depth, block, params, macs = ZOO[name]
    if name == "preact_resnet1001":
        model = request.getfixturevalue("preact_resnet1001")
    else:
        model = build_model(name, shortcut=None, **config_kwargs(name))
    assert count_trainable_params(model) == params
    assert count_params(model)["trainable"] == params
    assert count_macs(model) == macs
    assert main_path_depth(model) == depth
    assert model.input_shape == (None, 32, 32, 3)

    x = assert_trains_end_to_end(model)
    assert np.isfinite(model(x, training=False).numpy()).all()


@pytest.mark.slow
def test_keras_v2_aliases_build_the_same_nets_as_the_paper_names():
    # resnet1001_v2's count is pinned by the `list` CLI test, which builds every name.
    assert model_info("resnet1001_v2") == model_info("preact_resnet1001")
    assert ZOO["resnet1001_v2"][3:] == ZOO["preact_resnet1001"][3:]
    a = build_model("resnet164_v2", shortcut=None)
    b = build_model("preact_resnet164", shortcut=None)
    assert a.name == "resnet164_v2" and b.name == "preact_resnet164"
    assert ([(type(layer).__name__, layer.name) for layer in a.layers]
            == [(type(layer).__name__, layer.name) for layer in b.layers])


@pytest.mark.parametrize("name, size", [
    pytest.param(name, size, marks=pytest.mark.slow) if name in BIG else (name, size)
    for name, size in sorted(PAPER_SIZE_M.items())])
def test_cifar_sizes_round_to_the_papers(name, size, request):
    if name != "preact_resnet1001":
        assert round(ZOO[name][3] / 1e6, 1) == size
        return
    model = request.getfixturevalue("preact_resnet1001")
    assert conv_and_fc_weights(model) == 10_178_490  # the paper's count: "10.2M"
    assert round(conv_and_fc_weights(model) / 1e6, 1) == size
    assert round(count_trainable_params(model) / 1e6, 2) == 10.33  # + BN gamma/beta


@pytest.mark.slow
@pytest.mark.parametrize("depth", sorted(TORCHVISION_PARAMS))
def test_imagenet_params_and_macs_match_torchvision(depth):
    model = build_model(f"resnet{depth}", num_classes=1000, shortcut=None)
    assert model.input_shape == (None, 224, 224, 3)
    assert model.output_shape == (None, 1000)
    assert count_trainable_params(model) == TORCHVISION_PARAMS[depth]
    assert count_macs(model) == IMAGENET_MACS[depth]
    rows = {r.name: r for r in stage_summary(model)}
    assert [r for r in rows] == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    assert rows["stem"].output_shape == (56, 56, 64)
    expansion = 4 if depth >= 50 else 1
    assert rows["stage4"].output_shape == (7, 7, 512 * expansion)


@pytest.mark.slow
def test_imagenet_stem_pads_symmetrically_like_torchvision():
    model = build_model("resnet18", num_classes=1000, shortcut=None)
    assert model.get_layer("stem_conv_pad").padding == ((3, 3), (3, 3))
    assert model.get_layer("stem_conv").strides == (2, 2)
    assert model.get_layer("stem_pool_pad").padding == ((1, 1), (1, 1))
    assert model.get_layer("stem_pool").pool_size == (3, 3)
    assert model.get_layer("stem_pool").strides == (2, 2)
    # Bottlenecks carry the stride on the 3x3 conv (v1.5); projections are 1x1 conv + BN.
    r50 = build_model("resnet50", shortcut=None, stem="cifar")
    assert r50.get_layer("stage2_block1_1_conv").strides == (1, 1)
    assert r50.get_layer("stage2_block1_2_conv").strides == (2, 2)
    assert r50.get_layer("stage2_block1_short_proj_conv").kernel_size == (1, 1)
    assert isinstance(r50.get_layer("stage2_block1_short_proj_bn"),
                      keras.layers.BatchNormalization)
    # The 'cifar' stem: one 3x3/1 conv, no max-pool, 32x32 input by default.
    assert "stem_pool" not in [layer.name for layer in r50.layers]
    assert r50.get_layer("stem_conv").kernel_size == (3, 3)


def test_imagenet_stem_forward_at_small_input():
    model = build_model("resnet18", shortcut=None, input_shape=(64, 64, 3))
    logits = model(tf.random.stateless_normal([1, 64, 64, 3], seed=[3, 4]), training=False)
    assert logits.shape == (1, 10) and np.isfinite(logits.numpy()).all()


@pytest.mark.slow
@pytest.mark.parametrize("name, macs", sorted(CIFAR_V1_MACS.items()))
def test_mac_counter_reproduces_known_cifar_figures(name, macs):
    assert count_macs(build_model(name, shortcut="A")) == macs


def _producers(layer):
    return [node.operation for node in layer._inbound_nodes[0].parent_nodes]


def _consumers(layer):
    return [node.operation for node in layer._outbound_nodes]


def assert_pre_activation(model):
    adds = [layer for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert adds
    for add in adds:
        block = add.name[: -len("_add")]
        # Nothing is applied after the addition: it feeds the next unit's BN (and the
        # next addition through the identity), or the head BN for the last unit.
        for consumer in _consumers(add):
            assert isinstance(consumer, (keras.layers.BatchNormalization,
                                         keras.layers.Add)), (add.name, consumer.name)
        # The residual branch ends in a bare conv (not activated before the addition) ...
        producers = _producers(add)
        branch_end = [p for p in producers if p.name.startswith(f"{block}_conv")]
        assert len(branch_end) == 1 and isinstance(branch_end[0], keras.layers.Conv2D)
        # The shortcut: the previous unit's sum, a projection of this unit's shared
        # BN-ReLU, or (first unit, paper appendix) that shared BN-ReLU itself.
        (short,) = [p for p in producers if p is not branch_end[0]]
        assert (isinstance(short, keras.layers.Add) or short.name in (
            f"{block}_short_proj_conv", "stage1_block1_relu1")), (add.name, short.name)
        # ... and starts with BN -> ReLU -> conv.
        bn1 = model.get_layer(f"{block}_bn1")
        assert isinstance(bn1, keras.layers.BatchNormalization)
        (relu1,) = _consumers(bn1)
        assert isinstance(relu1, keras.layers.ReLU)
        # (a stride-2 3x3 conv reads through its symmetric ZeroPadding2D)
        nxt = {c.name: c for c in _consumers(relu1)}
        if f"{block}_conv1_pad" in nxt:
            nxt = {c.name: c for c in _consumers(nxt[f"{block}_conv1_pad"])}
        assert isinstance(nxt[f"{block}_conv1"], keras.layers.Conv2D)
    last = adds[-1]
    assert [c.name for c in _consumers(last)] == ["head_bn"]
    assert [c.name for c in _consumers(model.get_layer("head_bn"))] == ["head_relu"]
    assert [c.name for c in _consumers(model.get_layer("head_relu"))] == ["head_pool"]
    # The stem is a bare conv: the first unit's BN-ReLU follows it.
    (after_stem,) = _consumers(model.get_layer("stem_conv"))
    assert isinstance(after_stem, keras.layers.BatchNormalization)


@pytest.mark.parametrize("name", ["preact_resnet110", "resnet56_v2"])
def test_pre_activation_structure(name):
    model = build_model(name, shortcut=None)
    assert_pre_activation(model)
    # The first unit and units that change dimensions share their BN-ReLU with a
    # 1x1 projection shortcut (no BN); the others add the raw input.
    first = [p.name for p in _producers(model.get_layer("stage1_block1_add"))]
    assert first == (["stage1_block1_conv2", "stage1_block1_relu1"]
                     if name == "preact_resnet110"
                     else ["stage1_block1_conv3", "stage1_block1_short_proj_conv"])
    proj = model.get_layer("stage2_block1_short_proj_conv")
    assert [p.name for p in _producers(proj)] == ["stage2_block1_relu1"]
    assert [p.name for p in _producers(model.get_layer("stage2_block2_add"))] == [
        "stage2_block2_conv2" if name == "preact_resnet110" else "stage2_block2_conv3",
        "stage2_block1_add"]


def test_pre_activation_check_rejects_a_post_activation_net():
    with pytest.raises(AssertionError):
        assert_pre_activation(build_model("resnet20", shortcut="A"))


@pytest.mark.slow
def test_bottleneck_v1_structure():
    model = build_model("resnet164", shortcut=None)
    # conv-BN-ReLU x2, conv-BN, add the shortcut, then ReLU (post-activation).
    add = model.get_layer("stage1_block2_add")
    assert [c.name for c in _consumers(add)] == ["stage1_block2_out"]
    assert [p.name for p in _producers(add)] == ["stage1_block2_3_bn", "stage1_block1_out"]
    assert model.get_layer("stage1_block1_3_conv").filters == 64
    assert model.get_layer("stage3_block18_2_conv").filters == 64
    assert model.get_layer("stage3_block18_3_conv").filters == 256
    rows = {r.name: r for r in stage_summary(model)}
    assert [rows[s].blocks for s in ("stage1", "stage2", "stage3")] == [18, 18, 18]
    assert rows["stage3"].output_shape == (8, 8, 256)


@pytest.mark.parametrize("name", ["resnet164", "preact_resnet110", "preact_resnet164",
                                  "resnet56_v2", "resnet18", "resnet50"])
def test_option_a_is_refused_with_the_reason_and_valid_options(name):
    with pytest.raises(ValueError) as err:
        build_model(name, shortcut="A")
    msg = str(err.value)
    assert "option 'A'" in msg and name in msg
    assert "Valid options: 'B'" in msg and "'C'" in msg
    if model_info(name)["block"] == "bottleneck":
        assert "bottleneck" in msg
    with pytest.raises(ValueError, match="unknown shortcut option 'D'"):
        build_model(name, shortcut="D")


def test_option_b_is_the_default():
    # build_model's default shortcut=None is each family's own: B for these nets
    assert (count_trainable_params(build_model("resnet56_v2"))
            == count_trainable_params(build_model("resnet56_v2", shortcut="B"))
            == ZOO["resnet56_v2"][3])


@pytest.mark.slow
@pytest.mark.parametrize("name, c", [("resnet164", 3_181_658), ("resnet56_v2", 1_020_506),
                                     ("preact_resnet110", 1_822_170)])
def test_option_c_projects_every_block(name, c):
    model = build_model(name, shortcut="C")
    assert count_trainable_params(model) == c
    adds = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)]
    projections = [layer.name for layer in model.layers
                   if layer.name.endswith("_short_proj_conv")]
    assert len(adds) == len(projections) > 0


def test_invalid_depth_and_stem_are_clear_errors():
    from rescore.models.bottleneck import cifar_bottleneck_resnet
    from rescore.models.imagenet import imagenet_resnet
    from rescore.models.preact import preact_resnet

    with pytest.raises(ValueError, match="9n\\+2"):
        cifar_bottleneck_resnet(57)
    with pytest.raises(ValueError, match="9n\\+2"):
        preact_resnet(1000, block="bottleneck")
    with pytest.raises(ValueError, match="6n\\+2"):
        preact_resnet(101, block="basic")
    with pytest.raises(ValueError, match="18, 34, 50, 101, 152"):
        imagenet_resnet(20)
    with pytest.raises(ValueError, match="imagenet, cifar"):
        build_model("resnet18", shortcut=None, stem="tiny")


def test_unknown_name_lists_every_registered_name():
    with pytest.raises(KeyError) as err:
        build_model("preact_resnet165")
    msg = err.value.args[0]
    assert "Did you mean 'preact_resnet164'?" in msg
    for name in list_models():
        assert name in msg
    assert set(ZOO) <= set(list_models())


@pytest.mark.parametrize("name", sorted(ZOO))
def test_config_file_names_the_model(name):
    path = CONF_MODEL / f"{name}.yaml"
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# ") and lines[1] == f"name: {name}"
    cfg = OmegaConf.load(path)
    assert set(cfg) <= {"name", "kwargs"}
    expected = {"stem": "cifar"} if ZOO[name][0] == "imagenet" else {}
    assert config_kwargs(name) == expected


def test_config_composes_through_the_app_schema(compose_config):
    cfg = compose_config(["model=resnet50", "shortcut=B"])
    assert cfg.model.name == "resnet50"
    assert dict(cfg.model.kwargs) == {"stem": "cifar"}
    assert cfg.shortcut.option == "B"
