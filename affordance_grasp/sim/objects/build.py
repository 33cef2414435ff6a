"""Small helpers shared by the category builders: random ranges and the part shapes that recur
(tool handles, lathe parts lying along x, handle loops on a wall)."""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
import trimesh

from .. import shapes
from ..shapes import loft  # noqa: F401  (builders use it from here)


def u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def draws(rng: np.random.Generator, *ranges: Tuple[float, float]) -> Tuple[float, ...]:
    """One ``u`` per (low, high) range, in order: a family's row of a table of sizes."""
    return tuple(u(rng, lo, hi) for lo, hi in ranges)


def pick(rng: np.random.Generator, options: Sequence):
    return options[int(rng.integers(len(options)))]


def bar(length: float, width: float, height: float, x0: float = 0.0, z: float | None = None,
        section: str = "oval", taper: float = 0.0, y: float = 0.0) -> trimesh.Trimesh:
    """A straight tool handle along +x from ``x0``: ``section`` oval or rounded rectangle (flat
    sides, so it rests without rolling, as real handles do), ``width`` across y and ``height`` up z,
    narrowing by ``taper`` (fraction) towards x0. Its bottom is on z = 0 unless ``z`` (centre)."""
    zc = height / 2 if z is None else z
    n = 6
    xs = np.linspace(x0, x0 + length, n)
    scale = 1 - taper * (1 - (xs - x0) / length)
    # Sweep one unit section and scale it along the path: trimesh sweeps a fixed polygon, so the
    # taper is built as a lathe-like loft of rings instead.
    rings = []
    for x, s in zip(xs, scale):
        poly = (shapes.ellipse(width * s, height * s, 16) if section == "oval"
                else shapes.rounded_rect(width * s, height * s, 0.3 * min(width, height) * s, 3))
        xy = np.asarray(poly.exterior.coords)[:-1]
        rings.append(np.c_[np.full(len(xy), x), xy[:, 0] + y, xy[:, 1] + zc])
    return loft(rings)


def lathe_x(profile: Sequence[Sequence[float]], x0: float = 0.0, z: float | None = None,
            sections: int = 24) -> trimesh.Trimesh:
    """A round part lying along +x (a screwdriver handle, a flashlight body): ``profile`` is
    (x, radius) from one end to the other. Its lowest point is on z = 0 unless ``z`` (axis height)."""
    prof = np.asarray(profile, float)
    outline = np.vstack([[[0.0, prof[0, 0]]], np.c_[prof[:, 1], prof[:, 0]], [[0.0, prof[-1, 0]]]])
    mesh = shapes.revolve(outline, sections)           # axis z, profile x -> height
    mesh = shapes.placed(mesh, R=shapes.rotation((0, 1, 0), np.pi / 2))  # z -> x
    zc = prof[:, 1].max() if z is None else z
    mesh.apply_translation((x0, 0.0, zc))
    return mesh


def wall_handle(kind: str, attach_radius: float, reach: float, height: float, z_centre: float,
                thickness: float, depth: float, embed: float = 0.003, angle: float = 0.0) -> trimesh.Trimesh:
    """A handle loop on a round wall: attached at ``attach_radius`` (minus ``embed``, so its ends
    sink into the wall), standing ``reach`` proud of it, ``height`` between the attachments,
    centred at ``z_centre``, at azimuth ``angle``. Its section is ``thickness`` across (the
    fingers' closing direction on a top grasp) by ``depth`` radially."""
    path = shapes.loop_path(kind, reach + embed, height)
    path[:, 0] += attach_radius - embed
    path[:, 2] += z_centre
    mesh = shapes.tube(path, shapes.rounded_rect(thickness, depth, 0.45 * min(thickness, depth), 3))
    if angle:
        mesh = shapes.placed(mesh, R=shapes.rotation((0, 0, 1), angle))
    return mesh
