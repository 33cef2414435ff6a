"""``affordance-grasp``: the command-line entry point. Each subcommand lives in apps/."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import AffordanceGraspError


def _positive_int(v: str) -> int:
    n = int(v)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {v}")
    return n


def _objects_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--objects", type=Path, nargs="+", default=(), metavar="PATH",
                   help="object files (YAML) or folders of them, loaded into the twin first")
    p.add_argument("--categories", type=lambda s: [c.strip() for c in s.split(",") if c.strip()], default=None,
                   help="comma-separated categories to use as targets (default: all of the split)")


def _workers_args(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--workers", type=_positive_int, default=1,
                   help=f"{what} at once, on Ray (default 1: one after another in this process, no Ray); "
                        "the output is the same for any number")
    p.add_argument("--ray-address", default=None, metavar="HOST:PORT",
                   help="run the workers on the Ray cluster there (`ray start --head` prints it; auto: the one "
                        "started on this machine) instead of a local one started for this command")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="affordance-grasp", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sc = sub.add_parser("sim-check", help="execute oracle grasps in sampled sim scenes; writes summary.json + PNGs")
    sc.add_argument("--trials", type=_positive_int, default=40)
    sc.add_argument("--seed", type=int, default=0)
    sc.add_argument("--out", type=Path, default=Path("out/sim-check"))
    sc.add_argument("--no-depth-noise", dest="depth_noise", action="store_false",
                    help="save noiseless depth (the RealSense-like noise model is on by default)")
    sc.add_argument("--pick", choices=("best", "random"), default="best",
                    help="execute the best reachable oracle grasp, or a random reachable one (spreads the "
                         "predicted hold probabilities for the calibration)")
    sc.add_argument("--max-attempts", type=_positive_int, default=3,
                    help="with --pick best: grasps tried per trial, the next after an empty grasp or a slip caught "
                         "in the slow first lift (1: the best reachable grasp alone)")
    _objects_args(sc)
    _workers_args(sc, "trials")
    b = sub.add_parser("bench", help="run the perception-to-grasp pipeline per strategy; writes results.json + PNGs")
    b.add_argument("--strategy", default="all", help="affordance | oracle | quality | center | random, or several joined by commas (affordance,oracle), or all")
    b.add_argument("--trials", type=_positive_int, default=100)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--split", choices=("seen", "unseen", "objects"), default="seen",
                   help="target categories: the model's seen or held-out ones, or the --objects files")
    b.add_argument("--max-attempts", type=_positive_int, default=3)
    b.add_argument("--out", type=Path, default=Path("out/bench"))
    b.add_argument("--no-depth-noise", dest="depth_noise", action="store_false")
    b.add_argument("--predictor", type=Path, default=None,
                   help="predictor YAML for the affordance strategy (backend: model or affordance_r1; default: the "
                        "shipped model)")
    b.add_argument("--oracle-affordance", action="store_true",
                   help="run the affordance strategy on the ground-truth heatmap instead of the model")
    b.add_argument("--part-geometry", type=Path, default=None,
                   help="part model YAML fused with a learned predictor's heat (default: config/part_geometry.yaml; "
                        "one with checkpoint '' turns it off)")
    b.add_argument("--profile", action="store_true",
                   help="also time every stage (cloud, model, generation, scoring), given the object and for "
                        "the whole request with no hint; writes profile.json and prints a table")
    b.add_argument("--executor", choices=("sim", "moveit-double"), default="sim",
                   help="run the ranked grasps with the twin's executor (sim), or with the MoveIt backend over a "
                        "moveit_py contract-test double backed by the twin (moveit-double; docs/real_robot.md)")
    _objects_args(b)
    _workers_args(b, "trials")
    d = sub.add_parser("dataset", help="render an affordance dataset split with the sim twin (resumable)")
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--n", type=_positive_int, required=True, help="number of rendered scenes (each gives several samples)")
    d.add_argument("--split", choices=("train", "val", "test_seen", "test_unseen"), required=True)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--max-targets", type=_positive_int, default=2,
                   help="at most this many objects of the split's target categories per scene (1..N)")
    d.add_argument("--objects", type=Path, nargs="+", default=(), metavar="PATH",
                   help="object files (YAML) or folders of them: their objects join the split's targets")
    _workers_args(d, "scenes rendered")
    t = sub.add_parser("train", help="train the affordance model (KLD loss, AdamW); resumable, keeps the best checkpoint")
    t.add_argument("--data", type=Path, required=True, nargs="+",
                   help="rendered split(s), or an AGD20K root (ROOT or ROOT::Unseen); several are read as one")
    t.add_argument("--val", type=Path, default=None, help="validation split (validated every epoch; best kept)")
    t.add_argument("--config", type=Path, default=Path("config/model/default.yaml"))
    t.add_argument("--out", type=Path, required=True, help="checkpoint path (.pt); its .last.pt sibling allows resuming")
    t.add_argument("--epochs", type=_positive_int, default=None, help="override the config's epochs")
    t.add_argument("--max-minutes", type=float, default=None, help="override the config's wall-clock cap")
    t.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    t.add_argument("--restart", action="store_true", help="ignore a .last.pt and start from scratch")
    t.add_argument("--init", type=Path, default=None,
                   help="fine-tune: start from this checkpoint's weights (same architecture and labels), new optimizer")
    rl = sub.add_parser("train-rl", help="GRPO fine-tuning from verifiable rewards (points drawn from the heatmap); "
                                         "resumable, curves as PNG/JSON")
    rl.add_argument("--data", type=Path, default=None,
                    help="rendered training split (for the point reward alone; the held reward samples twin scenes)")
    rl.add_argument("--val", type=Path, default=None, help="validation split (scored every --val-every steps)")
    rl.add_argument("--init", type=Path, default=Path("models/affordance_anneal.pt"),
                    help="the supervised model to start from (and the frozen KL reference)")
    rl.add_argument("--out", type=Path, required=True, help="checkpoint path (.pt); .last.pt, .json, .png beside it")
    rl.add_argument("--config", type=Path, default=None,
                    help="settings file (default config/train_rl.yaml); the options below override it")
    rl.add_argument("--steps", type=_positive_int, default=None, help="rollouts (default from the config)")
    rl.add_argument("--batch-size", type=_positive_int, default=None, help="queries per rollout")
    rl.add_argument("--group-size", type=_positive_int, default=None, help="points drawn per query (a GRPO group)")
    rl.add_argument("--epochs", type=_positive_int, default=None, help="passes over each rollout")
    rl.add_argument("--minibatch", type=_positive_int, default=None, help="queries per update")
    rl.add_argument("--lr", type=float, default=None)
    rl.add_argument("--weight-decay", type=float, default=None)
    rl.add_argument("--kl-coef", type=float, default=None, help="weight of the clamped k3 KL to the starting model")
    rl.add_argument("--clip-eps", type=float, default=None)
    rl.add_argument("--reward", action="append", default=None, metavar="NAME=WEIGHT",
                    help="point or held (repeatable; replaces the config's weights, default point=1): point, the "
                         "drawn point is on the requested part; held, the twin holds the object with the grasp the "
                         "point asks for, by that part")
    rl.add_argument("--val-every", type=_positive_int, default=None)
    rl.add_argument("--val-samples", type=_positive_int, default=None)
    rl.add_argument("--seed", type=int, default=None)
    rl.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this long")
    rl.add_argument("--device", default=None)
    rl.add_argument("--restart", action="store_true", help="ignore a .last.pt and start from --init")
    _workers_args(rl, "twin rollout jobs (scenes, grasps) of the held reward")
    e = sub.add_parser("eval", help="KLD/SIM/NSS + gIoU/cIoU/P@50 of a checkpoint and 3 baselines; metrics.json + grid.png")
    e.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped model (config/affordance_predictor.yaml)")
    e.add_argument("--data", type=Path, required=True, help="a rendered split, or an AGD20K root (ROOT or ROOT::Unseen)")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--device", default=None)
    e.add_argument("--grid", type=int, default=24, help="samples in the PNG grid")
    bu = sub.add_parser("bringup", help="start a node graph from a ROS 2 params file, one process per node (no ROS CLI)")
    bu.add_argument("--config", type=Path, default=Path("config/sim.yaml"))
    bu.add_argument("--nodes", nargs="*", default=None, help="only these nodes of the file")
    dm = sub.add_parser("demo", help="the main job: sim graph + a task-planner client calling grasp_object; summary.json")
    dm.add_argument("--out", type=Path, default=Path("out/demo"))
    dm.add_argument("--trials", type=_positive_int, default=14)
    dm.add_argument("--seed", type=int, default=0)
    dm.add_argument("--config", type=Path, default=None, help="params file (default config/sim.yaml)")
    dm.add_argument("--max-attempts", type=_positive_int, default=3)
    dm.add_argument("--objects", type=Path, nargs="+", default=(), metavar="PATH",
                    help="object files (YAML) or folders of them: their objects appear in the scenes, asked for "
                         "with their own queries")
    ch = sub.add_parser("choose", help="how often detection picks the object a request means (the demo's kinds of "
                                       "request, nothing moved); summary.json")
    ch.add_argument("--trials", type=_positive_int, default=200)
    ch.add_argument("--seed", type=int, default=100)
    ch.add_argument("--out", type=Path, default=Path("out/choose"))
    ch.add_argument("--objects", type=Path, nargs="+", default=(), metavar="PATH",
                    help="object files (YAML) or folders of them: their objects join the scenes and requests")
    ch.add_argument("--predictor", type=Path, default=None,
                    help="predictor YAML (default: the shipped model), to compare checkpoints on the same requests")
    ch.add_argument("--absent", action="store_true",
                    help="instead: ask each scene for something not in view, and count refusals (absent.json)")
    ch.add_argument("--recognizer", type=Path, default=None,
                    help="shape recognizer YAML (default: config/recognizer.yaml; one with checkpoint '' turns it off)")
    tr = sub.add_parser("train-recognizer", help="the shape recognizer from the twin's renders (resumable collection, "
                                                 "seconds of training); summary.json + confusion PNGs")
    tr.add_argument("--out", type=Path, default=Path("out/recognizer"))
    tr.add_argument("--scenes", type=int, default=1000, help="scenes to render and describe (0: train on what --out holds)")
    tr.add_argument("--seed", type=int, default=100000, help="first scene seed (away from bench, choose and demo seeds)")
    tr.add_argument("--epochs", type=_positive_int, default=300)
    tr.add_argument("--checkpoint", type=Path, default=None, help="where to write it (default OUT/recognizer.pt)")
    tp = sub.add_parser("train-part-geometry", help="the per-point part model from the twin's renders (resumable "
                                                    "collection, a minute of training); summary.json")
    tp.add_argument("--out", type=Path, default=Path("out/part_geometry"))
    tp.add_argument("--scenes", type=int, default=1000, help="scenes to render and describe (0: train on what --out holds)")
    tp.add_argument("--seed", type=int, default=200000, help="first scene seed (away from bench, choose and demo seeds)")
    tp.add_argument("--epochs", type=_positive_int, default=30)
    tp.add_argument("--checkpoint", type=Path, default=None, help="where to write it (default OUT/part_geometry.pt)")
    tp.add_argument("--stretch", type=float, default=0.0,
                    help="also describe each training object stretched or shrunk by up to 1 + this along each axis "
                         "(other proportions; 0: off)")
    sk = sub.add_parser("soak", help="the sim graph under load (N clients at once) and over time (a request every "
                                     "few seconds): answers, errors, latency, memory per node; soak.json + soak.png")
    sk.add_argument("--minutes", type=float, default=30.0)
    sk.add_argument("--period", type=float, default=5.0, help="seconds between requests in the soak")
    sk.add_argument("--clients", type=_positive_int, default=10, help="task planners calling at the same moment")
    sk.add_argument("--seed", type=int, default=0, help="the scene")
    sk.add_argument("--config", type=Path, default=None, help="params file (default config/sim.yaml)")
    sk.add_argument("--out", type=Path, default=Path("out/soak"))
    sk.add_argument("--replay-cycles", type=int, default=0, help="instead of the streaming soak: record a still scene, "
                    "then replay the bag this many times with a detect_grasps request each, and count how often the "
                    "best grasp is the first cycle's; replay.json + replay.png")
    sk.add_argument("--replay-rate", type=float, default=4.0, help="bag playback speed in the replay cycles")
    ob = sub.add_parser("objects", help="list the object categories, check object files, render a picture grid")
    ob.add_argument("--objects", type=Path, nargs="+", default=(), metavar="PATH",
                    help="object files (YAML) or folders of them to load and check")
    ob.add_argument("--grid", type=Path, default=None, help="write a PNG grid of every category (or object file)")
    ob.add_argument("--check", action="store_true", help="settle each one in the twin and report problems")
    ob.add_argument("--markdown", type=Path, default=None, help="write the categories table (README format)")
    nd = sub.add_parser("nodes", help="write each node's parameter table, from its code, into the nodes manual")
    nd.add_argument("--markdown", type=Path, default=Path("docs/nodes.md"), help="the manual to update in place")
    rec = sub.add_parser("record", help="record camera topics of a running graph into a rosbag2 (mcap)")
    rec.add_argument("--out", type=Path, required=True, help="bag folder to create")
    rec.add_argument("--duration", type=float, required=True, help="seconds")
    rec.add_argument("--topics", nargs="+", default=None,
                     help="default: /camera/color/image_raw /camera/aligned_depth_to_color/image_raw /camera/color/camera_info")
    cr = sub.add_parser("camera-rate", help="paired colour + depth frames per second at the planner from a published "
                                            "camera stream (1280x720 30 Hz), per camera QoS; camera_rate.json + .md")
    cr.add_argument("--settings", nargs="+", default=None, metavar="RELIABILITY:DEPTH",
                    help="subscription QoS to measure, e.g. reliable:1 best_effort:5 (default: reliable 1, 2, 5 and "
                         "best_effort 1, 5)")
    cr.add_argument("--seconds", type=float, default=10.0, help="stream length per setting")
    cr.add_argument("--width", type=_positive_int, default=1280)
    cr.add_argument("--height", type=_positive_int, default=720)
    cr.add_argument("--fps", type=float, default=30.0)
    cr.add_argument("--camera-qos", choices=("SYSTEM_DEFAULT", "DEFAULT", "SENSOR_DATA"), default="SYSTEM_DEFAULT",
                    help="the images' QoS at the camera, as realsense-ros's color_qos/depth_qos name it (its default: "
                         "SYSTEM_DEFAULT)")
    cr.add_argument("--out", type=Path, default=Path("out/camera-rate"))
    rp = sub.add_parser("replay", help="republish a rosbag2 with its original timing")
    rp.add_argument("bag", type=Path)
    rp.add_argument("--rate", type=float, default=1.0)
    rp.add_argument("--loop", action="store_true")
    rp.add_argument("--no-restamp", dest="restamp", action="store_false",
                    help="publish header stamps as recorded (nodes then need max_frame_age: 0)")
    return p


def main(argv=None) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "sim-check":
            from .apps.sim_check import sim_check
            sim_check(args.trials, args.seed, args.out, args.depth_noise, args.categories, args.objects, args.pick,
                      args.max_attempts, args.workers, args.ray_address)
            print(f"wrote {args.out / 'summary.json'}")
        elif args.command == "bench":
            from .apps.bench import bench
            bench(args.strategy, args.trials, args.seed, args.split, args.out, args.max_attempts, args.depth_noise,
                  args.predictor, args.oracle_affordance, args.objects, args.categories, args.profile,
                  args.part_geometry, args.workers, args.ray_address, args.executor)
            print(f"wrote {args.out}")
        elif args.command == "dataset":
            from .apps.dataset import render_dataset
            render_dataset(args.out, args.n, args.split, args.seed, args.workers, args.max_targets, args.objects,
                           args.ray_address)
        elif args.command == "train":
            from .apps.train import train
            summary = train(args.data, args.config, args.out, args.val, args.device, args.epochs, args.restart,
                            args.max_minutes, init=args.init)
            print(f"best val KLD {summary['best_val_kld']:.4f}; wrote {args.out} ({summary['size_mb']} MB)")
        elif args.command == "train-rl":
            from .apps.train_rl import config_from_args, train_rl
            cfg = config_from_args(args)
            summary = train_rl(args.data, args.init, args.out, args.val, cfg, args.device, args.restart, args.max_minutes,
                               workers=args.workers, ray_address=args.ray_address)
            scored = any("val_point_reward" in v for v in summary.get("validation", []))
            print(f"{summary['steps']} steps; best {'validation point reward' if scored else 'mean training reward'} "
                  f"{summary.get('best_val_point_reward')}; checkpoint {summary.get('checkpoint')}")
        elif args.command == "eval":
            from .apps.eval import run_eval
            run_eval(args.data, args.out, args.checkpoint, args.device, args.grid)
            print(f"wrote {args.out / 'metrics.json'}")
        elif args.command == "bringup":
            from .apps.bringup import bringup
            return bringup(args.config, args.nodes)
        elif args.command == "demo":
            from .apps.demo import demo
            demo(args.out, args.trials, args.seed, args.config, args.max_attempts, args.objects)
            print(f"wrote {args.out / 'summary.json'}")
        elif args.command == "choose":
            from .apps.choice import absent_refusals, choice_accuracy, choice_table
            if args.absent:
                summary = absent_refusals(args.trials, args.seed, args.out, predictor_config=args.predictor,
                                          recognizer_config=args.recognizer)
                print(f"refused {summary['refused_rate']:.1%} of {summary['n']} requests for something not in view")
                for r in summary["accepted"][:20]:
                    print(f"  accepted {r['query']!r} with {r['present']} in view: {r['reason'][:120]}")
                print(f"wrote {args.out / 'absent.json'}")
                return 0
            summary = choice_accuracy(args.trials, args.seed, args.out, args.objects, predictor_config=args.predictor,
                                      recognizer_config=args.recognizer)
            print(choice_table(summary))
            print(f"refusals: {summary['refused']}")
            print(f"wrote {args.out / 'summary.json'}")
        elif args.command == "train-recognizer":
            from .apps.train_recognizer import train_recognizer
            summary = train_recognizer(args.out, args.scenes, args.seed, args.epochs, args.checkpoint)
            print(json.dumps({k: v for k, v in summary.items() if k != "machine"}, indent=1))
        elif args.command == "train-part-geometry":
            from .apps.train_part_geometry import train_part_geometry
            summary = train_part_geometry(args.out, args.scenes, args.seed, args.epochs, args.checkpoint, args.stretch)
            print(json.dumps({k: v for k, v in summary.items() if k != "machine"}, indent=1))
        elif args.command == "soak":
            if args.replay_cycles:
                from .apps.replay_soak import replay_soak
                replay_soak(args.out, args.replay_cycles, args.config, rate=args.replay_rate)
                print(f"wrote {args.out / 'replay.json'} and {args.out / 'replay.png'}")
            else:
                from .apps.soak import soak
                soak(args.out, args.minutes, args.period, args.clients, args.config, args.seed)
                print(f"wrote {args.out / 'soak.json'} and {args.out / 'soak.png'}")
        elif args.command == "objects":
            from .apps.objects import objects_command
            objects_command(args.objects, args.grid, args.check, args.markdown)
        elif args.command == "nodes":
            from .apps.nodes_doc import write_tables
            print(f"{args.markdown}: " + ("parameter tables updated" if write_tables(args.markdown) else "up to date"))
        elif args.command == "record":
            from .apps.bag import CAMERA_TOPICS, record
            r = record(args.out, args.duration, args.topics or CAMERA_TOPICS)
            print(f"wrote {args.out}: {r['messages']}")
        elif args.command == "camera-rate":
            from .apps.camera_rate import DEFAULT_SETTINGS, camera_rate
            summary = camera_rate(args.settings or DEFAULT_SETTINGS, args.seconds, args.out, args.width, args.height,
                                  args.fps, publisher_qos=args.camera_qos)
            print(summary["table"])
            print(f"wrote {args.out / 'camera_rate.json'} and {args.out / 'camera_rate.md'}")
        elif args.command == "replay":
            from .apps.bag import replay
            r = replay(args.bag, args.rate, args.loop, args.restamp)
            print(f"published {r['published']} messages")
    except AffordanceGraspError as e:
        print(f"affordance-grasp {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
