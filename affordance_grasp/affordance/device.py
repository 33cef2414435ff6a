"""Where a model runs: the configured device, else CUDA when there is one, else the CPU; and
mixed precision where it pays."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Optional

import torch


def pick_device(requested: Optional[str] = None) -> str:
    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def autocast(device: str):
    """Mixed precision on CUDA; plain float32 on the CPU (CPU autocast is slower for this model)."""
    return torch.autocast("cuda", dtype=torch.float16) if device.startswith("cuda") else nullcontext()
