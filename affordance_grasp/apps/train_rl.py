"""``affordance-grasp train-rl``: GRPO fine-tuning of the affordance model from verifiable rewards
(Reason-RFT's second stage; the shipped supervised model is its first).

Each step takes a batch of rendered queries, draws ``group_size`` points per query from the
model's own heatmap (the policy), rewards each point, and then makes ``epochs`` passes over that
rollout in minibatches of ``minibatch`` queries, one clipped-surrogate step each, with a clamped
k3 KL penalty to the frozen starting model (``affordance/grpo.py``). Each step logs the mean
reward, loss, surrogate, KL, clip fraction and mean |ratio - 1| over its updates.

Rewards (weights on the command line, ``--reward NAME=WEIGHT``; a weight of 0 drops the reward):
- ``point``: the point lies on the requested part (the part's mask: the rendered ground-truth
  heatmap at or above half its peak; on twin scenes, the rendered part mask).
- ``held``: the grasp the point asks for, executed in the twin, lifts and holds the object by the
  requested part alone (``rewards.held_reward``). Its queries are twin scenes sampled for each
  step (``twin:`` in the config, ``apps/rollouts.py``), not ``--data``; the point reward, if also
  weighted, is then scored on the same scenes. The twin's work runs on ``--workers`` Ray actors
  (a local cluster, or the one at ``--ray-address``), or in this process with one worker; every
  job is seeded by its query, so the rewards are the same for any number of workers.

Every reward must be able to differ between the points of one group: a reward shared by the group
(the heatmap's peak on the part was one) is cancelled by the group normalisation, and is refused.
The peak on the part is reported by validation instead.

Resumable (``<out>.last.pt`` holds the model, optimiser, step and curves); every ``--val-every``
steps the validation split is scored (expected point reward: the heat on the part; the peak on
the part; KLD to the ground truth) and ``<out>.json`` / ``<out>.png`` are rewritten. The best
validation checkpoint is ``<out>``, a drop-in for ``config/affordance_predictor.yaml``.
"""
from __future__ import annotations

import contextlib
import copy
import itertools
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch
from tqdm import tqdm

from ..affordance.checkpoint import load_model, read_checkpoint, save_checkpoint
from ..affordance.datasets import TorchAffordanceDataset, open_data
from ..affordance.transforms import CropConfig
from ..affordance.encoders import query_prompt
from ..affordance.device import autocast, pick_device
from ..affordance.grpo import GRPOConfig, collect_rollout, update_policy
from ..affordance.query import Vocabulary
from ..config import from_mapping, load_yaml, with_overrides
from ..errors import CheckpointError, ConfigError, InvalidInputError
from ..resources import resource
from .rollouts import TwinConfig
from .train import kld_loss

REWARDS = ("point", "held")
TWIN_REWARDS = ("held",)   # rewards that need twin scenes (and make every reward use them)
# Rewards that are the same for every point of a group: group normalisation gives them advantage 0.
GROUP_CONSTANT = {"peak": "the heatmap's peak on the part (validation reports it as val_peak_on_part)"}
PART_LEVEL = 0.5   # the part's mask: ground-truth heat at or above this x its peak


