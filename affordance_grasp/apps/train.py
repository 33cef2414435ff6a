"""``affordance-grasp train``: fit the affordance model with a KLD loss against Gaussian-blurred,
sum-normalised masks (WSAG-PLSP), AdamW, random crops and flips; validate every epoch and keep
the best checkpoint. Seeded and resumable: the last epoch's full state sits next to the output."""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
from tqdm import tqdm

from ..affordance.checkpoint import load_model, read_checkpoint, save_checkpoint
from ..affordance.datasets import UNSEEN_CATEGORIES, TorchAffordanceDataset, open_data
from ..affordance.transforms import CropConfig
from ..affordance.encoders import LabelVocab, query_prompt
from ..affordance.device import autocast, pick_device
from ..affordance.evaluation import evaluate
from ..affordance.model import AffordanceModel, ModelConfig
from ..affordance.query import Vocabulary
from ..errors import CheckpointError, ConfigError, InvalidInputError
from ..grasping.cloud import CloudConfig


@dataclass
class TrainConfig:
    epochs: int = 8
    batch_size: int = 32
    lr: float = 1e-4
    betas: Sequence[float] = (0.9, 0.95)
    weight_decay: float = 0.01
    backbone_lr_scale: float = 1.0     # 0.1 for a pretrained backbone
    warmup_steps: int = 100
    schedule: str = "constant"         # constant | cosine (decays to 5 % of lr over all epochs after warm-up)
    object_dropout: float = 0.3        # share of queries whose object is hidden (<unk>): unseen objects
    part_dropout: float = 0.0          # share of grasp/hold queries whose part is hidden too: "where would
                                       # you hold this thing?" (an unknown object asked for by name only)
    stitch_prob: float = 0.0
    raised_box_prob: float = 0.0       # share of crops centred on the part of the object a depth cluster sees
    reasoning_weight: float = 0.2
    one_sample_per_object: bool = False  # an epoch draws one affordance sample per object instance
    seed: int = 0
    max_minutes: float = 0.0           # stop (validate, keep the best) after this long; 0: no limit

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        if set(d) - known:
            raise ConfigError(f"unknown train config keys {sorted(set(d) - known)}; known: {sorted(known)}")
        tcfg = cls(**d)
        if tcfg.schedule not in ("constant", "cosine"):
            raise ConfigError(f"train.schedule must be 'constant' or 'cosine', got {tcfg.schedule!r}")
        return tcfg

    def lr_factor(self, step: int, total_steps: int) -> float:
        """Multiplier of ``lr`` at ``step``: linear warm-up, then constant or cosine decay."""
        warm = min(1.0, (step + 1) / max(self.warmup_steps, 1))
        if self.schedule == "constant" or step < self.warmup_steps:
            return warm
        t = min(1.0, (step - self.warmup_steps) / max(total_steps - self.warmup_steps, 1))
        return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * t))


