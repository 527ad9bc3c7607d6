"""segments.jsonl (train/provenance.py): one record per start and per resume of a run, a
history never cut back, summarised in result.json; none of it changes the weights.

The run is test_resume.py's tiny one, trained in this process and stopped through the real
SIGTERM path, then resumed by the same call.
"""

import json
import logging
import socket

import pytest

from _faults import checkpoint_steps, result, tiny, train_in_process as train, without_timing

MAX_STEPS, EVERY, STOP_AT = 12, 4, 7  # 7: between checkpoints, so the stop itself saves


@pytest.fixture
def settings(compose_config):
    from rescore.config import to_settings

    return to_settings(compose_config(tiny(MAX_STEPS, EVERY, "trainer.deterministic=true")))


def starts(run_dir):
    from rescore.train.provenance import read_segments

    return [s["start_iteration"] for s in read_segments(run_dir)]


@pytest.mark.slow
def test_a_stopped_and_resumed_run_has_two_segments_and_the_same_weights(
        settings, tmp_path, monkeypatch, caplog):
    from rescore import __version__, cpu
    from rescore.code_version import code_commit
    from rescore.train.provenance import SUMMARY_FIELDS, read_segments

    straight = train(settings, tmp_path / "straight")
    assert starts(tmp_path / "straight") == [0]
    assert straight["segments"]["count"] == 1

    run_dir = tmp_path / "stopped"
    train(settings, run_dir, stop_at=STOP_AT, monkeypatch=monkeypatch)
    assert checkpoint_steps(run_dir) == [4, STOP_AT]
    assert starts(run_dir) == [0]
    with caplog.at_level(logging.INFO):
        resumed = train(settings, run_dir)

    # the weights and everything else the run computed are the uninterrupted run's
    assert resumed["weights_sha256"] == straight["weights_sha256"]
    assert resumed["config_digest"] == straight["config_digest"]
    assert without_timing(result(run_dir)) == without_timing(result(tmp_path / "straight"))

    # two records: the start at 0 and the resume at the checkpoint, on this machine and code
    first, second = segments = read_segments(run_dir)
    assert [s["start_iteration"] for s in segments] == [0, STOP_AT]
    assert first["elapsed_s"] == 0.0 < second["elapsed_s"]  # the checkpoint's run clock
    assert first["started_utc"] <= second["started_utc"]
    commit, machine = code_commit(), cpu.read_cpu().model
    for s in segments:
        assert (s["rescore_commit"], s["rescore_version"], s["cpu"], s["host"]) == (
            commit, __version__, machine, socket.gethostname())
        assert s["onednn"]["decided_by"] in ("user", "rescore", "tensorflow")
        assert s["threads"]["intra_op"] >= 1 and s["threads"]["inter_op"] >= 1

    # result.json: how many, the first and the last, the commits and CPUs seen
    summary = result(run_dir)["segments"]
    assert summary["count"] == 2
    assert summary["first"] == {k: first[k] for k in SUMMARY_FIELDS}
    assert summary["last"] == {k: second[k] for k in SUMMARY_FIELDS}
    assert summary["last"]["start_iteration"] == STOP_AT
    assert summary["rescore_commits"] == [commit] and summary["cpus"] == [machine]
    assert summary["result_utc"] >= second["started_utc"]

    # the run's log says the same in one line
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("segment"))
    assert line.startswith(f"segment 2 of this run (segments.jsonl), from iteration {STOP_AT}: "
                           f"rescore {commit or 'commit unknown'} ({__version__}), TensorFlow ")
    assert f"CPU {machine} (" in line and f"host {socket.gethostname()}" in line


def test_the_summary_lists_each_commit_and_cpu_once_in_order():
    from rescore.train.provenance import segments_summary

    def segment(i, commit, machine):
        return {"started_utc": f"2026-01-0{i + 1}T00:00:00+00:00", "start_iteration": 10 * i,
                "rescore_commit": commit, "rescore_version": "0.1.0", "tensorflow": "2.21.0",
                "cpu": machine, "host": f"node{i}", "keras": "3"}

    segments = [segment(0, "aaaaaaa", "Xeon"), segment(1, "bbbbbbb", "EPYC"),
                segment(2, "aaaaaaa", "Xeon"), segment(3, None, "EPYC")]
    summary = segments_summary(segments)
    assert summary["count"] == 4
    assert summary["first"]["start_iteration"] == 0 and summary["first"]["host"] == "node0"
    assert summary["last"]["start_iteration"] == 30 and summary["last"]["rescore_commit"] is None
    assert "keras" not in summary["last"]  # the summary repeats SUMMARY_FIELDS only
    assert summary["rescore_commits"] == ["aaaaaaa", "bbbbbbb", None]
    assert summary["cpus"] == ["Xeon", "EPYC"]
    # one commit at a checkout's, setuptools-scm's and pip's lengths is one commit
    lengths = [segment(0, "818b90a", "Xeon"), segment(1, "818b90ae7", "Xeon"),
               segment(2, "818b90ae7" + "0" * 31, "Xeon"), segment(3, "818b90a+dirty", "Xeon"),
               segment(4, "818b90b", "Xeon")]
    assert segments_summary(lengths)["rescore_commits"] == [
        "818b90a", "818b90a+dirty", "818b90b"]
    empty = segments_summary([])
    assert (empty["count"], empty["first"], empty["last"]) == (0, None, None)


def test_a_line_torn_by_a_kill_is_skipped_and_the_next_record_starts_a_new_line(tmp_path):
    from rescore.train.provenance import read_segments, record_segment

    (tmp_path / "segments.jsonl").write_text('{"start_iteration": 0, "cpu": "x"}\n'
                                             '{"start_iteration": 4, "cp')
    record_segment(tmp_path, 4, 1.5)
    assert [(s["start_iteration"], s.get("elapsed_s")) for s in read_segments(tmp_path)] == [
        (0, None), (4, 1.5)]
    lines = (tmp_path / "segments.jsonl").read_text().splitlines()
    assert len(lines) == 3 and lines[1] == '{"start_iteration": 4, "cp'  # kept, skipped
    assert json.loads(lines[2])["elapsed_s"] == 1.5


def test_an_unwritable_segments_file_stops_the_start_with_exit_8(tmp_path):
    from rescore.errors import SaveError
    from rescore.train.provenance import record_segment

    (tmp_path / "segments.jsonl").mkdir()  # a folder where the file should be
    with pytest.raises(SaveError, match=f"could not write {tmp_path / 'segments.jsonl'}: .*"
                                        f"Nothing was trained") as err:
        record_segment(tmp_path, 0, 0.0)
    assert err.value.exit_code == 8
