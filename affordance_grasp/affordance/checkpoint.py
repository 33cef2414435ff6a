"""Model checkpoints: weights, config, label vocabulary and validation metrics in one file that
loads with ``torch.load(weights_only=True)`` (plain tensors, dicts, lists, strings and numbers)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Tuple

import torch

from ..errors import CheckpointError, ConfigError
from .encoders import LabelVocab
from .model import AffordanceModel, ModelConfig

FORMAT = "affordance_grasp.model/1"
# Far above any model this package builds (a ViT-B/16 checkpoint is about 0.6 GB), far below what
# would exhaust memory on load: a wrong file (a dataset, a disk image) is refused before reading.
MAX_CHECKPOINT_BYTES = 4 << 30


def save_checkpoint(path, model: AffordanceModel, metrics: Optional[dict] = None, extra: Optional[dict] = None,
                    half: bool = False) -> Path:
    """Atomic write (a crash never leaves half a checkpoint). ``half`` stores float16 weights to
    halve the file; they are cast back to float32 on load."""
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    blob = {"format": FORMAT, "config": model.cfg.to_dict(), "vocab": model.vocab.to_dict(),
            "state_dict": state, "metrics": metrics or {}, **(extra or {})}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path) -> dict:
    p = Path(path).expanduser()
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} does not exist")
    size = p.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"checkpoint {p} is {size / 2 ** 30:.1f} GiB; a model checkpoint here is at most "
                              f"{MAX_CHECKPOINT_BYTES / 2 ** 30:.0f} GiB (is it the right file?)")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated, corrupt, or pickled objects
        raise CheckpointError(f"cannot read checkpoint {p} (corrupt, truncated, or not a weights-only "
                              f"torch file): {str(e).splitlines()[0][:200]}") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{p} is not an affordance_grasp model checkpoint (expected format {FORMAT!r})")
    for key in ("config", "vocab", "state_dict"):
        if key not in blob:
            raise CheckpointError(f"checkpoint {p} lacks {key!r}")
    return blob


def load_model(path, device: str = "cpu", override: Optional[dict] = None) -> Tuple[AffordanceModel, dict]:
    """Rebuild the model from the checkpoint's own config and load its weights strictly.
    ``override`` replaces config keys that do not change the architecture (e.g. a pretrained path)."""
    blob = read_checkpoint(path)
    try:
        cfg = ModelConfig.from_dict({**blob["config"], **(override or {})})
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {path} has an invalid config: {e}") from None
    vocab = LabelVocab.from_dict(blob["vocab"])
    try:
        # Every weight, pretrained tower included, is in the checkpoint: no need for the original file.
        model = AffordanceModel(cfg, vocab, load_pretrained=False)
    except ConfigError as e:
        raise CheckpointError(f"cannot rebuild the model of {path}: {e}") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {path} does not match its architecture: {str(e)[:300]}") from None
    return model.to(device).eval(), blob


def load_feature_model(path, features: Sequence[str], kind: str, how_to_get: str) -> dict:
    """The saved blob of a small model read from named features (the shape recognizer, the part
    model): a ConfigError saying ``how_to_get`` one when the file is missing, and one when it was
    trained on other features than ``features`` (its weights would read the wrong inputs)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no {kind} checkpoint at {path}; {how_to_get}")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if list(blob.get("features", [])) != list(features):
        raise ConfigError(f"{path} was trained on other features than this {kind} reads; retrain it")
    return blob