@dataclass
class RLConfig:
    """train-rl's settings; ``config/train_rl.yaml`` holds the same defaults (``RLConfig.load``)."""

    steps: int = 200
    batch_size: int = 8
    lr: float = 1e-6              # Affordance-R1's released AdamW learning rate
    weight_decay: float = 1e-2    # ... and weight decay
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    rewards: Dict[str, float] = field(default_factory=lambda: {"point": 1.0})
    val_every: int = 50
    val_samples: int = 256
    seed: int = 0
    twin: TwinConfig = field(default_factory=TwinConfig)

    def __post_init__(self):
        if not isinstance(self.rewards, dict):
            raise ConfigError(f"rewards must be a mapping of reward name to weight, got {self.rewards!r}")
        shared = sorted(set(self.rewards) & set(GROUP_CONSTANT))
        if shared:
            raise ConfigError(f"reward {shared[0]!r}, {GROUP_CONSTANT[shared[0]]}, is the same for the whole group of "
                              f"points drawn for a query, so the group normalisation cancels it; use {', '.join(REWARDS)}")
        unknown = set(self.rewards) - set(REWARDS)
        if unknown or any(not isinstance(w, (int, float)) or isinstance(w, bool) or not w >= 0
                          for w in self.rewards.values()):
            raise ConfigError(f"rewards must be non-negative weights of {', '.join(REWARDS)}; got {self.rewards}")
        # A reward at weight 0 is not computed (the config file lists every reward, most at 0).
        self.rewards = {k: float(w) for k, w in self.rewards.items() if w > 0}
        if not self.rewards:
            raise ConfigError(f"at least one reward needs a positive weight ({', '.join(REWARDS)})")
        if self.steps < 1 or self.batch_size < 1 or self.val_every < 1 or not 0 < self.lr < 1:
            raise ConfigError("steps, batch_size and val_every must be >= 1 and 0 < lr < 1")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")

    @property
    def uses_twin(self) -> bool:
        """Whether the rollouts run on twin scenes (a reward that needs them is weighted)."""
        return any(r in self.rewards for r in TWIN_REWARDS)

    @classmethod
    def load(cls, path: Optional[Path] = None) -> "RLConfig":
        """The settings in ``path`` (default ``config/train_rl.yaml``), the rest at their defaults."""
        p = Path(path) if path is not None else resource("config", "train_rl.yaml")
        raw = dict(load_yaml(p, "train-rl config", allow_empty=True))
        try:
            grpo = from_mapping(GRPOConfig, raw.pop("grpo", None) or {}, f"{p}: grpo")
            twin = from_mapping(TwinConfig, raw.pop("twin", None) or {}, f"{p}: twin")
            return from_mapping(cls, {**raw, "grpo": grpo, "twin": twin}, str(p))
        except InvalidInputError as e:
            raise ConfigError(f"{p}: {e}") from None


# Command-line options that override the config file: option name -> (section, field).
_RL_OVERRIDES = {"steps": (None, "steps"), "batch_size": (None, "batch_size"), "lr": (None, "lr"),
                 "weight_decay": (None, "weight_decay"), "val_every": (None, "val_every"),
                 "val_samples": (None, "val_samples"), "seed": (None, "seed"),
                 "group_size": ("grpo", "group_size"), "clip_eps": ("grpo", "clip_eps"),
                 "kl_coef": ("grpo", "kl_coef"), "epochs": ("grpo", "epochs"), "minibatch": ("grpo", "minibatch")}


def parse_rewards(items) -> Dict[str, float]:
    """``["point=1", ...]`` -> ``{"point": 1.0}``; ConfigError for text that is not NAME=WEIGHT."""
    rewards = {}
    for item in items:
        name, _, weight = item.partition("=")
        try:
            rewards[name] = float(weight or 1.0)
        except ValueError:
            raise ConfigError(f"--reward {item!r}: expected NAME=WEIGHT, e.g. point=1") from None
    return rewards


def config_from_args(args) -> RLConfig:
    """``args.config`` (or config/train_rl.yaml) with the options given on the command line applied."""
    cfg = RLConfig.load(getattr(args, "config", None))
    top = {f: getattr(args, a) for a, (sec, f) in _RL_OVERRIDES.items() if sec is None and getattr(args, a) is not None}
    grpo = {f: getattr(args, a) for a, (sec, f) in _RL_OVERRIDES.items() if sec and getattr(args, a) is not None}
    if getattr(args, "reward", None):
        top["rewards"] = parse_rewards(args.reward)
    try:
        return with_overrides(cfg, {**top, "grpo": with_overrides(cfg.grpo, grpo, "train-rl options")},
                              "train-rl options")
    except InvalidInputError as e:
        raise ConfigError(f"train-rl options: {e}") from None


def make_optimizer(model: torch.nn.Module, cfg: RLConfig) -> torch.optim.Optimizer:
    """AdamW at the config's learning rate and weight decay (Affordance-R1's optimiser)."""
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def _identity(cfg: RLConfig) -> str:
    """What a resumed run must share with the saved one: everything but its length (and the twin's
    settings when no reward uses the twin)."""
    skip = {"steps"} | (set() if cfg.uses_twin else {"twin"})
    return json.dumps({k: v for k, v in asdict(cfg).items() if k not in skip}, sort_keys=True)


def part_masks(gt: torch.Tensor) -> torch.Tensor:
    """(B, H, W) ground-truth heatmaps -> (B, H*W) bool part masks."""
    flat = gt.flatten(1)
    return flat >= PART_LEVEL * flat.max(1, keepdim=True).values.clamp_min(1e-12)


