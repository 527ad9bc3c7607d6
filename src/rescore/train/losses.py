"""Training losses beyond the paper's plain softmax cross-entropy (step.cross_entropy),
for label smoothing and for the mixed targets of mixup/CutMix (data/mixing.py).

Label smoothing (Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer
Vision", §7): the target of label y is q'(k) = (1−ε)·[k = y] + ε/K over the K classes,
and the loss is the cross-entropy against q', −Σ_k q'(k)·log p(k). A mixed batch's target
is λ·q'(y_i) + (1−λ)·q'(y_j); cross-entropy is linear in the target, so this is
λ·CE(y_i) + (1−λ)·CE(y_j) (mixup's own formulation, Zhang et al. 2018, §2).

The training error of a mixed batch counts a prediction wrong when it is not the dominant
label of its image: y_i when λ ≥ ½, else y_j (the label with the larger share of its
target).
"""

from __future__ import annotations

from typing import Optional

import tensorflow as tf

from ..data.mixing import Mixed


def smoothed_targets(labels, num_classes: int, smoothing: float):
    """[B, K] float32: (1−ε)·one-hot(labels) + ε/K."""
    one_hot = tf.one_hot(tf.cast(labels, tf.int32), num_classes, dtype=tf.float32)
    if smoothing == 0:
        return one_hot
    return one_hot * (1.0 - smoothing) + smoothing / num_classes


def soft_cross_entropy(targets, logits):
    """Mean over the batch of −Σ_k targets·log softmax(logits)."""
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
    return tf.reduce_mean(-tf.reduce_sum(targets * log_probs, axis=-1))


def training_targets(labels, num_classes: int, smoothing: float,
                     mixed: Optional[Mixed] = None):
    """The [B, K] target of each image: smoothed, and mixed when the batch was."""
    if mixed is None:
        return smoothed_targets(labels, num_classes, smoothing)
    return (mixed.lam * smoothed_targets(mixed.labels, num_classes, smoothing)
            + (1.0 - mixed.lam) * smoothed_targets(mixed.partners, num_classes, smoothing))


def training_cross_entropy(labels, logits, smoothing: float, mixed: Optional[Mixed] = None):
    """Cross-entropy against the smoothed and/or mixed targets (K from the logits)."""
    targets = training_targets(labels, logits.shape[-1], smoothing, mixed)
    return soft_cross_entropy(targets, logits)


def dominant_labels(labels, mixed: Optional[Mixed] = None):
    """The label each training error is counted against: the larger share of the target."""
    if mixed is None:
        return labels
    return tf.where(mixed.lam >= 0.5, mixed.labels, mixed.partners)
