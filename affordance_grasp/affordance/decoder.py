"""SAM-style mask decoder: an output token and the fused query token run through a two-way
transformer with the image tokens; the image is upsampled by transposed convolutions and a
hypernetwork turns the output token into a per-pixel classifier (56x56 logits)."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .transformer import MLP, TwoWayTransformer


class LayerNorm2d(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(channels)), nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


def sine_position_encoding(h: int, w: int, dim: int) -> Tensor:
    """(h*w, dim) 2-D sinusoidal encoding, half the channels for y and half for x."""
    if dim % 4:
        raise ValueError("positional encoding width must be divisible by 4")
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    freqs = torch.exp(torch.arange(dim // 4) * (-math.log(100.0) / max(dim // 4 - 1, 1))) * math.pi * 8
    parts = []
    for coord in (ys.reshape(-1), xs.reshape(-1)):
        a = coord[:, None] * freqs[None]
        parts += [a.sin(), a.cos()]
    return torch.cat(parts, dim=1)


class MaskDecoder(nn.Module):
    def __init__(self, dim: int, grid: int, depth: int = 2, heads: int = 8, mlp_dim: int = 512,
                 logits_size: int = 56):
        super().__init__()
        stages = logits_size / grid
        if stages < 1 or abs(math.log2(stages) - round(math.log2(stages))) > 1e-6:
            raise ConfigError(f"logits size {logits_size} must be the token grid {grid} times a power of two")
        n_up = int(round(math.log2(stages)))
        self.grid, self.logits_size = grid, logits_size
        self.output_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.transformer = TwoWayTransformer(depth, dim, heads, mlp_dim)
        self.register_buffer("image_pe", sine_position_encoding(grid, grid, dim), persistent=False)
        layers, c = [], dim
        for i in range(n_up):
            nxt = max(dim // (4 if i == 0 else 8), 8)
            layers.append(nn.ConvTranspose2d(c, nxt, kernel_size=2, stride=2))
            if i < n_up - 1:
                layers += [LayerNorm2d(nxt), nn.GELU()]
            c = nxt
        layers.append(nn.GELU())
        self.upscale = nn.Sequential(*layers)
        self.hyper = MLP(dim, dim, c, layers=3)

    def forward(self, image_tokens: Tensor, query_token: Tensor) -> Tensor:
        """image_tokens (B, grid*grid, C), query_token (B, C) -> logits (B, S, S)."""
        b = image_tokens.shape[0]
        tokens = torch.cat([self.output_token.expand(b, -1, -1), query_token[:, None]], dim=1)
        pe = self.image_pe[None].expand(b, -1, -1)
        tokens, image = self.transformer(tokens, image_tokens, pe)
        image = image.transpose(1, 2).reshape(b, -1, self.grid, self.grid)
        feats = self.upscale(image)                           # (B, c, S, S)
        weights = self.hyper(tokens[:, 0])                    # (B, c)
        return torch.einsum("bc,bchw->bhw", weights, feats)
