"""rescore eval: check a trained model on the test set.

    rescore eval RUN_DIR                          (also python -m rescore.eval RUN_DIR)
    rescore eval [--model NAME] WEIGHTS_FILE

target.py resolves what to check, check.py evaluates it, __main__.py prints the outcome.
"""


def main(argv=None) -> int:
    from .__main__ import main as _main

    return _main(argv)
