"""Optional part-mask refinement with segment-anything's SamPredictor, prompted by the heatmap's
boxes and points (Affordance-R1 hands its boxes and points to SAM the same way)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError, InvalidInputError


class SamRefiner:
    def __init__(self, sam_model, device: str = "cpu"):
        from segment_anything import SamPredictor

        self.predictor = SamPredictor(sam_model.to(device).eval())

    @classmethod
    def from_checkpoint(cls, path, model_type: str = "vit_b", device: str = "cpu") -> "SamRefiner":
        """Build ``model_type`` with random init, then load local weights (``weights_only``)."""
        from segment_anything import sam_model_registry

        if model_type not in sam_model_registry:
            raise CheckpointError(f"unknown SAM model type {model_type!r}; choose from {sorted(sam_model_registry)}")
        p = Path(path).expanduser()
        if not p.is_file():
            raise CheckpointError(f"SAM checkpoint {p} does not exist (weights are never downloaded)")
        sam = sam_model_registry[model_type](checkpoint=None)
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
            sam.load_state_dict(state)
        except Exception as e:  # noqa: BLE001 - corrupt file or another architecture
            raise CheckpointError(f"cannot load SAM {model_type} weights from {p}: {str(e)[:300]}") from None
        return cls(sam, device)

    def refine(self, rgb: np.ndarray, boxes: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Mask (H, W) bool of the part: SAM prompted with the strongest box and all peak points."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise InvalidInputError("SAM refinement needs an (H, W, 3) uint8 RGB image")
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        points = np.asarray(points, np.float32).reshape(-1, 2)
        if len(boxes) == 0 and len(points) == 0:
            return np.zeros(rgb.shape[:2], bool)
        self.predictor.set_image(rgb)
        masks, scores, _ = self.predictor.predict(
            point_coords=points if len(points) else None,
            point_labels=np.ones(len(points), np.int64) if len(points) else None,
            box=boxes[0] if len(boxes) else None, multimask_output=False)
        return masks[int(np.argmax(scores))].astype(bool)
