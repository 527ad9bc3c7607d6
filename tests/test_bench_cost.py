"""rescore.bench's full-run cost: hours for 64k iterations, and for Table 6 with the
unmeasured depths scaled by their MACs. The figures are worked out by hand below."""

import pytest

from rescore.bench.cost import (MEASURED, SCALED, TABLE6_RUNS, cost_lines, model_macs,
                                run_hours, scaled_speed, table6_cost)

# MACs per image of the Table 6 depths (models/inspect.py; pinned by the test below)
MACS = {"resnet20": 40_551_040, "resnet32": 68_862_592, "resnet44": 97_174_144,
        "resnet56": 125_485_696, "resnet110": 252_887_680, "resnet1202": 2_829_238_912}


def test_hours_for_64k_iterations():
    assert run_hours(740, 128) == pytest.approx(3.075075)  # 64000*128/740 s = 11070.3 s
    assert run_hours(300, 128, iterations=32_000) == pytest.approx(3.792593)  # 4096000/300 s


def test_a_speed_scales_inversely_with_macs():
    assert scaled_speed(740, 40_551_040, 81_102_080) == 370


def test_table6_from_a_measured_resnet20():
    cost = table6_cost("resnet20", 740, 128, MACS)
    rows = {r["model"]: r for r in cost["rows"]}
    assert list(rows) == list(TABLE6_RUNS)
    assert [r["runs"] for r in cost["rows"]] == [1, 1, 1, 1, 5, 1]
    assert rows["resnet20"]["basis"] == MEASURED and rows["resnet20"]["images_per_sec"] == 740
    assert {r["basis"] for m, r in rows.items() if m != "resnet20"} == {SCALED}
    # ResNet-1202 does 69.77x ResNet-20's MACs: 740/69.77 = 10.606 img/s, 214.55 h
    assert rows["resnet1202"]["images_per_sec"] == pytest.approx(10.6063, abs=1e-4)
    assert rows["resnet1202"]["hours"] == pytest.approx(214.5474, abs=1e-4)
    # five runs of ResNet-110 (6.236x the MACs): 5 * 19.177 h
    assert rows["resnet110"]["hours_per_run"] == pytest.approx(19.1770, abs=1e-4)
    assert rows["resnet110"]["hours"] == pytest.approx(95.8852, abs=1e-4)
    # all: 3.0751 h * (sum of MACs, ResNet-110 five times) / ResNet-20's = 3.0751 * 109.140
    assert cost["total_hours"] == pytest.approx(335.6145, abs=1e-4)
    assert cost["measured_hours_per_run"] == pytest.approx(3.075075)


def test_a_model_outside_table6_scales_every_depth_and_says_so():
    cost = table6_cost("resnet8", 1000, 8, {**MACS, "resnet8": 12_000_000})
    assert all(r["basis"] == SCALED for r in cost["rows"])
    assert cost["measured_hours_per_run"] == pytest.approx(64000 * 8 / 1000 / 3600)
    text = "\n".join(cost_lines(cost))
    assert "resnet20, resnet32, resnet44, resnet56, resnet110, resnet1202: estimates scaled " \
           "by MACs from resnet8's measured speed, not measured" in text


def test_the_printout():
    lines = cost_lines(table6_cost("resnet20", 740, 128, MACS))
    assert lines[0] == ("  a full run at the loop's speed (64000 iterations at batch 128, "
                        "training only): resnet20 3.08 h")
    assert lines[1] == "    resnet20    1 run      740.0 img/s (measured)            3.08 h"
    assert lines[5] == "    resnet110   5 runs     118.7 img/s (scaled by MACs)     95.89 h"
    assert lines[-1].startswith("    Table 6 (six depths, 5 runs of resnet110): 335.6 h; "
                                "resnet32, resnet44")


@pytest.mark.parametrize("name", ["resnet20", "resnet32", "resnet110"])
def test_the_macs_come_from_the_built_models(name):
    assert model_macs(name) == MACS[name]
