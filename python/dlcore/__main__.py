"""Command-line entry point: ``python -m dlcore <command>``."""

from __future__ import annotations

import argparse
import sys

from dlcore import demo as demo_cli


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dlcore",
        description="dlcore: deep learning with Rust kernels and a PyTorch-shaped API.",
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    demo = sub.add_parser(
        "demo",
        help="train a small MLP on the spiral dataset and write an illustrated report",
        description="Train a 2-64-64-3 MLP on the spiral dataset, print the train "
        "accuracy and write a report folder: index.html with the training history, "
        "decision boundary, hidden-layer manifold and loss landscape (PNG files).",
    )
    demo_cli.add_arguments(demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)  # exits with usage (code 2) on an unknown command
    if args.command == "demo":
        progress = not args.no_progress
        return demo_cli.run(args.epochs, args.out, args.seed, progress=progress)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