def rewards_for(pixels: torch.Tensor, masks: torch.Tensor, weights: Dict[str, float]) -> torch.Tensor:
    """(B, G) weighted rewards for the drawn pixels, each its own point's."""
    r = torch.zeros(pixels.shape, dtype=torch.float32)
    if weights.get("point"):
        r += weights["point"] * masks.gather(1, pixels).float()
    return r


def grpo_step(model, reference, batch: dict, opt: torch.optim.Optimizer, cfg: RLConfig,
              gen: torch.Generator, device: str) -> Dict[str, float]:
    """One train-rl step: a rollout of the batch's queries, then ``cfg.grpo.epochs`` passes of
    minibatch updates; the batch's mean reward and the updates' means."""
    model.train()
    masks = part_masks(batch["heatmap"])
    rollout = collect_rollout(_policy(model, batch, device), _policy(reference, batch, device), len(masks),
                              lambda pixels: rewards_for(pixels, masks, cfg.rewards), cfg.grpo, gen)
    stats = update_policy(_policy(model, batch, device), opt, rollout, cfg.grpo, gen)
    return {"reward": float(rollout.rewards.mean()), **stats}


def twin_grpo_step(model, reference, pool, step: int, opt: torch.optim.Optimizer, cfg: RLConfig,
                   gen: torch.Generator, device: str, bar=None) -> Dict[str, float]:
    """One train-rl step on twin scenes: step ``step``'s (0-based) ``batch_size`` queries perceived
    on the pool's workers, G points drawn per query, each rewarded on the twin (``apps/rollouts.py``),
    then the updates as :func:`grpo_step`. Also each weighted reward's mean, the share of points
    that asked for no grasp, and the number of grasps executed. ``bar`` (tqdm) counts executions."""
    from .rollouts import crop_to_frame, held_rewards, model_inputs, perceive_batch, point_rewards

    model.train()
    queries = perceive_batch(pool, cfg.seed, step, cfg.batch_size)
    batch, mats = model_inputs(model, queries)
    size = int(batch["image"].shape[-1])
    parts: Dict[str, float] = {}

    def reward_of(pixels: torch.Tensor) -> torch.Tensor:
        uv = crop_to_frame(pixels, mats, size)
        total = np.zeros(uv.shape[:2])
        if "point" in cfg.rewards:
            r = point_rewards(queries, uv)
            total += cfg.rewards["point"] * r
            parts["reward_point"] = float(r.mean())
        if "held" in cfg.rewards:
            r, info = held_rewards(pool, queries, uv, bar)
            total += cfg.rewards["held"] * r
            parts.update(reward_held=float(r.mean()), no_grasp=info["no_grasp"] / r.size,
                         grasps=float(info["executed"]))
        return torch.from_numpy(total).float()

    rollout = collect_rollout(_policy(model, batch, device), _policy(reference, batch, device), len(queries),
                              reward_of, cfg.grpo, gen)
    stats = update_policy(_policy(model, batch, device), opt, rollout, cfg.grpo, gen)
    return {"reward": float(rollout.rewards.mean()), **parts, **stats}


def _policy(model, batch, device):
    """The model as a policy over the batch's queries (``grpo.Policy``): indices -> log-heatmaps."""
    def policy(idx: torch.Tensor) -> torch.Tensor:
        return _forward(model, {k: v[idx] for k, v in batch.items()}, device).cpu()
    return policy


def _forward(model, batch, device):
    v = model.vocab
    texts = [query_prompt(v.objects[int(o)], v.affordances[int(a)], v.parts[int(p)])
             for o, a, p in zip(batch["object"], batch["affordance"], batch["part"])]
    with autocast(device):
        out = model(batch["image"].to(device), batch["object"].to(device), batch["affordance"].to(device),
                    batch["part"].to(device), batch["depth"].to(device), texts=texts)
    return out["log_heatmap"].float()


@torch.no_grad()
def validate(model, val_set, cfg: RLConfig, device: str) -> dict:
    """Expected point reward (the heat on the part), peak on the part, KLD; over ``val_samples``."""
    model.eval()
    idx = list(range(min(len(val_set), cfg.val_samples)))
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(val_set, idx), batch_size=cfg.batch_size)
    heat_on, peak_on, kld, n = 0.0, 0.0, 0.0, 0
    for batch in loader:
        log_h = _forward(model, batch, device).cpu()
        masks = part_masks(batch["heatmap"])
        p = log_h.flatten(1).exp()
        heat_on += float((p * masks).sum())
        peak_on += float(masks.gather(1, p.argmax(1, keepdim=True)).sum())
        kld += float(kld_loss(log_h, batch["heatmap"])) * len(p)
        n += len(p)
    return {"val_point_reward": round(heat_on / n, 4), "val_peak_on_part": round(peak_on / n, 4),
            "val_kld": round(kld / n, 4)}


