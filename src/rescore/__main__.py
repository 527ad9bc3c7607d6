"""`python -m rescore …` and the `rescore` console script: compose the config with Hydra,
check it once, and hand plain values to the training loop."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from .config import register_resolvers, register_schemas, to_settings
from .gpu_pinning import pin_if_joblib_job

register_schemas()
register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def app(cfg: DictConfig) -> float:
    settings = to_settings(cfg)
    pin_if_joblib_job(settings.trainer.strategy)  # before TF touches a GPU; gpu_pinning.py
    from .train.loop import run  # TensorFlow loads only once the config is known good

    result = run(settings, Path(HydraConfig.get().runtime.output_dir))
    logging.getLogger("rescore").info("test error %.2f%% (%s)", 100 * result["test_error"],
                                      HydraConfig.get().runtime.output_dir)
    return result["test_error"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
