"""A fingerprint of every variable of a model: equal hashes mean bitwise-equal weights."""

from __future__ import annotations

import hashlib

import keras


def weights_sha256(model: keras.Model) -> str:
    digest = hashlib.sha256()
    for v in sorted(model.variables, key=lambda v: v.path):
        digest.update(v.path.encode())
        digest.update(v.numpy().tobytes())
    return digest.hexdigest()
