"""Attention blocks: the cross-modal fuser (query token attends to image tokens) and the
SAM-style two-way transformer (prompt tokens and image tokens attend to each other)."""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor, nn


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int, out: int, layers: int = 2, act=nn.GELU):
        super().__init__()
        dims = [dim] + [hidden] * (layers - 1) + [out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.act = act()

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return x


class Attention(nn.Module):
    """Multi-head attention whose internal width may be smaller than the token width
    (``downsample``), as SAM does for its image<->token attention to save compute."""

    def __init__(self, dim: int, heads: int, downsample: int = 1):
        super().__init__()
        inner = dim // downsample
        if inner % heads:
            raise ValueError(f"attention width {inner} is not divisible by {heads} heads")
        self.heads = heads
        self.q, self.k, self.v = nn.Linear(dim, inner), nn.Linear(dim, inner), nn.Linear(dim, inner)
        self.out = nn.Linear(inner, dim)

    def _split(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        q, k, v = self._split(self.q(q)), self._split(self.k(k)), self._split(self.v(v))
        x = nn.functional.scaled_dot_product_attention(q, k, v)
        b, h, n, c = x.shape
        return self.out(x.transpose(1, 2).reshape(b, n, h * c))


class CrossAttentionBlock(nn.Module):
    """One fuser block: the query token reads the visual tokens (key/value), then an MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0):
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.mlp = MLP(dim, int(dim * mlp_ratio), dim)

    def forward(self, query: Tensor, tokens: Tensor, pos: Tensor) -> Tensor:
        kv = self.norm_kv(tokens)
        query = query + self.attn(self.norm_q(query), kv + pos, kv)
        return query + self.mlp(self.norm_mlp(query))


class TwoWayBlock(nn.Module):
    """Tokens self-attend, tokens read the image, an MLP on the tokens, the image reads the tokens.
    Positional encodings are re-added at every attention so geometry is never lost."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, downsample: int = 2, skip_first_pe: bool = False):
        super().__init__()
        self.self_attn = Attention(dim, heads)
        self.token_to_image = Attention(dim, heads, downsample)
        self.image_to_token = Attention(dim, heads, downsample)
        self.mlp = MLP(dim, mlp_dim, dim, act=nn.ReLU)
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(4))
        self.skip_first_pe = skip_first_pe

    def forward(self, tokens: Tensor, image: Tensor, token_pe: Tensor, image_pe: Tensor) -> Tuple[Tensor, Tensor]:
        if self.skip_first_pe:
            tokens = self.self_attn(tokens, tokens, tokens)
        else:
            q = tokens + token_pe
            tokens = tokens + self.self_attn(q, q, tokens)
        tokens = self.norms[0](tokens)
        tokens = self.norms[1](tokens + self.token_to_image(tokens + token_pe, image + image_pe, image))
        tokens = self.norms[2](tokens + self.mlp(tokens))
        image = self.norms[3](image + self.image_to_token(image + image_pe, tokens + token_pe, tokens))
        return tokens, image


class TwoWayTransformer(nn.Module):
    def __init__(self, depth: int, dim: int, heads: int, mlp_dim: int, downsample: int = 2):
        super().__init__()
        self.blocks = nn.ModuleList(TwoWayBlock(dim, heads, mlp_dim, downsample, skip_first_pe=(i == 0))
                                    for i in range(depth))
        self.final_attn = Attention(dim, heads, downsample)
        self.final_norm = nn.LayerNorm(dim)

    def forward(self, tokens: Tensor, image: Tensor, image_pe: Tensor) -> Tuple[Tensor, Tensor]:
        """tokens (B, T, C); image and image_pe (B, HW, C)."""
        token_pe = tokens
        for block in self.blocks:
            tokens, image = block(tokens, image, token_pe, image_pe)
        tokens = self.final_norm(tokens + self.final_attn(tokens + token_pe, image + image_pe, image))
        return tokens, image
