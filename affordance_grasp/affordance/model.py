"""The affordance heatmap model, after WSAG-PLSP (ICLR 2025) §3.2 and Appendix A.

    image ──CLIP ViT──▶ patch tokens ─┐
    (object, affordance, part) ──▶ query token ──fuser (cross-attention)──▶ fused token
    patch tokens + fused token ──two-way decoder──▶ 56x56 logits ──▶ upsample ──▶ softmax over pixels

Optional (config flags): depth as a second patch embedding, the object reasoning head (an object
classifier on the class token, used to pick the queried object among several crops), and 2x2
stitching during training (data.stitch).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional, Sequence

import torch
import yaml
from torch import Tensor, nn

from ..errors import ConfigError
from .decoder import MaskDecoder
from ..resources import resource
from .encoders import ClipTextQueryEmbedding, LabelVocab, LearnedQueryEmbedding, VisualEncoder, build_open_clip
from .transformer import CrossAttentionBlock



@dataclass
class ModelConfig:
    name: str = "ag-default"
    open_clip_model: str = "ag-vit-tiny-16"
    open_clip_config: Optional[str] = "open_clip/ag-vit-tiny-16.json"   # for names open_clip does not ship
    pretrained: Optional[str] = None      # local open_clip checkpoint; never downloaded
    query: str = "learned"                # learned | clip_text (needs pretrained)
    dim: int = 128
    fuser_blocks: int = 2
    fuser_heads: int = 4
    decoder_blocks: int = 2
    decoder_heads: int = 4
    decoder_mlp: int = 256
    logits_size: int = 56
    use_depth: bool = False
    reasoning_head: bool = True
    crop: dict = field(default_factory=dict)    # data.CropConfig fields
    train: dict = field(default_factory=dict)   # apps.train.TrainConfig fields

    def __post_init__(self):
        if self.query not in ("learned", "clip_text"):
            raise ConfigError(f"model.query must be 'learned' or 'clip_text', got {self.query!r}")
        if self.query == "clip_text" and not self.pretrained:
            raise ConfigError("query 'clip_text' needs pretrained CLIP weights (model.pretrained: local path); "
                              "a random text tower carries no meaning, use 'learned'")
        for name in ("dim", "fuser_blocks", "fuser_heads", "decoder_blocks", "decoder_heads", "decoder_mlp",
                     "logits_size"):
            if int(getattr(self, name)) <= 0:
                raise ConfigError(f"model.{name} must be positive")
        if self.dim % self.fuser_heads or self.dim % (2 * self.decoder_heads):
            raise ConfigError(f"model.dim {self.dim} must divide by fuser_heads and 2 x decoder_heads")

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown model config keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)

    @classmethod
    def load(cls, path=None) -> "ModelConfig":
        p = Path(path) if path is not None else resource("config", "model", "default.yaml")
        if not p.exists() and resource("config", "model", p.name).exists():
            p = resource("config", "model", p.name)
        try:
            raw = yaml.safe_load(p.read_text())
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"cannot read model config {path}: {e}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"model config {path} must be a mapping")
        return cls.from_dict(raw)

    def to_dict(self) -> dict:
        return asdict(self)


class AffordanceModel(nn.Module):
    def __init__(self, cfg: ModelConfig, vocab: LabelVocab, load_pretrained: bool = True):
        super().__init__()
        self.cfg, self.vocab = cfg, vocab
        clip = build_open_clip(cfg.open_clip_model, cfg.open_clip_config, cfg.pretrained if load_pretrained else None)
        self.encoder = VisualEncoder(clip, cfg.use_depth)
        self.image_size = int(self.encoder.visual.image_size[0])
        self.visual_proj = nn.Linear(self.encoder.out_dim, cfg.dim)
        self.visual_pos = nn.Parameter(torch.randn(1, self.encoder.grid ** 2, cfg.dim) * 0.02)
        if cfg.query == "clip_text":
            import open_clip
            self.query_embed = ClipTextQueryEmbedding(clip, open_clip.get_tokenizer(cfg.open_clip_model), vocab, cfg.dim)
        else:
            self.query_embed = LearnedQueryEmbedding(vocab, cfg.dim)
        self.fuser = nn.ModuleList(CrossAttentionBlock(cfg.dim, cfg.fuser_heads) for _ in range(cfg.fuser_blocks))
        self.decoder = MaskDecoder(cfg.dim, self.encoder.grid, cfg.decoder_blocks, cfg.decoder_heads,
                                   cfg.decoder_mlp, cfg.logits_size)
        self.object_head = nn.Linear(self.encoder.out_dim, len(vocab.objects)) if cfg.reasoning_head else None

    def backbone_parameters(self):
        return [p for p in self.encoder.parameters() if p.requires_grad]

    def head_parameters(self):
        ids = {id(p) for p in self.encoder.parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in ids]

    def forward(self, image: Tensor, obj: Tensor, aff: Tensor, part: Tensor,
                depth: Optional[Tensor] = None, texts: Optional[Sequence[str]] = None) -> dict:
        """image (B, 3, S, S) CLIP-normalised; label indices (B,); ``texts`` the queries' own words
        as prompts (used by a ``clip_text`` query embedding). Returns ``log_heatmap`` (B, S, S):
        log-softmax over all pixels, ``logits`` (B, 56, 56) and ``object_logits`` (B, n_objects)."""
        cls_tok, patches = self.encoder(image, depth if self.cfg.use_depth else None)
        tokens = self.visual_proj(patches)
        query = self.query_embed(obj, aff, part, texts)[:, None]
        for block in self.fuser:
            query = block(query, tokens, self.visual_pos)
        logits = self.decoder(tokens + self.visual_pos, query[:, 0])
        up = nn.functional.interpolate(logits[:, None], size=image.shape[-2:], mode="bilinear",
                                       align_corners=False)[:, 0]
        log_heatmap = torch.log_softmax(up.flatten(1), dim=1).view_as(up)
        out = {"logits": logits, "log_heatmap": log_heatmap}
        if self.object_head is not None:
            out["object_logits"] = self.object_head(cls_tok)
        return out

    def classify(self, image: Tensor, depth: Optional[Tensor] = None) -> Tensor:
        """``object_logits`` (B, n_objects) alone: the reasoning head reads the encoder's class
        token, so naming the objects in view needs neither the query nor the mask decoder."""
        if self.object_head is None:
            raise ConfigError("this model has no reasoning head (reasoning_head: false)")
        cls_tok, _ = self.encoder(image, depth if self.cfg.use_depth else None)
        return self.object_head(cls_tok)
