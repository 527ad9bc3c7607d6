"""`python -m rescore …` and the `rescore` console script: compose the config with Hydra,
check it once, and hand plain values to the training loop. `rescore eval …` goes to
rescore/eval instead, before Hydra sees the arguments."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from . import cpu, sweep
from .config import register_resolvers, register_schemas, to_settings
from .errors import SWEEP_FAILED_EXIT, ConfigError, DivergedError, Preempted, RescoreError
from .overrides import check_overrides
from .sweep_check import check_sweep_jobs
from .gpu_pinning import pin_if_joblib_job

register_schemas()
register_resolvers()
log = logging.getLogger("rescore")
# TF's checkpoint writer logs a line per save through absl at INFO ("Sharding callback
# duration"); Hydra's INFO root logger would put them all into every run's log.
logging.getLogger("absl").setLevel(logging.WARNING)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def app(cfg: DictConfig) -> float:
    """One run. An error a user can act on (errors.py) ends the process with its message
    and exit status; in a multirun it ends only this job, which the sweep summary records
    (sweep.py). A preemption always ends the process: the whole sweep is being stopped."""
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    settings = None
    try:
        settings = to_settings(cfg)
        pin_if_joblib_job(settings.trainer.strategy)  # before TF touches a GPU; gpu_pinning.py
        cpu.choose_at_startup()  # made in main(); a launcher's worker process makes it here
        from .train.loop import run  # TensorFlow loads only once the config is known good

        cpu.log_startup(settings.trainer.threads)  # in each run's log: what this CPU got
        warn_bfloat16_without_hardware(settings.trainer.precision)

        result = run(settings, Path(HydraConfig.get().runtime.output_dir))
    except Preempted as err:
        log.warning("%s", err)
        sys.exit(settings.trainer.signal_exit_code if settings else err.exit_code)
    except Exception as err:  # noqa: BLE001 — sorted below: ours, or a bug in a multirun
        if not (multirun or isinstance(err, RescoreError)):
            raise  # a bug in a single run: keep the traceback
        sweep.report_job("diverged" if isinstance(err, DivergedError) else "failed",
                         error=f"{type(err).__name__}: {err}")
        if multirun:
            log.error("job failed; the sweep goes on: %s", err,
                      exc_info=not isinstance(err, RescoreError))  # a bug keeps its traceback
            return float("nan")
        _fail(err)
    sweep.report_job("already_finished" if result.get("already_finished") else "finished",
                     test_error=result["test_error"], run_dir=result["run_dir"])
    log.info("test error %.2f%% (%s)", 100 * result["test_error"], result["run_dir"])
    return result["test_error"]


def _fail(err: RescoreError) -> None:
    """The message once on stderr and in the run's log file (Hydra's console handler would
    print it a second time), no traceback, the error's exit status."""
    print(f"rescore: error: {err}", file=sys.stderr)
    _to_log_files(logging.ERROR, str(err))
    sys.exit(err.exit_code)


def _to_log_files(level: int, message: str) -> None:
    """A record for the file handlers only (Hydra's `<job>.log` in the run folder)."""
    record = log.makeRecord(log.name, level, __file__, 0, "%s", (message,), None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def warn_bfloat16_without_hardware(precision: str) -> None:
    if precision != "mixed_bfloat16":
        return  # the default: no TensorFlow device query
    import tensorflow as tf

    flags, has_gpu = cpu.read_cpu().flags, bool(tf.config.list_physical_devices("GPU"))
    warning = cpu.bfloat16_warning(flags, precision, has_gpu)
    if warning:
        log.warning("%s", warning)
    note = cpu.bfloat16_note(flags, precision, has_gpu)
    if note:
        log.info("%s", note)


def main() -> None:
    if sys.argv[1:2] == ["eval"]:  # `rescore eval …`: no config key can be `eval` without `=`
        from .eval.__main__ import main as eval_main

        sys.exit(eval_main(sys.argv[2:]))
    try:
        check_overrides(sys.argv[1:])  # before Hydra: its unknown-key error names no options
        cpu.choose_at_startup()  # sets TF_ENABLE_ONEDNN_OPTS, so before TensorFlow loads
        check_sweep_jobs(sys.argv[1:])  # a bad value in one job: before any job trains
    except ConfigError as err:
        print(f"rescore: error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    app()
    failed = sweep.failed_jobs(sweep.last_summary)
    if failed:
        print(f"rescore: error: {len(failed)} of {len(sweep.last_summary)} sweep jobs failed "
              f"or diverged (see sweep_summary.md in the sweep folder)", file=sys.stderr)
        sys.exit(SWEEP_FAILED_EXIT)


if __name__ == "__main__":
    main()
