"""Parallel work on Ray (``--workers``, ``--ray-address``): bench and dataset write what the serial
run writes, on a local cluster started for the command and on a cluster started beforehand; the
serial run does not import Ray; a wrong address is a clear error."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from affordance_grasp.cli import main

SEED = 1000
STRATEGIES = "affordance,oracle"
# Everything in a trial's row that is not a time: the outcome must not depend on the worker.
ROW_KEYS = ("trial", "seed", "category", "family", "query", "target", "intended_part", "n_objects",
            "part_visible_px", "n_candidates", "n_candidates_on_part", "success", "part_correct", "task_success",
            "attempts", "failure_reason", "refusal", "if_tried", "parts_touched", "chosen_score",
            "chosen_affordance")
NOT_COMPARED = ("latency_ms", "machine", "trials")   # summary fields that hold times or the machine


def bench_out(out: Path, strategy: str) -> dict:
    """Per strategy: the rows without times, the summary without times, and every PNG's bytes."""
    res = {}
    for s in strategy.split(","):
        folder = out / s if (out / s / "results.json").exists() else out
        r = json.loads((folder / "results.json").read_text())
        res[s] = {"rows": [{k: t[k] for k in ROW_KEYS} for t in r["trials"]],
                  "summary": {k: v for k, v in r.items() if k not in NOT_COMPARED},
                  "pngs": {p.name: p.read_bytes() for p in sorted((out / s / "trials").glob("*.png"))}}
    return res


def same_pictures(a: dict, b: dict) -> bool:
    """The same overlays, pixel for pixel up to one level on a few pixels: a worker runs torch on
    one thread and the serial run on all cores, and a batch of crops through the encoder rounds
    its matrix products differently (a heat value in its last bits moved one pixel of one colour
    by 1 of 255), though every outcome is the same."""
    import cv2
    import numpy as np
    if a.keys() != b.keys():
        return False
    for name in a:
        x, y = (cv2.imdecode(np.frombuffer(v[name], np.uint8), cv2.IMREAD_COLOR).astype(int) for v in (a, b))
        if x.shape != y.shape or np.abs(x - y).max() > 1 or (x != y).any(axis=2).sum() > 20:
            return False
    return True


