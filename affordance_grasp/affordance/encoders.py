"""The visual encoder (an open_clip image tower, dense patch features) and the query embeddings
(learned per canonical label, or the open_clip text tower when pretrained CLIP is configured)."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..errors import CheckpointError, ConfigError
from ..resources import resource
from .datasets import UNKNOWN

log = logging.getLogger(__name__)


class _DropRecords(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def build_open_clip(name: str, model_config: Optional[str] = None, pretrained: Optional[str] = None) -> nn.Module:
    """An open_clip CLIP model by config name, random init or from a local checkpoint file.

    ``model_config`` registers a JSON architecture (path relative to config/model/) for names that
    open_clip does not ship. ``pretrained`` is a local file loaded with ``weights_only=True``:
    nothing is ever downloaded."""
    import open_clip

    if model_config:
        path = Path(model_config)
        path = path if path.is_absolute() else resource("config", "model", str(path))
        if not path.exists():
            raise ConfigError(f"open_clip model config {path} does not exist")
        open_clip.add_model_config(path)
    if name not in open_clip.list_models():
        raise ConfigError(f"open_clip has no model {name!r}; give its architecture JSON as encoder.model_config")
    # open_clip warns on the root logger that it loaded no weights: true, and intended here (they
    # come from our checkpoint or a local file next). Drop that one record, only while it builds.
    quiet = _DropRecords("No pretrained weights loaded")
    logging.getLogger().addFilter(quiet)
    try:
        model = open_clip.create_model(name, pretrained=None)
    finally:
        logging.getLogger().removeFilter(quiet)
    if pretrained:
        load_open_clip_weights(model, pretrained)
    return model


def load_open_clip_weights(model: nn.Module, path: str) -> None:
    p = Path(path).expanduser()
    if not p.is_file():
        raise CheckpointError(f"pretrained CLIP checkpoint {p} does not exist (weights are never downloaded; "
                              f"point encoder.pretrained at a local open_clip .pt/.bin file)")
    try:
        sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file
        raise CheckpointError(f"cannot read CLIP checkpoint {p}: {e}") from None
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise CheckpointError(f"{p} does not hold a state dict")
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    try:
        missing, unexpected = model.load_state_dict(sd, strict=False)
    except RuntimeError as e:  # shape mismatches raise even when not strict
        raise CheckpointError(f"{p} does not match the configured architecture: {str(e)[:300]}") from None
    if missing or unexpected:
        raise CheckpointError(f"{p} does not match the configured architecture: {len(missing)} missing keys "
                              f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})")


class VisualEncoder(nn.Module):
    """Dense features of a CLIP ViT: patch tokens after the final norm and projection, plus the
    projected class token. Depth, when enabled, enters as a second patch embedding (zero-initialised
    so a pretrained tower starts out unchanged)."""

    def __init__(self, clip_model: nn.Module, use_depth: bool = False):
        super().__init__()
        self.visual = clip_model.visual
        v = self.visual
        if not hasattr(v, "conv1") or getattr(v, "attn_pool", None) is not None:
            raise ConfigError("the visual encoder must be an open_clip VisionTransformer without attention pooling")
        self.grid = int(v.grid_size[0])
        self.out_dim = int(v.proj.shape[1]) if v.proj is not None else int(v.conv1.out_channels)
        self.depth_embed = None
        if use_depth:
            self.depth_embed = nn.Conv2d(1, v.conv1.out_channels, v.conv1.kernel_size, v.conv1.stride)
            nn.init.zeros_(self.depth_embed.weight)
            nn.init.zeros_(self.depth_embed.bias)
        self._given: Optional[Tuple[Tensor, Tensor, Tensor]] = None

    def forward(self, image: Tensor, depth: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        known = self._given
        if known is not None and known[0] is image:
            return known[1], known[2]
        return self.encode(image, depth)

    def encode(self, image: Tensor, depth: Optional[Tensor] = None,
               patch_rows: Optional[int] = None) -> Tuple[Tensor, Tensor]:
        """(class tokens (B, D), patch tokens (patch_rows, P, D)). Only the first ``patch_rows``
        images (default: all) need their patch tokens: the others go through the last block for
        their class token alone (its row of the attention and of the MLP), which is what naming
        an object reads."""
        v = self.visual
        B = image.shape[0]
        patch_rows = B if patch_rows is None else max(0, min(int(patch_rows), B))
        x = v.conv1(image)
        if self.depth_embed is not None and depth is not None:
            x = x + self.depth_embed(depth)
        x = x.flatten(2).transpose(1, 2)
        cls = v.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + v.positional_embedding.to(x.dtype)
        x = v.ln_pre(v.patch_dropout(x))
        blocks = getattr(v.transformer, "resblocks", None)
        if patch_rows == B or not getattr(v.transformer, "batch_first", False) or not self._can_stop_early(blocks):
            x = v.ln_post(v.transformer(x))
            if v.proj is not None:
                x = x @ v.proj
            return x[:, 0], x[:patch_rows, 1:]
        for blk in blocks[:-1]:
            x = blk(x)
        last = blocks[-1]
        rest = x[patch_rows:]
        y = last.ln_1(rest)
        head = rest[:, :1] + last.ls_1(last.attn(y[:, :1], y, y, need_weights=False)[0])
        head = head + last.ls_2(last.mlp(last.ln_2(head)))
        full = last(x[:patch_rows]) if patch_rows else x[:0]
        out = v.ln_post(torch.cat([full[:, 0], head[:, 0]]))
        patches = v.ln_post(full[:, 1:])
        if v.proj is not None:
            out, patches = out @ v.proj, patches @ v.proj
        return out, patches

    @staticmethod
    def _can_stop_early(blocks) -> bool:
        """Whether the transformer is the plain batch-first stack of residual attention blocks
        whose last one can be run for the class token alone."""
        if blocks is None or len(blocks) == 0:
            return False
        last = blocks[-1]
        return (all(hasattr(last, a) for a in ("ln_1", "attn", "ls_1", "ln_2", "mlp", "ls_2"))
                and not hasattr(last, "ln_1_kv") and isinstance(last.attn, nn.MultiheadAttention)
                and bool(getattr(last.attn, "batch_first", False)))

    @contextmanager
    def given(self, image: Tensor, cls_tokens: Tensor, patches: Tensor) -> Iterator[None]:
        """While open, the encoder answers for this very ``image`` tensor with features already
        computed for it (an object crop encoded while choosing which object is meant), instead of
        running again. Any other input is encoded as usual."""
        before = self._given
        self._given = (image, cls_tokens, patches)
        try:
            yield
        finally:
            self._given = before


def query_prompt(obj: str, affordance: str, part: str) -> str:
    """The text a CLIP text tower sees for a query, in the query's own words: "the handle of the
    spork, to grasp it"; missing words become generic ones."""
    obj = (obj or "object").replace("_", " ")
    if obj == UNKNOWN:
        obj = "object"
    part = part if part and part != UNKNOWN else "part"
    aff = affordance if affordance and affordance != UNKNOWN else "use"
    return f"the {part} of the {obj}, to {aff} it"


