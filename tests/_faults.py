"""Shared by the fault tests (resume, signals, divergence, bad input, sweeps): a tiny run
configuration, the CLI as a subprocess or a run in this process stopped by a signal, and
readers for what a run leaves on disk (metrics.jsonl, TensorBoard, result.json)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[1]
from rescore.config import CONF_DIR  # noqa: E402,F401  (re-exported for the fault tests)

# resnet8 on 64 synthetic images, batch 8: a step is a few ms on 2 CPU cores.
TINY = ["experiment=smoke", "data.synthetic_train=64", "data.synthetic_test=32",
        "data.batch_size=8", "data.eval_batch_size=32", "trainer.log_every=1",
        "trainer.threads=1"]


def tiny(max_steps: int, checkpoint_every: int, *extra: str) -> List[str]:
    milestones = f"[{max_steps // 2},{3 * max_steps // 4}]"
    return TINY + [f"optim.max_steps={max_steps}", f"optim.milestones={milestones}",
                   f"trainer.checkpoint_every={checkpoint_every}",
                   f"trainer.eval_every={max_steps}", *extra]


def cli_env(**extra: str) -> Dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("RESCORE_TESTING_SIGNAL_AT", None)  # only where a test asks for it
    env.pop("HYDRA_FULL_ERROR", None)  # the messages users see, not Hydra's raw ones
    env.update(extra)
    return env


def rescore_cmd(args: Sequence[str]) -> List[str]:
    return [sys.executable, "-m", "rescore", *args]


def run_cli(args: Sequence[str], cwd: Path, timeout: float = 300, **env: str
            ) -> subprocess.CompletedProcess:
    return subprocess.run(rescore_cmd(args), cwd=cwd, env=cli_env(**env), text=True,
                          capture_output=True, timeout=timeout)


def start_cli(args: Sequence[str], cwd: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(rescore_cmd(args), cwd=cwd, env=cli_env(**env), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def folders_holding(out_root: Path, name: str) -> List[Path]:
    """Every folder under out_root with an entry called `name`. Safe beside a live run:
    a checkpoint is written to a `*_temp` folder and renamed, so a folder can vanish
    mid-walk (Path.rglob then raises FileNotFoundError; os.walk skips it)."""
    return sorted(Path(top) for top, dirs, files in os.walk(out_root)
                  if name in dirs or name in files)


def run_dirs(out_root: Path) -> List[Path]:
    """Every run folder (one holding metrics.jsonl or checkpoints) under out_root."""
    return sorted(set(folders_holding(out_root, "metrics.jsonl"))
                  | set(folders_holding(out_root, "checkpoints")))


def trained_run(tmp_path_factory, args: Sequence[str]) -> Path:
    """The run folder of `python -m rescore ARGS`, trained through the CLI in a fresh folder
    (a module fixture's body: tests then read or copy what it left)."""
    cwd = tmp_path_factory.mktemp("trained")
    proc = run_cli(args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return only_run_dir(cwd / "outputs")


def eval_cli(*args, module=("rescore", "eval"), cwd=None) -> subprocess.CompletedProcess:
    """`python -m rescore eval ARGS` as a user runs it, in a process of its own."""
    command = [sys.executable, "-m", *module, *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=cli_env(), text=True, capture_output=True,
                          timeout=300)


def printed(stdout: str, key: str) -> str:
    """The value `rescore eval` printed for `key` (its "  key   value" lines)."""
    match = re.search(rf"^  {key}\s+(\S+)", stdout, re.MULTILINE)
    assert match, stdout
    return match.group(1)


def only_run_dir(out_root: Path) -> Path:
    found = run_dirs(out_root)
    assert len(found) == 1, found
    return found[0]


def train_steps(run_dir: Path) -> List[int]:
    """The iteration of every per-step training record (trainer.log_every=1), in order."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    # A live run may be mid-write: only lines ended by their newline are whole records.
    lines = path.read_text().split("\n")[:-1]
    records = [json.loads(line) for line in lines if line.strip()]
    return [r["step"] for r in records if r["split"] == "train"]


def train_records(run_dir: Path, split: str = "train") -> List[Dict]:
    """The metrics.jsonl records of one split, in order."""
    path = Path(run_dir) / "metrics.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r["split"] == split]


def tensorboard_scalars(run_dir: Path) -> Dict[str, List[Tuple[int, float]]]:
    """What TensorBoard's own reader (EventAccumulator) sees: tag → [(step, value)] in the
    order it read them, every event kept (no reservoir sampling)."""
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_accumulator as ea

    reader = ea.EventAccumulator(str(Path(run_dir) / "tensorboard"),
                                 size_guidance={ea.TENSORS: 0, ea.SCALARS: 0})
    reader.Reload()
    return {tag: [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in reader.Tensors(tag)]
            for tag in reader.Tags()["tensors"]}


def without_timing(values: Dict, timing=("images_per_sec", "wall_time_s", "segments")) -> Dict:
    """A record, result or TensorBoard scalar dict without its timing fields (or tags), and
    a result without its `segments` (when and where it trained: one per stop and resume)."""
    return {k: v for k, v in values.items() if not any(t in k for t in timing)}


def train_in_process(settings, run_dir: Path, stop_at=None, monkeypatch=None) -> Optional[Dict]:
    """loop.run, optionally stopped by SIGTERM after iteration `stop_at` (signals.py's testing
    hook: the real signal path); None when stopped."""
    import pytest

    from rescore.errors import Preempted
    from rescore.train.loop import run

    if stop_at is None:
        return run(settings, run_dir)
    monkeypatch.setenv("RESCORE_TESTING_SIGNAL_AT", str(stop_at))
    with pytest.raises(Preempted, match=f"SIGTERM: stopped after iteration {stop_at} "):
        run(settings, run_dir)
    monkeypatch.delenv("RESCORE_TESTING_SIGNAL_AT")
    return None


def checkpoint_steps(run_dir: Path) -> List[int]:
    folder = Path(run_dir) / "checkpoints"
    return sorted(int(p.name[len("ckpt-"):-len(".index")]) for p in folder.glob("ckpt-*.index"))


def result(run_dir: Path) -> Dict:
    return json.loads((Path(run_dir) / "result.json").read_text())


# A tiny run with an error-based warm-up (one iteration per call until it ends), a milestone,
# eval every 5 and checkpoints every 4: the multi-step and device-data tests' whole run.
TINY_WARMUP_RUN = ["model=resnet8", "data=synthetic", "data.synthetic_train=128",
                   "data.synthetic_test=32", "data.batch_size=16", "optim.milestones=[6]",
                   "optim.warmup.until_train_error=0.95", "trainer.eval_every=5",
                   "trainer.checkpoint_every=4", "trainer.log_every=3",
                   "trainer.deterministic=true"]


def run_composed(compose_config, run_dir: Path, overrides: Sequence[str]) -> Dict:
    """rescore's run() in this process on the config `overrides` compose (to_settings drops
    Hydra's own node, whose run-folder interpolations need a live Hydra job)."""
    from rescore.config import to_settings
    from rescore.train.loop import run

    return run(to_settings(compose_config(list(overrides))), run_dir)
