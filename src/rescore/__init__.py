"""rescore: reproduce He et al. 2016 (Deep Residual Learning) CIFAR-10 results in TensorFlow."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rescore")  # setuptools-scm's, from git when it was installed
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown"
