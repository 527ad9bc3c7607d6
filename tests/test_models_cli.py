"""`python -m rescore.models list|summary`: the printed numbers are the pinned ones."""

import contextlib
import io
import re
import subprocess
import sys
import types

import pytest

from rescore.models import build_model, list_models, model_info
from rescore.models.__main__ import main
from rescore.models.inspect import count_macs, count_params, stage_summary

from _checks import OPTION_B_PROJECTION_PARAMS, RESNET56_PARAMS
from test_models_zoo import ZOO

# `list` uses builder defaults: the ImageNet nets keep their 7x7 imagenet stem, which
# has (7*7 - 3*3) * 3 * 64 = 7,680 more weights than the stem=cifar of their configs.
IMAGENET_STEM_EXTRA = (7 * 7 - 3 * 3) * 3 * 64
LISTED = {name: row[3] + (IMAGENET_STEM_EXTRA if row[0] == "imagenet" else 0)
          for name, row in ZOO.items()}
# CIFAR v1 (option A), He et al. 2016 Table 6.
LISTED.update({"resnet20": 269_722, "resnet56": 853_018, "resnet110": 1_727_962,
               "resnet1202": 19_421_274, "plain56": 853_018})


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def listing():
    """`list` reads the registry's facts (tests/test_models_zoo.py checks them against
    built models); it builds nothing."""
    code, out, _ = run(["list"])
    assert code == 0
    rows = {}
    for line in out.splitlines()[2:]:
        name, family, block, depth, params = line.split()
        rows[name] = (family, block, int(depth), int(params.replace(",", "")))
    return rows


def test_list_has_every_registered_name_with_its_info(listing):
    assert sorted(listing) == list_models()
    for name, (family, block, depth, _) in listing.items():
        info = model_info(name)
        assert (family, block, depth) == (info["family"], info["block"], info["depth"])


@pytest.mark.parametrize("name", sorted(LISTED))
def test_list_prints_the_pinned_parameter_counts(listing, name):
    assert listing[name][3] == LISTED[name]


@pytest.mark.slow
def test_summary_resnet56_prints_the_pinned_totals_and_stages():
    code, out, _ = run(["summary", "resnet56"])
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:-1]}
    assert list(rows) == ["stem", "stage1", "stage2", "stage3", "head", "total"]
    assert rows["total"] == ["27", "853,018", "125,485,696"]
    assert rows["stem"][-2:] == ["464", "442,368"]
    assert " ".join(rows["stage2"]).startswith("(16, 16, 32) 9 ")
    assert " ".join(rows["stage3"]).startswith("(8, 8, 64) 9 ")
    assert rows["head"] == ["(10,)", "650", "640"]
    assert "trainable params 853,018 (0.85M)" in out and "(125.49M)" in out
    # The same functions the tests pin compute the printed numbers.
    model = build_model("resnet56", shortcut="A")
    assert count_params(model)["trainable"] == 853_018
    assert count_macs(model) == 125_485_696
    stages = stage_summary(model)
    assert sum(r.params for r in stages) == 853_018
    assert sum(r.macs for r in stages) == 125_485_696
    assert [r.blocks for r in stages] == [0, 9, 9, 9, 0]


def total_row(out):
    (line,) = [line for line in out.splitlines() if line.startswith("total")]
    return [int(v.replace(",", "")) for v in line.split()[1:]]


@pytest.mark.slow
def test_summary_options():
    code, out, _ = run(["summary", "resnet56", "--shortcut", "B"])
    assert code == 0 and total_row(out)[1] == RESNET56_PARAMS + OPTION_B_PROJECTION_PARAMS
    code, out, _ = run(["summary", "resnet18", "--kwarg", "stem=cifar", "--num-classes", "100",
                        "--input-size", "32"])
    assert code == 0
    assert total_row(out) == [8, 11_220_132, 555_468_800]
    assert "(4, 4, 512)" in out and "(100,)" in out
    code, out, _ = run(["summary", "resnet20", "--input-size", "64"])
    assert code == 0 and "input (64, 64, 3)" in out
    assert total_row(out)[2] == 4 * (40_551_040 - 640) + 640  # conv MACs scale with area


def test_summary_errors_exit_2_with_a_clear_message():
    code, _, err = run(["summary", "resnt56"])
    assert code == 2 and "Did you mean 'resnet56'?" in err and "preact_resnet164" in err
    code, _, err = run(["summary", "resnet164", "--shortcut", "A"])
    assert code == 2 and "option 'A'" in err and "Valid options: 'B'" in err


def test_plot_without_pydot_names_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydot", None)  # `import pydot` raises ImportError
    code, out, err = run(["summary", "resnet20", "--plot", "resnet20.png"])
    assert code == 2 and out == ""
    assert "pydot is not installed" in err
    assert "pip install pydot" in err and "graphviz system package" in err


def test_plot_without_graphviz_names_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydot", types.ModuleType("pydot"))
    monkeypatch.setattr("shutil.which", lambda name: None)
    code, _, err = run(["summary", "resnet20", "--plot", "resnet20.png"])
    assert code == 2 and "Graphviz 'dot' program is not on PATH" in err
    assert "pip install pydot" in err


def test_plot_draws_the_architecture(tmp_path):
    pytest.importorskip("pydot")
    from rescore.models.__main__ import plot_dependencies_missing

    if plot_dependencies_missing():
        pytest.skip(plot_dependencies_missing())
    path = tmp_path / "resnet20.png"
    code, out, _ = run(["summary", "resnet20", "--plot", str(path)])
    assert code == 0 and path.stat().st_size > 0


@pytest.mark.slow
def test_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "rescore.models", "summary", "resnet20"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^total\s+9\s+269,722\s+40,551,040$", proc.stdout, re.M)


def test_list_builds_no_model(monkeypatch):
    from rescore.models.registry import MODELS

    def no_building(**_):
        raise AssertionError("list built a model")

    monkeypatch.setattr(MODELS, "_builders", {name: no_building for name in MODELS.names()})
    code, out, _ = run(["list", "--num-classes", "100"])
    assert code == 0
    rows = {line.split()[0]: int(line.split()[-1].replace(",", "")) for line in
            out.splitlines()[2:]}
    assert rows["resnet20"] == 269_722 + 90 * 65  # 90 more classes of 64 weights + a bias
    assert rows["resnet50"] == 23_528_522 + 90 * 2049