def run_serial(args: list) -> None:
    """The command with ``--workers 1``, in a fresh process as a user runs it (an earlier test in
    this process may have left objects or settings loaded), which must not import Ray."""
    code = ("import sys\nfrom affordance_grasp.cli import main\n"
            f"rc = main({args!r})\n"
            "assert 'ray' not in sys.modules, 'the serial run imported ray'\nsys.exit(rc)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.fixture(scope="module")
def serial_bench(tmp_path_factory):
    """The serial run of 3 trials."""
    out = tmp_path_factory.mktemp("serial")
    run_serial(["bench", "--strategy", STRATEGIES, "--trials", "3", "--seed", str(SEED), "--out", str(out)])
    return out


def test_bench_on_two_workers_writes_the_serial_rows_pngs_and_summaries(serial_bench, tmp_path):
    scratch = lambda: set(Path(tempfile.gettempdir()).glob("ag-bench-*"))  # noqa: E731
    before = scratch()
    assert main(["bench", "--strategy", STRATEGIES, "--trials", "3", "--seed", str(SEED), "--workers", "2",
                 "--out", str(tmp_path)]) == 0
    serial, parallel = bench_out(serial_bench, STRATEGIES), bench_out(tmp_path, STRATEGIES)
    for s in STRATEGIES.split(","):
        assert [r["trial"] for r in parallel[s]["rows"]] == [0, 1, 2]
        assert parallel[s]["rows"] == serial[s]["rows"], s
        assert parallel[s]["summary"] == serial[s]["summary"], s
        assert len(parallel[s]["pngs"]) == 3 and same_pictures(parallel[s]["pngs"], serial[s]["pngs"]), s
    assert (tmp_path / "comparison.md").is_file()
    assert scratch() - before == set()   # the workers removed their scratch folders


def start_head(temp_dir: Path) -> tuple:
    """A Ray head on this machine (2 CPUs, no dashboard, its own temp folder so that no other
    ``ray.init()`` here finds it), in a process group of its own; its address once it is up."""
    ray = Path(sys.executable).with_name("ray")
    head = subprocess.Popen([str(ray), "start", "--head", "--port=0", "--num-cpus=2", "--include-dashboard=false",
                             "--node-ip-address=127.0.0.1", f"--temp-dir={temp_dir}",
                             f"--object-store-memory={200 * 1024 ** 2}", "--disable-usage-stats", "--block"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, process_group=0,
                            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    # `ray start` records the address it serves in its temp folder once the head is up.
    record = temp_dir / "ray_current_cluster"
    deadline = time.monotonic() + 120
    while not (record.is_file() and record.read_text().strip()):
        if head.poll() is not None or time.monotonic() > deadline:
            stop_head(head)
            pytest.fail(f"ray start --head did not come up:\n{head.stdout.read()[-3000:]}")
        time.sleep(0.2)
    return head, record.read_text().strip()


def stop_head(head: subprocess.Popen) -> None:
    """Stop this test's cluster alone: its process group (SIGTERM, then SIGKILL). ``ray stop`` would
    stop every Ray process of this user on the machine, other people's clusters included."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        try:
            os.killpg(head.pid, sig)
        except ProcessLookupError:
            break
        try:
            head.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    if head.stdout:
        head.stdout.close()


def test_bench_on_a_cluster_started_before_it_writes_the_serial_rows(serial_bench, tmp_path):
    # A short folder: Ray's socket paths inside it must stay under the 107 bytes of a Unix socket.
    temp_dir = Path(tempfile.mkdtemp(prefix="agray", dir="/tmp"))
    head, address = start_head(temp_dir)
    try:
        assert main(["bench", "--strategy", "oracle", "--trials", "2", "--seed", str(SEED), "--workers", "2",
                     "--ray-address", address, "--out", str(tmp_path)]) == 0
    finally:
        stop_head(head)
        subprocess.run(["rm", "-rf", str(temp_dir)], check=False)
    serial, cluster = bench_out(serial_bench, "oracle")["oracle"], bench_out(tmp_path, "oracle")["oracle"]
    assert cluster["rows"] == serial["rows"][:2]
    assert cluster["pngs"] == {k: v for k, v in serial["pngs"].items() if k in ("000.png", "001.png")}


def test_a_wrong_ray_address_says_what_to_do(tmp_path, capsys):
    for address in ("127.0.0.1:1", "no-port"):
        assert main(["bench", "--strategy", "oracle", "--trials", "1", "--workers", "2", "--ray-address", address,
                     "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert f"--ray-address {address}" in err or f"--ray-address {address!r}" in err, err
        assert "ray start --head" in err and "leave --ray-address out" in err, err


def test_dataset_on_two_workers_writes_the_serial_files(tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    run_serial(["dataset", "--out", str(serial), "--n", "3", "--split", "val", "--seed", "7"])
    assert main(["dataset", "--out", str(parallel), "--n", "3", "--split", "val", "--seed", "7", "--workers",
                 "2"]) == 0
    files = lambda root: {str(p.relative_to(root)): p.read_bytes()  # noqa: E731
                          for p in sorted((root / "scenes").rglob("*")) if p.is_file()}
    assert files(parallel) == files(serial) and len(files(serial)) > 6
    timing = ("seconds_this_run", "scenes_per_minute", "machine")
    manifest = lambda root: {k: v for k, v in json.loads((root / "manifest.json").read_text()).items()  # noqa: E731
                             if k not in timing}
    assert manifest(parallel) == manifest(serial) and manifest(serial)["n_scenes"] == 3
    assert not list((parallel / "scenes").glob("*.tmp"))


# ---------------------------------------------------------------- train-rl's twin rollouts
RL_ARGS = ["--reward", "held=1", "--reward", "point=0.5", "--batch-size", "2", "--group-size", "4", "--minibatch", "1",
           "--lr", "1e-3", "--val-every", "2", "--seed", "3"]


@pytest.fixture(scope="module")
def tiny_init(tmp_path_factory) -> Path:
    """A tiny random affordance model (never trained, nothing downloaded) with the whole vocabulary."""
    from dataclasses import replace

    import torch

    from affordance_grasp.affordance.checkpoint import save_checkpoint
    from affordance_grasp.affordance.encoders import LabelVocab
    from affordance_grasp.affordance.model import AffordanceModel, ModelConfig
    from affordance_grasp.affordance.query import Vocabulary

    torch.manual_seed(0)
    words = Vocabulary.load()
    cfg = replace(ModelConfig.load("config/model/default.yaml"), dim=32, fuser_blocks=1, decoder_blocks=1,
                  decoder_mlp=32, logits_size=28)
    return save_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny.pt",
                           AffordanceModel(cfg, LabelVocab(words.objects, words.affordances, words.parts)))


def rl_run(out: Path) -> tuple:
    """A train-rl run's per-step logs without their times, and its last weights."""
    from affordance_grasp.affordance.checkpoint import read_checkpoint

    state = read_checkpoint(out.with_name(out.name + ".last.pt"))
    history = [{k: v for k, v in h.items() if k != "seconds"} for h in json.loads(state["history"])]
    return history, state["state_dict"]


@pytest.fixture(scope="module")
def serial_rl(tiny_init, tmp_path_factory) -> Path:
    """One step of train-rl with the held reward on one worker, in a fresh process (no Ray)."""
    out = tmp_path_factory.mktemp("rl-serial") / "rl.pt"
    run_serial(["train-rl", "--init", str(tiny_init), "--out", str(out), "--steps", "1"] + RL_ARGS)
    return out


def test_train_rl_with_the_held_reward_on_two_workers_gets_the_serial_rewards_and_weights(tiny_init, serial_rl,
                                                                                            tmp_path):
    import torch

    out = tmp_path / "rl.pt"
    assert main(["train-rl", "--init", str(tiny_init), "--out", str(out), "--steps", "1", "--workers", "2"]
                + RL_ARGS) == 0
    (history, weights), (serial, serial_weights) = rl_run(out), rl_run(serial_rl)
    assert [h["step"] for h in history] == [1] and history == serial
    assert all({"reward_held", "reward_point", "no_grasp", "grasps"} <= set(h) for h in history)
    assert history[0]["grasps"] > 0 and history[0]["updates"] == 4   # the twin executed what the points asked for
    assert all(0.0 <= h["reward_held"] <= 1.0 and 0.0 <= h["no_grasp"] <= 1.0 for h in history)
    assert weights.keys() == serial_weights.keys() and all(torch.equal(weights[k], serial_weights[k]) for k in weights)
    assert json.loads((tmp_path / "rl.json").read_text())["workers"] == 2


def test_train_rl_on_a_cluster_started_before_it_gets_the_serial_step(tiny_init, serial_rl, tmp_path):
    temp_dir = Path(tempfile.mkdtemp(prefix="agray", dir="/tmp"))
    head, address = start_head(temp_dir)
    out = tmp_path / "rl.pt"
    try:
        assert main(["train-rl", "--init", str(tiny_init), "--out", str(out), "--steps", "1", "--workers", "2",
                     "--ray-address", address] + RL_ARGS) == 0
    finally:
        stop_head(head)
        subprocess.run(["rm", "-rf", str(temp_dir)], check=False)
    assert rl_run(out)[0] == rl_run(serial_rl)[0]
