"""``affordance-grasp``: the command-line entry point. Each subcommand lives in apps/."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import AffordanceGraspError


def _positive_int(v: str) -> int:
    n = int(v)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {v}")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="affordance-grasp", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sc = sub.add_parser("sim-check", help="execute oracle grasps in sampled sim scenes; writes summary.json + PNGs")
    sc.add_argument("--trials", type=_positive_int, default=40)
    sc.add_argument("--seed", type=int, default=0)
    sc.add_argument("--out", type=Path, default=Path("out/sim-check"))
    sc.add_argument("--no-depth-noise", dest="depth_noise", action="store_false",
                    help="save noiseless depth (the RealSense-like noise model is on by default)")
    b = sub.add_parser("bench", help="run the perception-to-grasp pipeline per strategy; writes results.json + PNGs")
    b.add_argument("--strategy", default="all", help="affordance | oracle | quality | center | random | all")
    b.add_argument("--trials", type=_positive_int, default=100)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--split", choices=("seen", "unseen"), default="seen")
    b.add_argument("--max-attempts", type=_positive_int, default=3)
    b.add_argument("--out", type=Path, default=Path("out/bench"))
    b.add_argument("--no-depth-noise", dest="depth_noise", action="store_false")
    return p


def main(argv=None) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "sim-check":
            from .apps.sim_check import sim_check
            sim_check(args.trials, args.seed, args.out, args.depth_noise)
            print(f"wrote {args.out / 'summary.json'}")
        elif args.command == "bench":
            from .apps.bench import bench
            bench(args.strategy, args.trials, args.seed, args.split, args.out, args.max_attempts, args.depth_noise)
            print(f"wrote {args.out}")
    except AffordanceGraspError as e:
        print(f"affordance-grasp {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
