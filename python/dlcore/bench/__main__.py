"""`python -m dlcore.bench [overhead|mlp|optim|cnn|seq|all] [--threads N] [--repeat R] [--memory] [--plot FILE]`;
`gemm` and `peak` see dlcore.bench.gemm; attention memory: `python -m dlcore.bench.attn_memory`."""

import argparse
import json
import os
import sys

from dlcore.bench import CASES, GROUPS, cpu_model, format_table, run


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("gemm", "peak"):
        from dlcore.bench.gemm import main as gemm_main

        return gemm_main(argv)
    p = argparse.ArgumentParser(prog="python -m dlcore.bench", description="dlcore vs PyTorch, one process, one table")
    p.add_argument("cases", nargs="*", default=["all"], help=f"groups {sorted(GROUPS)} or cases {sorted(CASES)}")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for both libraries (default: all cores)")
    p.add_argument("--repeat", type=int, default=5, help="repetitions; the best one is reported")
    p.add_argument("--min-time", type=float, default=0.05, help="seconds per repetition (sets the iteration count)")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    p.add_argument("--plot", metavar="FILE", help="also draw the speed-ups as a bar chart (.png/.svg)")
    p.add_argument("--memory", action="store_true", help="also measure the peak memory of the convolution and LeNet steps (fresh process per library)")
    args = p.parse_args(argv)
    try:
        rows = run(args.cases, threads=args.threads, repeat=args.repeat, min_time=args.min_time)
    except KeyError as e:
        p.error(str(e))
    print(format_table(rows))
    if args.memory:
        from dlcore.bench.cnn import MEMORY_CASES, format_memory, step_memory

        for r in rows:
            if r["case"] in MEMORY_CASES:  # the others run their op while being built
                print(format_memory(step_memory(r["case"], threads=args.threads)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    if args.plot:
        from dlcore.bench.plot import plot_speedups

        plot_speedups(rows, args.plot, title=f"dlcore vs torch: {cpu_model()}, {args.threads} threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
