"""trainer.restart (issue 18 §1): a restart is a folder of its own, `seed=<n>.restart<k>`,
found again by the command that made it, so typing it again or a SLURM requeue resumes the
restarted run instead of opening yet another one. Every command rescore prints for a user
to type parses as Hydra overrides and does what it says."""

import logging
import re

import pytest

from _faults import only_run_dir, run_cli, tiny, train_steps
from test_resume import MAX_STEPS, train

EVERY = 4


@pytest.fixture
def settings_for(compose_config):
    from rescore.config import to_settings

    def make(*extra):
        return to_settings(compose_config(tiny(MAX_STEPS, EVERY, "trainer.deterministic=true",
                                               *extra)))

    return make


def printed_overrides(text: str):
    """The `key=value` overrides a message tells the user to type."""
    return re.findall(r"(?<![\w.])((?:trainer|hydra)\.[\w.]+=[^\s;,):]+?)(?=[\s;,):]|\.?$)", text)


def assert_parses_as_overrides(lines):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from rescore.overrides import check_overrides

    assert lines
    OverridesParser.create().parse_overrides(lines)  # raises if Hydra cannot read them
    check_overrides(lines)


@pytest.mark.parametrize("restart, number", [(False, 0), (True, 1), (1, 1), (3, 3), (-1, None),
                                             ("yes", None), (1.5, None)])
def test_restart_numbers(restart, number):
    from rescore.train.rundir import restart_number

    assert restart_number(restart) == number


def test_a_bad_restart_value_is_named(compose_config):
    from rescore.config import to_settings
    from rescore.errors import ConfigError

    with pytest.raises(ConfigError, match="trainer.restart must be false, true \\(= 1\\) or a "
                                          "restart number k >= 1, got -1"):
        to_settings(compose_config(tiny(MAX_STEPS, EVERY, "trainer.restart=-1")))


def test_a_restart_is_its_own_folder_made_on_first_use(tmp_path):
    from rescore.train.rundir import choose_run_dir, next_restart

    run_dir = tmp_path / "seed=0"
    assert choose_run_dir(run_dir, restart=False, resume="auto") == run_dir
    assert next_restart(run_dir) == 1
    assert choose_run_dir(run_dir, restart=True, resume="auto") == tmp_path / "seed=0.restart1"
    assert choose_run_dir(run_dir, restart=1, resume="auto") == tmp_path / "seed=0.restart1"
    assert next_restart(run_dir) == 2
    assert next_restart(tmp_path / "seed=0.restart1") == 2  # asked from inside a restart


@pytest.mark.slow
def test_the_restart_command_typed_again_resumes_it_and_restart_k_plus_1_starts_over(
        settings_for, tmp_path, monkeypatch, caplog):
    run_dir = tmp_path / "seed=0"
    first = train(settings_for(), run_dir)
    saved = (run_dir / "result.json").read_text()

    restarted = settings_for("trainer.restart=true")
    with caplog.at_level(logging.INFO):
        train(restarted, run_dir, stop_at=6, monkeypatch=monkeypatch)  # a preemption
    restart1 = tmp_path / "seed=0.restart1"
    assert train_steps(restart1) == list(range(1, 7))  # started over from iteration 0

    again = train(restarted, run_dir)  # the same command: resumes restart1, opens nothing new
    assert again["run_dir"] == str(restart1)
    assert train_steps(restart1) == list(range(1, MAX_STEPS + 1))  # each iteration once
    assert again["weights_sha256"] == first["weights_sha256"]  # deterministic, and resumed
    assert not (tmp_path / "seed=0.restart2").exists()
    assert train(restarted, run_dir)["already_finished"]  # and then reports it
    assert (run_dir / "result.json").read_text() == saved  # the restarted run is untouched

    logged = "\n".join(r.getMessage() for r in caplog.records)
    # what the run told the user to type; not the settings it reports having used or not
    # (rescore.cpu's start-up line, and "trainer.threads=1 not applied", which TensorFlow
    # causes in a test process that trained with other thread counts before)
    told = [o for o in printed_overrides(logged) if not o.startswith("trainer.threads=")]
    assert told == ["trainer.restart=1", "trainer.restart=2"]
    assert_parses_as_overrides(told)
    once_more = train(settings_for(told[-1]), run_dir)  # and it does what the log says
    assert once_more["run_dir"] == str(tmp_path / "seed=0.restart2")
    assert "already_finished" not in once_more


@pytest.mark.slow
def test_resume_never_names_the_next_free_restart(settings_for, tmp_path):
    from rescore.errors import CheckpointError

    run_dir = tmp_path / "seed=0"
    train(settings_for(), run_dir)
    (tmp_path / "seed=0.restart1").mkdir()
    with pytest.raises(CheckpointError) as raised:
        train(settings_for("trainer.resume=never"), run_dir)
    told = printed_overrides(str(raised.value))
    assert told == ["trainer.resume=never", "trainer.resume=auto", "trainer.restart=2"]
    assert_parses_as_overrides(told)


@pytest.mark.slow
def test_unrestorable_checkpoints_name_a_restart_that_parses(settings_for, tmp_path):
    from rescore.errors import CheckpointError

    run_dir = tmp_path / "seed=0"
    train(settings_for(), run_dir)
    (run_dir / "result.json").unlink()
    for data in (run_dir / "checkpoints").glob("*.data-*"):
        data.write_bytes(b"broken")
    with pytest.raises(CheckpointError) as raised:
        train(settings_for(), run_dir)
    told = printed_overrides(str(raised.value))
    assert told == ["trainer.restart=1"]
    assert_parses_as_overrides(told)


@pytest.mark.slow
def test_through_the_cli_a_restart_keeps_its_record_and_log_in_its_own_folder(tmp_path):
    """Hydra's folder for `trainer.restart=1` is seed=0.restart1 (conf/config.yaml), so its
    .hydra/ and log go there; the run it restarts keeps its own, untouched."""
    args = tiny(MAX_STEPS, 4, f"out_root={tmp_path / 'out'}")
    assert run_cli(args, cwd=tmp_path).returncode == 0
    run_dir = only_run_dir(tmp_path / "out")
    record = {p.relative_to(run_dir): p.read_bytes() for p in (run_dir / ".hydra").iterdir()}
    log = (run_dir / "__main__.log").read_bytes()

    proc = run_cli(args + ["trainer.restart=1"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    restart = run_dir.with_name(run_dir.name + ".restart1")
    assert {p.relative_to(run_dir): p.read_bytes() for p in (run_dir / ".hydra").iterdir()} \
        == record
    assert (run_dir / "__main__.log").read_bytes() == log
    assert "- trainer.restart=1" in (restart / ".hydra" / "overrides.yaml").read_text()
    assert "starting over in" in (restart / "__main__.log").read_text()
    assert train_steps(restart) == list(range(1, MAX_STEPS + 1))
    assert not restart.with_name(restart.name + ".restart1").exists()
