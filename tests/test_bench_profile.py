"""rescore.bench.profile: op names from a real trace land in the right groups, and a traced
tiny run accounts for every op it ran."""

import json

import pytest

from rescore.bench.profile import OTHER, OpTime, group_of, summarise


@pytest.mark.parametrize("scope, op, group", [
    ("resnet20_1/stage1_block1_1_conv_1/convolution", "_MklNativeConv2D", "conv forward"),
    ("gradient_tape/resnet20_1/stage1_block2_2_conv_1/convolution/Conv2DBackpropFilter",
     "_MklNativeConv2DBackpropFilter", "conv backward, filter"),
    ("gradient_tape/resnet20_1/stage3_block1_2_conv_1/convolution/Conv2DBackpropInput",
     "_MklNativeConv2DBackpropInput", "conv backward, input"),
    ("resnet20_1/stage1_block1_1_bn_1/FusedBatchNormV3", "_MklNativeFusedBatchNormEx",
     "batch norm (forward, +ReLU where fused)"),
    ("gradient_tape/resnet20_1/stem_bn_1/FusedBatchNormGradV3",
     "_MklNativeFusedBatchNormGradV3", "batch norm backward"),
    ("resnet20_1/stage2_block1_short_subpad_1/strided_slice", "StridedSlice",
     "option-A shortcut (subsample, zero channels)"),
    ("gradient_tape/resnet20_1/stage2_block1_short_subpad_1/strided_slice/StridedSliceGrad",
     "StridedSliceGrad", "option-A shortcut (subsample, zero channels)"),
    ("resnet20_1/stage2_block1_1_conv_pad_1/Pad", "Pad", "padding before stride-2 convs"),
    ("gradient_tape/resnet20_1/stage2_block1_1_relu_1/ReluGrad", "ReluGrad",
     "ReLU and its gradient"),
    ("resnet20_1/stage1_block1_add_1/Add", "AddV2", "residual additions"),
    ("AddN_7", "AddN", "gradient sums at branch points"),
    ("cond/then/_0/cond/mul_84", "Mul", "optimizer update"),
    ("Square_15", "Square", "L2 term"),
    ("Pad", "Pad", OTHER),  # the crop's 4-pixel border, in the input pipeline
])
def test_ops_are_grouped_by_what_they_do(scope, op, group):
    assert group_of(scope, op) == group


def test_summary_is_per_step_and_shares_add_up():
    times = [OpTime("a/x/convolution", "_MklNativeConv2D", 6_000_000_000),  # 6 ms
             OpTime("AddN_1", "AddN", 2_000_000_000),
             OpTime("Pad", "Pad", 2_000_000_000)]
    s = summarise(times, steps=2)
    assert s["op_ms_per_step"] == pytest.approx(5.0)
    groups = {row["name"]: row for row in s["groups"]}
    assert groups["conv forward"]["ms_per_step"] == pytest.approx(3.0)
    assert groups["conv forward"]["share"] == pytest.approx(0.6)
    assert [row["name"] for row in s["op_types"]] == ["_MklNativeConv2D", "AddN", "Pad"]


@pytest.mark.slow
def test_a_traced_tiny_run_is_mostly_its_convolutions(tmp_path):
    from rescore.bench.profile import main

    out = tmp_path / "profile.json"
    r = main(["model=resnet8", "data=synthetic", "data.synthetic_train=64",
              "data.synthetic_test=16", "data.batch_size=32", "bench.steps=2",
              "bench.warmup_steps=1", f"bench.out={out}"])
    assert json.loads(out.read_text())["config"]["model"] == "resnet8"
    groups = {row["name"]: row for row in r["groups"]}
    assert sum(row["share"] for row in r["groups"]) == pytest.approx(1.0)
    for g in ("conv forward", "conv backward, input", "conv backward, filter",
              "batch norm backward", "option-A shortcut (subsample, zero channels)",
              "padding before stride-2 convs"):
        assert groups[g]["ms_per_step"] > 0, g
    assert r["wall_ms_per_step"] > 0
