"""What `rescore eval` checks: a run folder or a lone weights file, resolved into the run's
config, where its weights are, the hash they must have and the normalisation they expect.

Nothing here loads the data or builds a model: a wrong path, model name or stored config
fails at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..config import CONF_DIR, Config, compose_settings, to_settings
from ..errors import ConfigError, WeightsError
from ..models.registry import unknown_name_message
from ..train.checkpoint import checkpoints_on_disk
from ..train.weights_file import (EMA_WEIGHTS_FILE, SUFFIX, WEIGHTS_FILE, RunDescription,
                                  read_description)

RESULT_FILE = "result.json"


@dataclass
class Target:
    settings: Config  # how to build the model, which data set, eval batch size, precision
    weights: Path  # a .weights.h5 file, or a checkpoint prefix (checkpoints/ckpt-N)
    from_checkpoint: bool
    expected_sha256: Optional[str]  # what the loaded weights must hash to; None: unknown
    expected_from: Optional[Path]  # where that hash is recorded
    description: Optional[RunDescription]  # the weights file's own; its mean and std
    result: Optional[Dict[str, Any]] = None  # the run's result.json
    notes: List[str] = field(default_factory=list)  # what the user should know

    @property
    def stored_normalization(self) -> Optional[tuple]:
        """(mean, std) as the weights file stores them; None: recompute from the data."""
        d = self.description
        return None if d is None else (d.mean, d.std)


def resolve(path: Path, model: Optional[str]) -> Target:
    """A run folder (holding result.json) or a `.weights.h5` file; `model` is `--model`."""
    path = Path(path)
    check_model_name(model)
    if path.is_dir():
        return from_run_dir(path, model)
    if path.is_file():
        return from_weights_file(path, model)
    raise WeightsError(f"{path} does not exist: give a run folder (holding {RESULT_FILE}) "
                       f"or a weights file (*{SUFFIX})")


def check_model_name(model: Optional[str]) -> None:
    """A typo in --model is named as one, with the valid names, whatever the path holds."""
    from ..models import list_models

    if model is not None and model not in list_models():
        raise ConfigError(unknown_name_message("model", model, list_models()))


def from_run_dir(run_dir: Path, model: Optional[str]) -> Target:
    result_file = run_dir / RESULT_FILE
    if not result_file.is_file():
        raise ConfigError(f"{run_dir} holds no {RESULT_FILE}: not a finished run folder (a run "
                          f"folder is outputs/<name>/<model>/<digest>/seed=<n>; a run still "
                          f"training has no final weights to check)")
    try:
        result = json.loads(result_file.read_text())
        config, expected = result["config"], result["weights_sha256"]
    except (ValueError, KeyError) as err:
        raise ConfigError(f"{result_file} is not a rescore result (no config or "
                          f"weights_sha256 in it: {err})") from err
    settings = settings_from(config, result_file)
    if model is not None and model != settings.model.name:
        raise ConfigError(f"--model {model}, but {result_file} is a {settings.model.name} run; "
                          f"leave --model out for a run folder")
    weights_file = run_dir / WEIGHTS_FILE
    if weights_file.is_file():
        return Target(settings, weights_file, False, expected, result_file,
                      readable_description(weights_file), result)
    return from_newest_checkpoint(run_dir, settings, result, result_file)


def ema_weights(target: Target) -> Optional[Path]:
    """With optim.ema on, the run's averaged weights file (model_ema.weights.h5); None for a
    run without EMA, a lone weights file, or a run that finished before rescore saved the
    average (then a note says its ema_test_error cannot be checked). Reads no file."""
    result = target.result
    if not result or "ema_weights_sha256" not in result:
        return None
    ema_file = target.expected_from.parent / EMA_WEIGHTS_FILE
    if not ema_file.is_file():
        target.notes.append(f"no {EMA_WEIGHTS_FILE}: the run finished before rescore saved "
                            f"the averaged weights, so its ema_test_error cannot be checked")
        return None
    return ema_file


def ema_target(target: Target, ema_file: Path) -> Target:
    """The averaged weights as a target of their own, checked against result.json's
    ema_weights_sha256 and ema_test_error/ema_test_loss as the raw weights are against
    weights_sha256 and test_error/test_loss."""
    result = target.result
    as_recorded = {"test_error": result.get("ema_test_error"),
                   "test_loss": result.get("ema_test_loss"), "decay": result.get("ema_decay")}
    as_recorded = {key: value for key, value in as_recorded.items() if value is not None}
    return Target(target.settings, ema_file, False, result["ema_weights_sha256"],
                  target.expected_from, readable_description(ema_file), as_recorded)


def from_newest_checkpoint(run_dir: Path, settings: Config, result: Dict[str, Any],
                           result_file: Path) -> Target:
    """A run that finished before rescore wrote model.weights.h5: its last checkpoint is
    saved at the final iteration and holds the final weights."""
    if settings.optim.swa.start is not None:  # the last checkpoint precedes the averaging
        raise WeightsError(f"{run_dir} holds no {WEIGHTS_FILE}, and an SWA run's final "
                           f"weights (the average, BN recomputed after the last checkpoint) "
                           f"are only in that file: this run cannot be checked without it")
    found = checkpoints_on_disk(run_dir / "checkpoints")
    if not found:
        raise WeightsError(f"{run_dir} holds neither {WEIGHTS_FILE} nor checkpoints/: no "
                           f"final weights to check")
    newest, steps = Path(found[0]), result.get("steps")
    if steps is not None and newest.name != f"ckpt-{steps}":
        raise WeightsError(f"{run_dir} holds no {WEIGHTS_FILE}, and its newest checkpoint "
                           f"{newest} is not of the run's final iteration {steps}: the final "
                           f"weights are gone")
    return Target(settings, newest, True, result["weights_sha256"], result_file, None, result,
                  notes=[f"no {WEIGHTS_FILE} (the run finished before rescore wrote one): "
                         f"weights from its checkpoint of the final iteration, normalisation "
                         f"recomputed from the run's training split"])


def from_weights_file(path: Path, model: Optional[str]) -> Target:
    if not path.name.endswith(SUFFIX):
        raise ConfigError(f"{path} is neither a run folder nor a Keras weights file (the name "
                          f"must end in {SUFFIX})")
    description = readable_description(path)
    if description is None:
        settings, note = default_settings_for(path, model)
        return Target(settings, path, False, None, None, None, notes=[note])
    settings = settings_from(description.config, path)
    if model is not None and model != settings.model.name:
        raise WeightsError(f"{path} holds {settings.model.name} weights (so says the config "
                           f"stored in it), not {model}: leave --model out, or name "
                           f"{settings.model.name}")
    return Target(settings, path, False, description.weights_sha256, path, description)


def readable_description(path: Path) -> Optional[RunDescription]:
    try:
        return read_description(path)
    except OSError as err:
        raise WeightsError(f"{path} is not a readable HDF5 weights file: {err}") from err
    except (KeyError, ValueError) as err:
        raise WeightsError(f"{path}: its rescore group is incomplete ({err!r}); the file was "
                           f"not written by rescore, or was altered") from err


def settings_from(config: Dict[str, Any], source: Path) -> Config:
    """A stored run config → the checked Config it was (ConfigError if it no longer is)."""
    try:
        return to_settings(OmegaConf.create(config))
    except OmegaConfBaseException as err:
        raise ConfigError(f"the config stored in {source} does not fit this version of "
                          f"rescore: {err}") from err
    except ConfigError as err:
        raise ConfigError(f"the config stored in {source} is not valid here: {err}") from err


def default_settings_for(path: Path, model: Optional[str]) -> tuple:
    """Settings for weights without a description: the default config with `--model`."""
    from ..models import list_models

    if model is None:
        raise ConfigError(f"{path} stores no rescore description (model, normalisation): "
                          f"name its model with --model NAME; valid: {', '.join(list_models())}")
    has_config = (CONF_DIR / "model" / f"{model}.yaml").is_file()
    settings = compose_settings([f"model={model}" if has_config else f"model.name={model}"])
    d = settings.data
    note = (f"{path} stores no build settings or normalisation: {model} built as the default "
            f"config builds it, normalisation ({d.normalize}) recomputed from the "
            f"{d.name} training split of the default config (val_split={d.val_split})")
    return settings, note
