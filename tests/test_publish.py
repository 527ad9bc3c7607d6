"""Publishing finished runs into a results folder (issue 11 §3): exactly result.json,
metrics.jsonl and model.weights.h5 are copied, byte for byte, into <model>/<digest>/seed=<n>,
and segments.jsonl where the run has one (runs trained before rescore wrote it have none);
the published folder alone is enough for `rescore eval` to reproduce the test error; every
refusal names what was wrong and copies nothing, for any of the runs given.

One tiny run is trained through the CLI (resnet8 on synthetic data); the refusals work on
copies of it, altered the way a user's folder could be.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from _faults import eval_cli, printed, result, tiny, trained_run
from rescore.report.publish import PUBLISHED_FILES, PUBLISHED_IF_PRESENT, main

RUN = tiny(8, 4)
# What this run (no EMA, so no model_ema.weights.h5: test_eval_ema.py) publishes.
ITS_FILES = PUBLISHED_FILES + ("segments.jsonl",)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory, RUN)


def copy_of(run_dir: Path, where: Path, seed: str = "seed=0") -> Path:
    """The run folder under where/<name>/<model>/<digest>/<seed>, as outputs/ has it."""
    target = where.joinpath("out", *run_dir.parts[-4:-1], seed)
    return Path(shutil.copytree(run_dir, target))


def files_under(folder: Path) -> list:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def edit_result(run_dir: Path, **changes) -> None:
    path = run_dir / "result.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def refused(capsys, *args) -> tuple:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


# ------------------------------------------------------------------ what is published

@pytest.mark.slow
def test_publishes_exactly_the_four_files_byte_for_byte(run_dir: Path, tmp_path: Path,
                                                       capsys):
    assert (run_dir / "checkpoints").is_dir()  # there is more in a run folder than is copied
    assert PUBLISHED_IF_PRESENT == ("segments.jsonl", "model_ema.weights.h5")
    dest = tmp_path / "results"
    assert main([str(run_dir), "--to", str(dest)]) == 0
    model, digest, seed = run_dir.parts[-3:]
    target = dest / model / digest / seed
    names = ITS_FILES
    assert files_under(dest) == sorted(f"{model}/{digest}/{seed}/{name}" for name in names)
    for name in names:
        assert (target / name).read_bytes() == (run_dir / name).read_bytes()
    out = capsys.readouterr().out
    assert f"test error {100 * result(run_dir)['test_error']:.2f} %" in out
    assert f"rescore eval {target}" in out


@pytest.mark.slow
def test_a_run_from_before_segments_jsonl_publishes_its_three_files(run_dir: Path,
                                                                   tmp_path: Path):
    run = copy_of(run_dir, tmp_path)
    (run / "segments.jsonl").unlink()
    assert main([str(run), "--to", str(tmp_path / "results")]) == 0
    assert sorted(p.name for p in (tmp_path / "results").rglob("*") if p.is_file()) == sorted(
        PUBLISHED_FILES)


@pytest.mark.slow
def test_publishing_again_is_harmless_and_leaves_files_untouched(run_dir: Path,
                                                                 tmp_path: Path, capsys):
    dest = tmp_path / "results"
    assert main([str(run_dir), "--to", str(dest)]) == 0
    stamps = {p: p.stat().st_mtime_ns for p in dest.rglob("*.*")}
    assert main([str(run_dir), "--to", str(dest)]) == 0
    assert "already published" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*.*")} == stamps


@pytest.mark.slow
def test_published_folder_alone_reproduces_the_test_error_with_rescore_eval(
        run_dir: Path, tmp_path: Path):
    run, dest = copy_of(run_dir, tmp_path), tmp_path / "results"
    assert main([str(run), "--to", str(dest)]) == 0
    shutil.rmtree(run)  # nothing of the run folder is left but what was published
    published = dest.joinpath(*run_dir.parts[-3:])
    proc = eval_cli(published)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert float(printed(proc.stdout, "test_error")) == result(run_dir)["test_error"]
    assert "equals result.json's exactly" in proc.stdout


# ------------------------------------------------------------------ refusals copy nothing

@pytest.mark.slow
def test_an_unfinished_run_is_refused(run_dir: Path, tmp_path: Path, capsys):
    run = copy_of(run_dir, tmp_path)
    edit_result(run, finished=False, steps=5, max_steps=8)
    code, err = refused(capsys, run, "--to", tmp_path / "results")
    assert code == 2
    assert "stopped at iteration 5 of 8" in err and "nothing copied" in err
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_a_run_still_training_without_result_json_is_refused(run_dir: Path, tmp_path: Path,
                                                              capsys):
    run = copy_of(run_dir, tmp_path)
    (run / "result.json").unlink()
    code, err = refused(capsys, run, "--to", tmp_path / "results")
    assert code == 2 and "holds no result.json" in err
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_weights_that_are_not_the_runs_are_refused_with_both_hashes(run_dir: Path,
                                                                      tmp_path: Path, capsys):
    run = copy_of(run_dir, tmp_path)
    recorded = result(run)["weights_sha256"]
    edit_result(run, weights_sha256="0" * 64)
    code, err = refused(capsys, run, "--to", tmp_path / "results")
    assert code == 9
    assert recorded in err and "0" * 64 in err
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_a_missing_weights_file_is_refused_by_name(run_dir: Path, tmp_path: Path, capsys):
    run = copy_of(run_dir, tmp_path)
    (run / "model.weights.h5").unlink()
    code, err = refused(capsys, run, "--to", tmp_path / "results")
    assert code == 2 and "lacks model.weights.h5" in err
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_weights_without_rescores_description_are_refused(run_dir: Path, tmp_path: Path,
                                                          capsys):
    import h5py

    run = copy_of(run_dir, tmp_path)
    with h5py.File(run / "model.weights.h5", "a") as f:
        del f["rescore"]  # what plain Keras save_weights writes
    code, err = refused(capsys, run, "--to", tmp_path / "results")
    assert code == 9 and "has no rescore description" in err
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_a_file_over_the_size_limit_is_refused_with_its_size(run_dir: Path, tmp_path: Path,
                                                             capsys):
    size = (run_dir / "model.weights.h5").stat().st_size
    limit = size / 1e6  # exactly the file's size: "under" the limit fails
    code, err = refused(capsys, run_dir, "--to", tmp_path / "results", "--max-mb", limit)
    assert code == 2
    assert f"model.weights.h5 is {size:,} bytes, not under the {limit:g} MB ({size:,} bytes)" \
        in err
    assert not (tmp_path / "results").exists()
    assert main([str(run_dir), "--to", str(tmp_path / "results"), "--max-mb",
                 str((size + 1) / 1e6)]) == 0


@pytest.mark.parametrize("bad", ["0", "-1"])
def test_a_size_limit_that_is_not_positive_is_refused(tmp_path: Path, capsys, bad):
    with pytest.raises(SystemExit) as raised:
        main([str(tmp_path), "--to", str(tmp_path / "results"), "--max-mb", bad])
    assert raised.value.code == 2
    assert f"must be a number of MB above 0, got {bad}" in capsys.readouterr().err


@pytest.mark.slow
def test_a_different_file_already_published_is_never_overwritten(run_dir: Path,
                                                                   tmp_path: Path, capsys):
    dest = tmp_path / "results"
    assert main([str(run_dir), "--to", str(dest)]) == 0
    metrics = dest.joinpath(*run_dir.parts[-3:], "metrics.jsonl")
    metrics.write_text("someone else's curves\n")
    code, err = refused(capsys, run_dir, "--to", dest)
    assert code == 2 and f"{metrics} exists and differs" in err
    assert metrics.read_text() == "someone else's curves\n"
    metrics.write_bytes((run_dir / "metrics.jsonl").read_bytes())
    segments = metrics.with_name("segments.jsonl")  # the optional file is checked as well
    segments.write_text("someone else's machine\n")
    code, err = refused(capsys, run_dir, "--to", dest)
    assert code == 2 and f"{segments} exists and differs" in err


@pytest.mark.slow
def test_one_bad_run_among_several_stops_all_of_them(run_dir: Path, tmp_path: Path, capsys):
    good = copy_of(run_dir, tmp_path, "seed=0")
    bad = copy_of(run_dir, tmp_path, "seed=1")
    edit_result(bad, finished=False)
    code, err = refused(capsys, good, bad, "--to", tmp_path / "results")
    assert code == 2 and str(bad) in err
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_two_runs_that_would_land_in_one_folder_are_refused(run_dir: Path, tmp_path: Path,
                                                            capsys):
    first = copy_of(run_dir, tmp_path / "a")
    second = copy_of(run_dir, tmp_path / "b")
    code, err = refused(capsys, first, second, "--to", tmp_path / "results")
    assert code == 2 and "would both land in" in err
    assert not (tmp_path / "results").exists()


def test_a_path_that_is_not_a_folder_is_refused(tmp_path: Path, capsys):
    code, err = refused(capsys, tmp_path / "nowhere", "--to", tmp_path / "results")
    assert code == 2 and "nowhere is not a folder" in err


@pytest.mark.slow
def test_the_destination_comes_from_result_json_not_the_folders_name(run_dir: Path,
                                                                       tmp_path: Path):
    """A renamed copy, or one right under /tmp, still lands in <model>/<digest>/seed=<n>."""
    renamed = Path(shutil.copytree(run_dir, tmp_path / "backup-of-my-run"))
    dest = tmp_path / "results"
    assert main([str(renamed), "--to", str(dest)]) == 0
    saved = result(run_dir)
    expected = dest / saved["model"] / saved["config_digest"] / f"seed={saved['seed']}"
    assert expected.parts[-3:] == run_dir.parts[-3:]  # as rescore named the run's folder
    assert files_under(dest) == sorted(str((expected / name).relative_to(dest))
                                       for name in ITS_FILES)


@pytest.mark.slow
def test_a_restart_lands_in_its_restart_folder(run_dir: Path, tmp_path: Path):
    run = copy_of(run_dir, tmp_path)
    saved = result(run)
    edit_result(run, config={**saved["config"],
                             "trainer": {**saved["config"]["trainer"], "restart": 2}})
    dest = tmp_path / "results"
    assert main([str(run), "--to", str(dest)]) == 0
    assert (dest / saved["model"] / saved["config_digest"] / f"seed={saved['seed']}.restart2"
            / "result.json").is_file()


@pytest.mark.slow
def test_a_partial_file_left_by_a_killed_publication_is_removed(run_dir: Path,
                                                                 tmp_path: Path):
    dest = tmp_path / "results"
    target = dest.joinpath(*run_dir.parts[-3:])
    target.mkdir(parents=True)
    (target / "metrics.jsonl.partial").write_text("half a file")
    assert main([str(run_dir), "--to", str(dest)]) == 0
    assert files_under(target) == sorted(ITS_FILES)


@pytest.mark.slow
def test_the_report_reads_a_published_folder(run_dir: Path, tmp_path: Path):
    from rescore.report.collect import collect

    dest = tmp_path / "results"
    assert main([str(run_dir), "--to", str(dest)]) == 0
    (published,) = collect([dest])
    assert published.test_error == result(run_dir)["test_error"]
    assert published.finished and published.steps == 8
    assert published.train_curve  # metrics.jsonl came along
