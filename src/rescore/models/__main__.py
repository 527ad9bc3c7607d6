"""Inspect the model zoo from the command line.

    python -m rescore.models list [--num-classes 10]
    python -m rescore.models summary resnet56 [--num-classes 10] [--shortcut B]
                                              [--input-size 32] [--kwarg stem=cifar]
                                              [--plot resnet56.png]

`list` prints every registered model's trainable parameter count (builder defaults,
family-default shortcut, 32x32 input) from the registry's facts, building nothing (the tests
check those facts against built models); `summary` prints output shape, blocks,
trainable parameters and multiply-accumulates per image for the stem, each stage and the
head. The numbers come from `rescore.models.inspect`, the functions the tests pin.
Exit status 2 on a usage error (unknown name, invalid option, missing plot dependency).
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
from typing import List, Optional

PLOT_HELP = ("--plot needs pydot and the Graphviz 'dot' program: `pip install pydot` and "
             "the graphviz system package (e.g. `apt-get install graphviz`, "
             "`brew install graphviz`, `conda install graphviz`)")


def plot_dependencies_missing() -> Optional[str]:
    """None when keras.utils.plot_model can work, else which part is missing."""
    try:
        importlib.import_module("pydot")
    except ImportError:
        return "pydot is not installed"
    if shutil.which("dot") is None:
        return "the Graphviz 'dot' program is not on PATH"
    return None


def _parse_kwarg(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    return key, {"true": True, "false": False, "none": None}.get(value.lower(), value)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rescore.models",
                                description="List and inspect the registered models.")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="names, family, block, depth, trainable params")
    ls.add_argument("--num-classes", type=int, default=10)
    sm = sub.add_parser("summary", help="per-stage output shape, blocks, params, MACs")
    sm.add_argument("name")
    sm.add_argument("--num-classes", type=int, default=10)
    sm.add_argument("--shortcut", default=None,
                    help="A, B or C (default: the family's own, A for CIFAR v1, B otherwise)")
    sm.add_argument("--input-size", type=int, default=None,
                    help="square input side (default: the builder's, 32 for CIFAR nets, "
                         "224 for ImageNet nets with the imagenet stem)")
    sm.add_argument("--kwarg", type=_parse_kwarg, action="append", default=[],
                    metavar="KEY=VALUE", help="extra builder argument, e.g. stem=cifar")
    sm.add_argument("--plot", metavar="FILE.png", default=None,
                    help="also draw the architecture with keras.utils.plot_model")
    return p


def _list(num_classes: int) -> int:
    """From the registry's facts alone: no model is built, so it answers at once."""
    from . import list_models, model_info

    print(f"trainable parameters at num_classes={num_classes}, 32x32x3 input, builder "
          f"defaults (family-default shortcut; ImageNet nets with their imagenet stem)")
    print(f"{'name':<20} {'family':<20} {'block':<11} {'depth':>5} {'params':>12}")
    for name in list_models():
        info = model_info(name)
        print(f"{name:<20} {info['family']:<20} {info['block']:<11} {info['depth']:>5} "
              f"{params_at(info, num_classes):>12,}")
    return 0


def params_at(info: dict, num_classes: int) -> int:
    """Only the classifier depends on the class count: (features + 1) per class."""
    return info["params"] + (num_classes - 10) * (info["features"] + 1)


def _summary(args) -> int:
    from .inspect import build_for_inspection, format_summary, stage_summary

    if args.plot:
        missing = plot_dependencies_missing()
        if missing:
            print(f"error: cannot plot: {missing}. {PLOT_HELP}", file=sys.stderr)
            return 2
    model = build_for_inspection(args.name, num_classes=args.num_classes,
                                 shortcut=args.shortcut, input_size=args.input_size,
                                 **dict(args.kwarg))
    print(format_summary(model, stage_summary(model)))
    if args.plot:
        import keras

        keras.utils.plot_model(model, to_file=args.plot, show_shapes=True,
                               show_layer_names=True)
        print(f"architecture drawn to {args.plot}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return _list(args.num_classes)
        return _summary(args)
    except (KeyError, ValueError, TypeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
