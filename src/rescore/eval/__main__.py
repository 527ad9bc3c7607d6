"""`rescore eval RUN_DIR`, `rescore eval [--model NAME] WEIGHTS_FILE` (also
`python -m rescore.eval …`): evaluate a trained model on its data set's test set, the
single original view, and print the test error, the test loss, the parameter count and
the weights' sha256.

A run folder is checked against its result.json: the loaded weights must have its
weights_sha256, and the test error is computed as result.json's was. A run trained with
optim.ema is checked twice: also its averaged weights (model_ema.weights.h5) against
ema_weights_sha256 and ema_test_error. A weights file that
rescore wrote carries the run's config, normalisation and hash (train/weights_file.py);
plain Keras weights need --model and get the default config's normalisation. Nothing is
written, and the data set is never downloaded.

Exit status: 0 checked · 2 bad arguments, unknown model, unusable stored config · 7 data
missing or corrupt · 9 weights missing, not fitting the model, or not the recorded ones.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import List, Optional, Tuple

from .. import cpu
from ..errors import DataError, RescoreError

PROG = "rescore eval"


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Evaluate trained weights on the test set (single original "
                               "view) and check them against the run's result.json.")
    parser.add_argument("path", type=Path, metavar="RUN_DIR|WEIGHTS_FILE",
                        help="a finished run folder (holding result.json), or a *.weights.h5")
    parser.add_argument("--model", default=None, metavar="NAME",
                        help="the model of a weights file that does not say (plain Keras "
                             "weights); must agree with the run or file otherwise")
    parser.add_argument("--data-root", default=None, metavar="DIR",
                        help="where the run's data set is (default: the run's data.root, "
                             "else $RESCORE_DATA or ~/.cache/rescore); never downloaded")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="[%(name)s] %(message)s")
    try:
        # The CPU choice training made (oneDNN on where rescore turns it on), before
        # TensorFlow loads: oneDNN's kernels round differently from Eigen's, so without it
        # an AVX2-only machine would not reproduce its own runs' test error bit for bit.
        cpu.choose_at_startup()
        from .check import EvalSession, check
        from .target import ema_target, ema_weights, resolve

        target = resolve(args.path, args.model)
        ema_file = ema_weights(target)  # reads nothing; its note goes into the report below
        session = EvalSession(args.data_root)  # the data read once for both checks
        outcome = check(target, session)
        print(report(args.path, target, outcome))  # before the EMA check, which may fail
        if ema_file:
            averaged = ema_target(target, ema_file)
            print(ema_report(averaged, check(averaged, session)))
    except DataError as err:
        print(f"{PROG}: error: {err}\n{PROG} takes the folder as --data-root DIR.",
              file=sys.stderr)
        return err.exit_code
    except RescoreError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


def report(path: Path, target, outcome) -> str:
    from .check import describe_model

    c = target.settings
    source = (f"{target.weights} (newest checkpoint)" if target.from_checkpoint
              else str(target.weights))
    where = "stored in the weights file" if target.description else "recomputed"
    lines = [
        f"{PROG}: {path}",
        f"  model           {describe_model(target)}",
        f"  params          {outcome.params:,} (trainable)",
        f"  weights         {source}",
        f"  weights_sha256  {outcome.weights_sha256}  {_sha_check(target)}",
        f"  data            {c.data.name} test set, {outcome.test_images:,} images, "
        f"the single original view, batch {c.data.eval_batch_size}",
        f"  normalisation   {c.data.normalize} of {outcome.train_images:,} training images "
        f"({where})",
        f"  test_error      {outcome.test_error!r}  ({100 * outcome.test_error:.2f} %)"
        + _against(target, "test_error", outcome.test_error, outcome.test_images),
        f"  test_loss       {outcome.test_loss!r}"
        + _against(target, "test_loss", outcome.test_loss),
    ]
    if outcome.val_error is not None:
        lines += [
            f"  val_error       {outcome.val_error!r}  ({100 * outcome.val_error:.2f} %, "
            f"{outcome.val_images:,} held-out training images)"
            + _against(target, "val_error", outcome.val_error, outcome.val_images),
            f"  val_loss        {outcome.val_loss!r}"
            + _against(target, "val_loss", outcome.val_loss)]
    lines += [f"  machine         {machine_line()}"]
    trained = training_machine_line(target)
    if trained:
        lines += [f"  trained on      {trained}"]
    lines += [f"  note: {note}" for note in target.notes]
    return "\n".join(lines)


def ema_report(target, outcome) -> str:
    """The averaged weights' lines (optim.ema), after the raw weights' report."""
    decay = target.result.get("decay")
    return "\n".join([
        f"  EMA weights     {target.weights}"
        + (f" (decay {decay} as the run used it)" if decay is not None else ""),
        f"  ema_sha256      {outcome.weights_sha256}  {_sha_check(target)}",
        f"  ema_test_error  {outcome.test_error!r}  ({100 * outcome.test_error:.2f} %)"
        + _against(target, "test_error", outcome.test_error, outcome.test_images),
        f"  ema_test_loss   {outcome.test_loss!r}"
        + _against(target, "test_loss", outcome.test_loss)])


def machine_line() -> str:
    """The CPU and oneDNN state the numbers above were computed with: the same on the
    machine that trained the run is what makes them equal bit for bit."""
    choice = cpu.choose_at_startup()
    state = cpu.onednn_state(choice, cpu.onednn_active())
    return f"{cpu.read_cpu().model}; oneDNN {state} ({choice.decided_by}: {choice.why})"


def training_machine_line(target) -> Optional[str]:
    """This machine against the one the run's last stretch trained on (segments.jsonl):
    bit-for-bit equality with result.json needs the same CPU kind and oneDNN state. None
    for a lone weights file or a run older than segments.jsonl."""
    from ..train.provenance import read_segments

    if target.expected_from is None or target.expected_from.name != "result.json":
        return None
    segments = read_segments(target.expected_from.parent)
    if not segments:
        return None
    last = segments[-1]
    here = cpu.onednn_active()
    trained_kind, this_kind = cpu_kinds(last, cpu.read_cpu())
    differs = ([f"CPU {trained_kind}"] if trained_kind != this_kind else []) + \
        ([f"oneDNN {cpu.onednn_word(last['onednn']['enabled'])}"]
         if here is not None and last["onednn"]["enabled"] != here else [])
    if not differs:
        return "the same CPU kind and oneDNN state as the run's last stretch (segments.jsonl)"
    return (f"{', '.join(differs)} in the run's last stretch (segments.jsonl), not this "
            f"machine's{'' if trained_kind == this_kind else f' {this_kind}'}: the numbers "
            f"may differ from result.json's in their last digits")


def cpu_kinds(segment: dict, here: cpu.Cpu) -> Tuple[str, str]:
    """The CPU kind a segment trained on and this machine's, described alike. Virtual
    machines give different CPUs one name ("Intel(R) Xeon(R) Processor" for both an
    AVX-512 and an AMX generation), so the family/model numbers and the ISA level count
    too, wherever the segment recorded them (older segments compare by name alone)."""
    recorded = [key for key in ("cpu_family_model", "isa") if segment.get(key)]
    mine = {"cpu_family_model": here.family_model, "isa": cpu.isa_level(here.flags)}
    return (_kind(segment["cpu"], [segment[key] for key in recorded]),
            _kind(here.model, [mine[key] for key in recorded]))


def _kind(name: str, details: List[str]) -> str:
    shown = ", ".join(d for d in details if d)
    return f"{name} ({shown})" if shown else name


def _sha_check(target) -> str:
    if target.expected_sha256 is None:
        return "(no recorded hash to check against)"
    return f"(equals the one recorded in {target.expected_from.name})"


def _against(target, key: str, value: float, images: Optional[int] = None) -> str:
    """How a number compares with the run's result.json (run folders only)."""
    if not target.result or key not in target.result:
        return ""
    recorded = target.result[key]
    if value == recorded:
        return "  equals result.json's exactly"
    gap = f", {round(abs(value - recorded) * images)} images" if images else ""
    return f"  result.json: {recorded!r} (DIFFERS by {abs(value - recorded):.3g}{gap})"


if __name__ == "__main__":
    sys.exit(main())
