"""The training loop and its parts: schedule, step, optimizer, checkpoints, logging."""
