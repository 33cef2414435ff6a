"""The simulated RGB-D camera: MuJoCo renders colour, metric depth and segmentation;
an optional noise model makes the depth look like a RealSense D4xx stream."""
from __future__ import annotations

import threading
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
        # float32 throughout and one uniform draw for both kinds of dropout: the sim camera runs
        # this on every published frame (it was 15 ms of a 24 ms frame in float64 with two draws).
        z = np.asarray(depth, np.float32)
        valid = np.isfinite(z) & (z > 0)
        z = np.where(valid, z, np.float32(1.0))
        if self.subpixel > 0:
            fb = np.float32(focal * self.baseline)
            step = np.float32(self.subpixel)
            disp = np.maximum(np.round(fb / z / step), 1) * step
            z = fb / disp
        z += rng.standard_normal(z.shape, dtype=np.float32) * (np.float32(self.sigma0) + np.float32(self.sigma2) * z * z)
        u = rng.random(z.shape, dtype=np.float32)
        drop = ~valid
        if self.speckle > 0:
            drop |= u >= 1 - self.speckle
        if self.edge_dropout > 0:
            filled = np.where(valid, depth, 0).astype(np.float32)
            kernel = np.ones((3, 3), np.uint8)
            edge = cv2.dilate(filled, kernel) - cv2.erode(filled, kernel) > self.edge_jump
            drop |= edge & (u < self.edge_dropout)
        if self.holes > 0:
            mask = np.zeros(z.shape, np.uint8)
            for _ in range(int(rng.integers(0, self.holes + 1))):
                c = (int(rng.integers(0, z.shape[1])), int(rng.integers(0, z.shape[0])))
                axes = tuple(int(a) for a in rng.integers(self.hole_radius[0], self.hole_radius[1] + 1, 2))
                cv2.ellipse(mask, c, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            drop |= mask.view(bool)
        z[drop] = np.nan
        return z


class _GL:
    """One offscreen OpenGL context per process, shared by every camera: creating it, and
    uploading a scene's meshes and textures, cost more than rendering a frame, and a dataset
    renders a new scene every second. A lock keeps threads from drawing at the same time."""

    context = None
    size = (0, 0)
    lock = threading.RLock()

    @classmethod
    def current(cls, width: int, height: int):
        if cls.context is None or width > cls.size[0] or height > cls.size[1]:
            from mujoco import gl_context
            if cls.context is not None:
                cls.context.free()
            cls.size = (max(width, cls.size[0]), max(height, cls.size[1]))
            cls.context = gl_context.GLContext(*cls.size)
        cls.context.make_current()
        return cls.context


class SimCamera:
    """Renders :class:`RGBDFrame` s of a :class:`SimWorld` from its ``rgbd`` camera: one colour
    pass, and one segmentation pass that also yields the depth buffer (its flat colours make the
    depth exact at object edges)."""

    def __init__(self, world: SimWorld):
        self.world = world
        cam = world.cfg.camera
        self.intrinsics = cam.intrinsics()
        self.T_base_camera = cam.T_base_camera()
        m = world.model
        self._w, self._h = cam.width, cam.height
        with _GL.lock:
            _GL.current(self._w, self._h)
            self._ctx = mujoco.MjrContext(m, mujoco.mjtFontScale.mjFONTSCALE_50.value)
            mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN.value, self._ctx)
            self._ctx.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
        self._scene = mujoco.MjvScene(model=m, maxgeom=10000)
        self._opt = mujoco.MjvOption()
        self._cam = mujoco.MjvCamera()
        self._cam.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._cam.fixedcamid = world.camera_id
        self._rect = mujoco.MjrRect(0, 0, self._w, self._h)
        self._seg_cache: Optional[tuple] = None   # (sim time, geom ids, depth) of the last segmentation pass
        self._colour_cache: Optional[tuple] = None  # (sim time, rgb) of the last colour pass

    def close(self) -> None:
        if self._ctx is not None:
            with _GL.lock:
                _GL.current(self._w, self._h)
                self._ctx.free()
            self._ctx = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _draw(self, segment: bool) -> None:
        if self._ctx is None:
            raise RuntimeError("the camera is closed")
        self._scene.flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = segment
        self._scene.flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = segment
        mujoco.mjv_updateScene(self.world.model, self.world.data, self._opt, None, self._cam,
                               mujoco.mjtCatBit.mjCAT_ALL.value, self._scene)
        mujoco.mjr_render(self._rect, self._scene, self._ctx)

    def _colour(self) -> np.ndarray:
        # A twin at rest looks the same every frame: a streaming camera draws it again only when
        # the simulation has moved on (as the segmentation pass does); depth noise stays fresh.
        key = float(self.world.data.time)
        if self._colour_cache is not None and self._colour_cache[0] == key:
            return self._colour_cache[1].copy()
        with _GL.lock:
            _GL.current(self._w, self._h)
            self._draw(False)
            rgb = np.empty((self._h, self._w, 3), np.uint8)
            mujoco.mjr_readPixels(rgb, None, self._rect, self._ctx)
        rgb = np.flipud(rgb).copy()
        self._colour_cache = (key, rgb)
        return rgb.copy()

    def _segmentation(self) -> tuple:
        """(geom id per pixel, -1 for none; metric depth along the optical axis, 0 for none)."""
        key = float(self.world.data.time)
        if self._seg_cache is not None and self._seg_cache[0] == key:
            return self._seg_cache[1], self._seg_cache[2]
        with _GL.lock:
            _GL.current(self._w, self._h)
            self._draw(True)
            idc = np.empty((self._h, self._w, 3), np.uint8)
            zbuf = np.empty((self._h, self._w), np.float32)
            mujoco.mjr_readPixels(idc, zbuf, self._rect, self._ctx)
            geoms = self._scene.geoms[:self._scene.ngeom]
            lut = np.full(self._scene.ngeom + 2, -1, np.int32)
            for g in geoms:
                if g.segid != -1 and g.objtype == int(mujoco.mjtObj.mjOBJ_GEOM):
                    lut[g.segid + 1] = g.objid
        seg = idc.astype(np.uint32)
        segid = seg[..., 0] + (seg[..., 1] << 8) + (seg[..., 2] << 16)
        ids = np.flipud(lut[np.minimum(segid, len(lut) - 1)]).copy()
        depth = np.flipud(self._linear_depth(zbuf)).copy()
        self._seg_cache = (key, ids, depth)
        return ids, depth

    def _linear_depth(self, zbuf: np.ndarray) -> np.ndarray:
        """Reversed-Z buffer values -> metres (as MuJoCo's own renderer converts them)."""
        m = self.world.model
        near = np.float32(m.vis.map.znear * m.stat.extent)
        far = np.float32(m.vis.map.zfar * m.stat.extent)
        c = -(far + near) / (far - near)
        d = -(np.float32(2) * far * near) / (far - near)
        c, d = np.float32(-0.5) * c - np.float32(0.5), np.float32(-0.5) * d
        return (d / (zbuf.astype(np.float64) + c)).astype(np.float32)

    def render(self, noise: Optional[DepthNoise] = None, rng: Optional[np.random.Generator] = None,
               stamp: Optional[float] = None) -> RGBDFrame:
        rgb = self._colour()
        _, depth = self._segmentation()
        depth = depth.copy()
        far = self.world.cfg.camera.far
        depth[(depth <= 0) | (depth >= far * 0.999)] = np.nan
        if noise is not None:
            depth = noise.apply(depth, self.intrinsics.fy, rng or np.random.default_rng())
        T = self.T_base_camera if self.world.cfg.camera.wrist is None else self.world.camera_pose()
        return RGBDFrame(rgb=rgb, depth=depth, intrinsics=self.intrinsics, T_base_camera=T,
                         stamp=float(self.world.data.time if stamp is None else stamp))

    def render_geom_ids(self) -> np.ndarray:
        """Per-pixel geom id (H, W), -1 where no geom is visible."""
        return self._segmentation()[0].copy()