class LabelVocab:
    """Index tables for the canonical object, affordance and part names. Index 0 is ``<unk>``;
    objects never seen in training map to it, so unseen categories are queried by affordance and
    part alone."""

    def __init__(self, objects: Sequence[str], affordances: Sequence[str], parts: Sequence[str],
                 trained_objects: Sequence[str] = ()):
        self.objects = [UNKNOWN] + sorted(set(objects) - {UNKNOWN})
        self.affordances = [UNKNOWN] + sorted(set(affordances) - {UNKNOWN})
        self.parts = [UNKNOWN] + sorted(set(parts) - {UNKNOWN})
        self.trained_objects = sorted(set(trained_objects))

    @staticmethod
    def _index(table: List[str], name: str) -> int:
        try:
            return table.index(name)
        except ValueError:
            return 0

    def encode(self, obj: str, affordance: str, part: str) -> Tuple[int, int, int]:
        o = self._index(self.objects, obj) if (not self.trained_objects or obj in self.trained_objects) else 0
        return o, self._index(self.affordances, affordance), self._index(self.parts, part)

    def to_dict(self) -> dict:
        return {"objects": self.objects, "affordances": self.affordances, "parts": self.parts,
                "trained_objects": self.trained_objects}

    @classmethod
    def from_dict(cls, d: dict) -> "LabelVocab":
        return cls(d["objects"], d["affordances"], d["parts"], d.get("trained_objects", ()))


class LearnedQueryEmbedding(nn.Module):
    """Sum of learned embeddings of the canonical (object, affordance, part)."""

    def __init__(self, vocab: LabelVocab, dim: int):
        super().__init__()
        self.obj = nn.Embedding(len(vocab.objects), dim)
        self.aff = nn.Embedding(len(vocab.affordances), dim)
        self.part = nn.Embedding(len(vocab.parts), dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, obj: Tensor, aff: Tensor, part: Tensor, texts=None) -> Tensor:
        return self.norm(self.obj(obj) + self.aff(aff) + self.part(part))


class ClipTextQueryEmbedding(nn.Module):
    """The frozen open_clip text tower on a prompt built from the labels, then a learned projection."""

    def __init__(self, clip_model: nn.Module, tokenizer, vocab: LabelVocab, dim: int):
        super().__init__()
        self.clip = clip_model
        for name, p in self.clip.named_parameters():
            if not name.startswith("visual."):  # the image tower is shared with the encoder and trains
                p.requires_grad_(False)
        self.tokenizer, self.vocab = tokenizer, vocab
        self.proj = nn.Linear(int(clip_model.text_projection.shape[1]), dim)
        self._cache: Dict[str, Tensor] = {}

    def prompt(self, o: int, a: int, p: int) -> str:
        return query_prompt(self.vocab.objects[o] if o else "", self.vocab.affordances[a] if a else "",
                            self.vocab.parts[p] if p else "")

    @torch.no_grad()
    def _features(self, prompts: List[str], device) -> Tensor:
        todo = [t for t in dict.fromkeys(prompts) if t not in self._cache]
        if todo:
            feats = self.clip.encode_text(self.tokenizer(todo).to(device)).float()
            self._cache.update({t: f / f.norm() for t, f in zip(todo, feats)})
        return torch.stack([self._cache[t].to(device) for t in prompts])

    def forward(self, obj: Tensor, aff: Tensor, part: Tensor, texts: Optional[Sequence[str]] = None) -> Tensor:
        """``texts``: the prompts built from each query's own words (an object no label names,
        "spork", reaches the text tower as it was asked for); without them, from the labels."""
        prompts = list(texts) if texts is not None else [self.prompt(int(o), int(a), int(p))
                                                         for o, a, p in zip(obj, aff, part)]
        return self.proj(self._features(prompts, obj.device))