def kld_loss(log_pred: torch.Tensor, gt: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Mean over the batch of sum gt * (log gt - log pred): KL(gt || pred) per image."""
    gt = gt.flatten(1)
    return (gt * (torch.log(gt + eps) - log_pred.flatten(1))).sum(1).mean()


def split_record(source) -> dict:
    """What the checkpoint must say about its data: the categories it was trained on and those held
    out (for bench --split unseen and the README)."""
    trained = sorted({l[0] for l in source.labels()})
    return {"held_out": [c for c in UNSEEN_CATEGORIES if c not in trained], "trained_categories": trained}


def build_vocab(source, val_source=None) -> LabelVocab:
    words = Vocabulary.load()
    labels = source.labels() + (val_source.labels() if val_source is not None else [])
    return LabelVocab(list(words.objects) + [l[0] for l in labels], list(words.affordances) + [l[1] for l in labels],
                      list(words.parts) + [l[2] for l in labels], trained_objects=sorted({l[0] for l in source.labels()}))


def training_step(model, batch, opt, tcfg: TrainConfig, device: str, rng: torch.Generator) -> float:
    model.train()
    obj = batch["object"].to(device)
    aff, part = batch["affordance"].to(device), batch["part"].to(device)
    # Hide the object name from some queries so the model also works from affordance + part alone,
    # and the part from some grasp queries so it also answers "where would you hold this?".
    hide = torch.rand(obj.shape, generator=rng).to(device) < tcfg.object_dropout
    holding = torch.tensor([model.vocab.affordances[int(a)] in ("grasp", "hold") for a in aff], device=device)
    hide_part = holding & (torch.rand(obj.shape, generator=rng).to(device) < tcfg.part_dropout)
    obj_in = torch.where(hide, torch.zeros_like(obj), obj)
    part_in = torch.where(hide_part, torch.zeros_like(part), part)
    v = model.vocab
    texts = [query_prompt(v.objects[int(o)], v.affordances[int(a)], v.parts[int(p)])
             for o, a, p in zip(obj_in, aff, part_in)]
    with autocast(device):
        out = model(batch["image"].to(device), obj_in, aff, part_in, batch["depth"].to(device), texts=texts)
        loss = kld_loss(out["log_heatmap"].float(), batch["heatmap"].to(device))
        if "object_logits" in out and tcfg.reasoning_weight > 0:
            loss = loss + tcfg.reasoning_weight * torch.nn.functional.cross_entropy(out["object_logits"].float(), obj)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return float(loss.detach())


def make_optimizer(model: AffordanceModel, tcfg: TrainConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW([{"params": model.backbone_parameters(), "lr": tcfg.lr * tcfg.backbone_lr_scale},
                              {"params": model.head_parameters(), "lr": tcfg.lr}],
                             betas=tuple(tcfg.betas), weight_decay=tcfg.weight_decay)


# Weights indexed by a label vocabulary: their rows follow the labels' names across vocabularies.
_LABEL_ROWS = {"query_embed.obj.weight": "objects", "query_embed.aff.weight": "affordances",
               "query_embed.part.weight": "parts", "object_head.weight": "objects", "object_head.bias": "objects"}


def init_weights(model: AffordanceModel, cfg: ModelConfig, vocab: LabelVocab, path: Path) -> dict:
    """Load a checkpoint's weights to fine-tune them. The architecture must match (only the
    training recipe may differ). The label vocabulary may grow: rows of the label embeddings and
    of the object head are carried over by name, and new labels start from their fresh init.
    Returns what was carried over."""
    blob = read_checkpoint(path)
    arch = lambda d: {k: v for k, v in d.items() if k not in ("train", "name")}  # noqa: E731
    if arch(blob["config"]) != arch(cfg.to_dict()):
        diff = sorted(k for k in set(arch(blob["config"])) | set(arch(cfg.to_dict()))
                      if blob["config"].get(k) != cfg.to_dict().get(k))
        raise CheckpointError(f"--init {path} has another architecture (differs in {diff}); fine-tuning needs "
                              f"the same model config apart from `train`")
    old_vocab = blob["vocab"]
    state = model.state_dict()
    kept = {"tensors": 0, "labels": {}}
    for key, value in blob["state_dict"].items():
        if key in _LABEL_ROWS:
            table = _LABEL_ROWS[key]
            old, new = old_vocab[table], getattr(vocab, table)
            shared = [n for n in new if n in old]
            for name in shared:
                state[key][new.index(name)] = value[old.index(name)].float()
            kept["labels"][table] = len(shared)
        elif key in state and state[key].shape == value.shape:
            state[key] = value.float()
            kept["tensors"] += 1
        else:
            raise CheckpointError(f"--init {path}: weight {key} does not fit this model")
    model.load_state_dict(state)
    return kept


def train(data: Union[Path, Sequence[Path]], config: Path, out: Path, val: Optional[Path] = None,
          device: Optional[str] = None, epochs: Optional[int] = None, restart: bool = False,
          max_minutes: Optional[float] = None, init: Optional[Path] = None) -> dict:
    cfg = ModelConfig.load(config)
    tcfg = TrainConfig.from_dict(cfg.train)
    if epochs is not None:
        tcfg.epochs = epochs
    if max_minutes is not None:
        tcfg.max_minutes = max_minutes
    crop = CropConfig(**cfg.crop)
    device = pick_device(device)
    torch.manual_seed(tcfg.seed)
    torch.set_num_threads(os.cpu_count() or 1)
    words = Vocabulary.load()
    # The run-time cluster drops points within plane_distance of the table; train on that view too.
    clearance = CloudConfig().plane_distance if tcfg.raised_box_prob > 0 else 0.0
    source = open_data(data, load_depth=cfg.use_depth or clearance > 0, part_map=words.part_map,
                       raised_clearance=clearance)
    val_source = open_data(val, load_depth=cfg.use_depth, part_map=words.part_map) if val else None
    vocab = build_vocab(source, val_source)
    model = AffordanceModel(cfg, vocab)
    if init is not None:
        kept = init_weights(model, cfg, vocab, init)
        print(f"fine-tuning {init}: {kept['tensors']} weights, and label rows by name {kept['labels']}")
    model = model.to(device)
    opt = make_optimizer(model, tcfg)
    state_path = out.with_name(out.name + ".last.pt")
    start_epoch, best, history, step = 0, math.inf, [], 0
    if state_path.exists() and not restart:
        blob = read_checkpoint(state_path)
        if blob["config"] != cfg.to_dict() or blob["vocab"] != vocab.to_dict():
            raise CheckpointError(f"{state_path} was trained with another config or data; pass --restart "
                                  f"to start over")
        model.load_state_dict(blob["state_dict"])
        opt.load_state_dict(blob["optimizer"])
        start_epoch, best, history, step = blob["epoch"] + 1, blob["best_kld"], json.loads(blob["history"]), blob["step"]
        print(f"resuming from {state_path}: epoch {start_epoch}, best val KLD {best:.4f}")
    train_set = TorchAffordanceDataset(source, crop, vocab, train=True, seed=tcfg.seed, stitch_prob=tcfg.stitch_prob,
                                       raised_box_prob=tcfg.raised_box_prob)
    val_set = TorchAffordanceDataset(val_source, crop, vocab) if val_source is not None else None
    rng = torch.Generator().manual_seed(tcfg.seed + start_epoch)
    t_start = time.perf_counter()
    timed_out = False
    for epoch in range(start_epoch, tcfg.epochs):
        train_set.epoch = epoch
        order = torch.Generator().manual_seed(tcfg.seed * 1000 + epoch)
        epoch_set = (torch.utils.data.Subset(train_set, train_set.one_per_object(epoch))
                     if tcfg.one_sample_per_object else train_set)
        loader = torch.utils.data.DataLoader(epoch_set, batch_size=tcfg.batch_size, shuffle=True, generator=order,
                                             num_workers=1, persistent_workers=False, drop_last=True)
        losses = []
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{tcfg.epochs}", unit="batch")
        for batch in bar:
            factor = tcfg.lr_factor(step, tcfg.epochs * len(loader))
            for g, scale in zip(opt.param_groups, (tcfg.backbone_lr_scale, 1.0)):
                g["lr"] = tcfg.lr * scale * factor
            losses.append(training_step(model, batch, opt, tcfg, device, rng))
            step += 1
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
            if tcfg.max_minutes and time.perf_counter() - t_start > tcfg.max_minutes * 60:
                timed_out = True
                break
        record = {"epoch": epoch + 1, "train_loss": round(float(np.mean(losses)), 4), "steps": step,
                  "minutes": round((time.perf_counter() - t_start) / 60, 2)}
        if val_set is not None:
            acc = evaluate(model, val_set, tcfg.batch_size, device, baselines=(), progress=False)
            record.update({f"val_{k}": v for k, v in acc["model"].summary().items() if k in ("kld", "sim", "nss")})
        history.append(record)
        print(json.dumps(record))
        score = record.get("val_kld", record["train_loss"])
        if score < best:
            best = score
            save_checkpoint(out, model, metrics=record, extra={"history": json.dumps(history), **split_record(source)})
        save_checkpoint(state_path, model, metrics=record,
                        extra={"optimizer": opt.state_dict(), "epoch": epoch, "best_kld": best, "step": step,
                               "history": json.dumps(history)})
        if timed_out:
            print(f"stopped after {tcfg.max_minutes} minutes (max_minutes); the best checkpoint is kept")
            break
    if not out.exists():
        raise InvalidInputError("training produced no checkpoint (no epoch finished)")
    # The shipped file carries the full history, not just the epoch it was best at, and the
    # presence threshold grounding uses, calibrated on the validation scenes.
    blob = read_checkpoint(out)
    blob["history"] = json.dumps(history)
    if val_source is not None and hasattr(val_source, "scenes") and cfg.reasoning_head:
        from ..affordance.evaluation import presence_calibration
        from ..affordance.predictor import AffordancePredictor, PredictorConfig
        best_model, _ = load_model(out, device)
        blob["calibration"] = presence_calibration(AffordancePredictor(best_model, PredictorConfig(device=device)),
                                                   val_source)
        print(f"calibration: {blob['calibration']}")
    torch.save(blob, out.with_name(out.name + ".tmp"))
    os.replace(out.with_name(out.name + ".tmp"), out)
    summary = {"checkpoint": str(out), "best_val_kld": best, "epochs_run": len(history), "history": history,
               "device": device, "size_mb": round(out.stat().st_size / 1e6, 2), "config": str(config),
               "init": str(init) if init else None, "train_config": asdict(tcfg), "n_train": len(source), "n_val": len(val_source) if val_source else 0}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2))
    return summary