def plot_curves(history: list, val: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    steps = [h["step"] for h in history]
    ax[0].plot(steps, [h["reward"] for h in history], lw=0.8, alpha=0.5, label="batch mean reward")
    parts = (("reward_held", "held by the part"), ("reward_point", "point on the part"))
    if history and sum(k in history[-1] for k, _ in parts) > 1:   # each weighted reward of a twin run
        for key, label in parts:
            ax[0].plot(steps, [h.get(key, np.nan) for h in history], lw=0.8, ls="--", label=label)
    if len(history) >= 10:
        k = max(5, len(history) // 20)
        smooth = np.convolve([h["reward"] for h in history], np.ones(k) / k, mode="valid")
        ax[0].plot(steps[k - 1:], smooth, lw=1.6, label=f"mean of {k}")
    ax[0].set_xlabel("step")
    ax[0].set_title("train reward")
    ax[0].legend(fontsize=8)
    val = [v for v in val if "val_point_reward" in v]   # without --val the records hold the step alone
    if val:
        vs = [v["step"] for v in val]
        ax[1].plot(vs, [v["val_point_reward"] for v in val], "o-", label="heat on the part")
        ax[1].plot(vs, [v["val_peak_on_part"] for v in val], "s-", label="peak on the part")
        ax[1].set_xlabel("step")
        ax[1].set_title("validation")
        ax[1].legend(fontsize=8)
    elif history and "no_grasp" in history[-1]:   # a twin run without --val: what the points led to
        ax[1].plot(steps, [h.get("reward_held", np.nan) for h in history], "o-", label="held by the part")
        ax[1].plot(steps, [h.get("no_grasp", np.nan) for h in history], "s-", label="no grasp within reach")
        ax[1].set_xlabel("step")
        ax[1].set_title("twin rollouts: share of drawn points")
        ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def train_rl(data: Optional[Path], init: Path, out: Path, val: Optional[Path] = None, cfg: Optional[RLConfig] = None,
             device: Optional[str] = None, restart: bool = False, max_minutes: Optional[float] = None,
             workers: int = 1, ray_address: Optional[str] = None) -> dict:
    """GRPO fine-tuning from ``init`` (module text). The rollouts' queries come from the rendered
    split ``data``, or, when a reward needs the twin (``held``), from twin scenes sampled per step,
    whose work runs on ``workers`` workers (Ray above 1, or on the cluster at ``ray_address``)."""
    cfg = cfg or RLConfig.load()
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if cfg.uses_twin and data is not None:
        raise ConfigError(f"--data {data}: with the {'/'.join(r for r in TWIN_REWARDS if r in cfg.rewards)} reward "
                          f"every query is a twin scene sampled for its step (twin.split in the config); leave "
                          f"--data out")
    if not cfg.uses_twin and data is None:
        raise ConfigError(f"--data is needed: the {', '.join(cfg.rewards)} reward is scored on a rendered split "
                          f"(`affordance-grasp dataset`); or add --reward held=WEIGHT to train on twin scenes")
    if not cfg.uses_twin and (workers > 1 or ray_address):
        raise ConfigError("--workers and --ray-address run the twin's rollouts: they need the held reward "
                          "(--reward held=WEIGHT)")
    device = pick_device(device)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(os.cpu_count() or 1)
    model, blob = load_model(init, device)
    reference = copy.deepcopy(model).eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    words = Vocabulary.load()
    crop = CropConfig(**model.cfg.crop)
    train_set = None
    if not cfg.uses_twin:
        source = open_data(data, load_depth=model.cfg.use_depth, part_map=words.part_map)
        unknown = sorted({l[0] for l in source.labels()} - set(model.vocab.objects))
        if unknown:
            raise InvalidInputError(f"{data} has categories the model's vocabulary lacks: {unknown}")
        train_set = TorchAffordanceDataset(source, crop, model.vocab, train=True, seed=cfg.seed)
    val_set = (TorchAffordanceDataset(open_data(val, load_depth=model.cfg.use_depth, part_map=words.part_map), crop,
                                      model.vocab) if val else None)
    opt = make_optimizer(model, cfg)
    state_path = out.with_name(out.name + ".last.pt")
    step, history, val_hist, best = 0, [], [], -1.0
    keep = {k: blob[k] for k in ("calibration", "held_out", "trained_categories") if k in blob}
    if state_path.exists() and not restart:
        state = read_checkpoint(state_path)
        if state.get("rl_config") != _identity(cfg) or state.get("init") != str(init):
            raise CheckpointError(f"{state_path} was trained with another config or start; pass --restart to start over")
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        step, history, val_hist, best = state["step"], json.loads(state["history"]), json.loads(state["val"]), state["best"]
        print(f"resuming from {state_path}: step {step}")
    if val_set is not None and not val_hist:
        val_hist.append({"step": 0, **validate(reference, val_set, cfg, device)})
        best = val_hist[0]["val_point_reward"]
        print(json.dumps(val_hist[-1]))
    gen = torch.Generator().manual_seed(cfg.seed + step)
    loader_gen = torch.Generator().manual_seed(cfg.seed * 1000 + step)
    t0 = time.perf_counter()
    summary: dict = {"steps": step, "validation": val_hist, "checkpoint": str(out) if out.exists() else None}
    if cfg.uses_twin:
        from .parallel import worker_pool
        from .rollouts import TwinWorker
        in_ray = workers > 1 or ray_address is not None
        pool_cm = worker_pool(TwinWorker, (cfg.twin, in_ray), workers, ray_address)
    else:
        pool_cm = contextlib.nullcontext()
    where = f", {workers} workers" if workers > 1 else ""
    with pool_cm as pool, tqdm(total=cfg.steps, initial=step, desc=f"train-rl{where}", unit="step") as bar, \
            (tqdm(desc="twin grasps", unit="grasp", leave=False) if pool is not None else contextlib.nullcontext()) \
            as grasp_bar:
        if pool is not None:
            steps = (twin_grpo_step(model, reference, pool, k, opt, cfg, gen, device, grasp_bar)
                     for k in itertools.count(step))
        else:
            steps = _dataset_steps(model, reference, train_set, opt, cfg, gen, loader_gen, device)
        while step < cfg.steps:
            t_step = time.perf_counter()
            stats = next(steps)
            step += 1
            history.append({"step": step, **{k: round(v, 5) for k, v in stats.items()},
                            "seconds": round(time.perf_counter() - t_step, 2)})
            bar.update(1)
            bar.set_postfix(reward=f"{np.mean([h['reward'] for h in history[-20:]]):.3f}", kl=f"{stats['kl']:.4f}",
                            clip=f"{stats['clip_fraction']:.3f}")
            timed_out = bool(max_minutes) and time.perf_counter() - t0 > max_minutes * 60
            if step % cfg.val_every == 0 or step == cfg.steps or timed_out:
                record = {"step": step, **(validate(model, val_set, cfg, device) if val_set is not None else {})}
                val_hist.append(record)
                tqdm.write(json.dumps(record))
                score = record.get("val_point_reward", float(np.mean([h["reward"] for h in history[-cfg.val_every:]])))
                extra = {"rl": json.dumps({"init": str(init), "step": step, **record}), **keep}
                if score > best:
                    best = score
                    save_checkpoint(out, model, metrics=record, extra=extra)
                save_checkpoint(state_path, model, metrics=record,
                                extra={"optimizer": opt.state_dict(), "step": step, "history": json.dumps(history),
                                       "val": json.dumps(val_hist), "best": best, "init": str(init),
                                       "rl_config": _identity(cfg)})
                summary = {"checkpoint": str(out) if out.exists() else None, "init": str(init), "device": device,
                           "config": asdict(cfg), "steps": step, "best_val_point_reward": best, "validation": val_hist,
                           "minutes": round((time.perf_counter() - t0) / 60, 2)}
                if cfg.uses_twin:
                    summary["workers"] = workers
                out.with_suffix(".json").write_text(json.dumps(summary, indent=2))
                plot_curves(history, val_hist, out.with_suffix(".png"))
            if timed_out:
                bar.close()
                print(f"stopped after {max_minutes} minutes; resume with the same command")
                return summary
    if not out.exists():
        print("no step beat the starting model on validation: no checkpoint written; the starting model stays best")
    return summary


def _dataset_steps(model, reference, train_set, opt, cfg: RLConfig, gen, loader_gen, device):
    """The steps of a run on a rendered split, one per batch, epoch after epoch (each step runs as
    it is asked for)."""
    while True:
        loader = torch.utils.data.DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=loader_gen,
                                             drop_last=True)
        for batch in loader:
            yield grpo_step(model, reference, batch, opt, cfg, gen, device)
