"""rescore: reproduce He et al. 2016 (Deep Residual Learning) CIFAR-10 results in TensorFlow."""

__version__ = "0.1.0"
