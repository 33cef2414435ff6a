"""The simulated RGB-D camera: MuJoCo renders colour, metric depth and segmentation;
an optional noise model makes the depth look like a RealSense D4xx stream."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import mujoco
import numpy as np

from ..types import RGBDFrame
from .world import SimWorld


@dataclass
class DepthNoise:
    """Stereo-camera depth artefacts, each one switchable.

    - quantisation in disparity space (``subpixel`` px with a ``baseline`` m stereo pair),
      so the depth step grows with z squared as on a D4xx;
    - Gaussian noise with std ``sigma0 + sigma2 * z^2``;
    - dropouts at depth discontinuities (occlusion shadows / flying-pixel removal);
    - random holes (specular or textureless patches) and speckle dropouts.
    """

    subpixel: float = 0.08
    baseline: float = 0.050
    sigma0: float = 0.0005
    sigma2: float = 0.0015
    edge_jump: float = 0.02       # m between neighbours that counts as an edge
    edge_dropout: float = 0.6     # probability an edge pixel is dropped
    holes: int = 3                # max number of elliptical holes
    hole_radius: tuple = (3, 12)  # px
    speckle: float = 0.003        # probability of an isolated dropout

    def apply(self, depth: np.ndarray, focal: float, rng: np.random.Generator) -> np.ndarray:
        z = depth.astype(np.float64).copy()
        valid = np.isfinite(z) & (z > 0)
        if self.subpixel > 0:
            disp = focal * self.baseline / np.where(valid, z, 1.0)
            disp = np.maximum(np.round(disp / self.subpixel), 1) * self.subpixel
            z = np.where(valid, focal * self.baseline / disp, z)
        z = np.where(valid, z + rng.normal(size=z.shape) * (self.sigma0 + self.sigma2 * z ** 2), z)
        drop = np.zeros(z.shape, bool)
        if self.edge_dropout > 0:
            filled = np.where(valid, depth, 0).astype(np.float32)
            jump = cv2.dilate(filled, np.ones((3, 3), np.uint8)) - cv2.erode(filled, np.ones((3, 3), np.uint8))
            edge = jump > self.edge_jump
            drop |= edge & (rng.random(z.shape) < self.edge_dropout)
        if self.holes > 0:
            mask = np.zeros(z.shape, np.uint8)
            for _ in range(int(rng.integers(0, self.holes + 1))):
                c = (int(rng.integers(0, z.shape[1])), int(rng.integers(0, z.shape[0])))
                axes = tuple(int(a) for a in rng.integers(self.hole_radius[0], self.hole_radius[1] + 1, 2))
                cv2.ellipse(mask, c, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            drop |= mask.astype(bool)
        if self.speckle > 0:
            drop |= rng.random(z.shape) < self.speckle
        z[drop | ~valid] = np.nan
        return z.astype(np.float32)


class SimCamera:
    """Renders :class:`RGBDFrame` s of a :class:`SimWorld` from its ``rgbd`` camera."""

    def __init__(self, world: SimWorld):
        self.world = world
        cam = world.cfg.camera
        self.intrinsics = cam.intrinsics()
        self.T_base_camera = cam.T_base_camera()
        self._renderer = mujoco.Renderer(world.model, cam.height, cam.width)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _render(self, depth=False, segmentation=False) -> np.ndarray:
        r = self._renderer
        if depth:
            r.enable_depth_rendering()
        if segmentation:
            r.enable_segmentation_rendering()
        try:
            r.update_scene(self.world.data, camera=self.world.camera_id)
            return r.render()
        finally:
            r.disable_depth_rendering()
            r.disable_segmentation_rendering()

    def render(self, noise: Optional[DepthNoise] = None, rng: Optional[np.random.Generator] = None,
               stamp: Optional[float] = None) -> RGBDFrame:
        rgb = self._render().copy()
        depth = self._render(depth=True).astype(np.float32)
        far = self.world.cfg.camera.far
        depth[(depth <= 0) | (depth >= far * 0.999)] = np.nan
        if noise is not None:
            depth = noise.apply(depth, self.intrinsics.fy, rng or np.random.default_rng())
        return RGBDFrame(rgb=rgb, depth=depth, intrinsics=self.intrinsics, T_base_camera=self.T_base_camera,
                         stamp=float(self.world.data.time if stamp is None else stamp))

    def render_geom_ids(self) -> np.ndarray:
        """Per-pixel geom id (H, W), -1 where no geom is visible."""
        seg = self._render(segmentation=True)
        ids = seg[..., 0].astype(np.int32)
        ids[seg[..., 1] != int(mujoco.mjtObj.mjOBJ_GEOM)] = -1
        return ids
