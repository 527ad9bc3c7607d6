"""The model registry instance; families register into it when `rescore.models` is imported."""

from ..registry import Registry

MODELS = Registry("model")
