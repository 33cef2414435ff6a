"""The dataclasses exchanged between stages (see DESIGN.md, "Core types").

Every type validates itself in ``__post_init__`` and raises :class:`InvalidInputError`
with a message naming the field, so a bad value is caught where it enters the pipeline.
"""
from __future__ import annotations

import copy
import enum
import math
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from .errors import InvalidInputError

_ORTHO_TOL = 1e-4


def _finite(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value):
        raise InvalidInputError(f"{name} must be finite, got {value}")
    return value


def check_transforms(name: str, T) -> np.ndarray:
    """Return ``T`` as float64 (N, 4, 4) rigid transforms, or raise naming ``name`` (and, for
    more than one, the first bad index). One vectorised pass: a generator makes thousands."""
    T = np.asarray(T, dtype=np.float64)
    if T.ndim != 3 or T.shape[1:] != (4, 4):
        raise InvalidInputError(f"{name} must be a 4x4 matrix, got shape {T.shape[1:] if T.ndim == 3 else T.shape}")

    def fail(bad: np.ndarray, what: str) -> None:
        if bad.any():
            at = f"[{int(np.argmax(bad))}]" if len(T) > 1 else ""
            raise InvalidInputError(f"{name}{at} {what}")

    fail(~np.isfinite(T).all(axis=(1, 2)), "contains NaN or inf")
    last = np.abs(T[:, 3] - np.array([0.0, 0.0, 0.0, 1.0])).max(axis=1) > 1e-9
    if last.any():
        fail(last, f"last row must be [0, 0, 0, 1], got {T[int(np.argmax(last)), 3].tolist()}")
    R = T[:, :3, :3]
    skew = np.abs(np.einsum("nji,njk->nik", R, R) - np.eye(3)).max(axis=(1, 2)) > _ORTHO_TOL
    fail(skew | (np.linalg.det(R) < 0), "rotation is not orthonormal with det +1")
    return T


def check_transform(name: str, T) -> np.ndarray:
    """Return ``T`` as a float64 4x4 rigid transform, or raise naming ``name``."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise InvalidInputError(f"{name} must be a 4x4 matrix, got shape {T.shape}")
    return check_transforms(name, T[None])[0]


def _points(name: str, p, n: Optional[int] = None) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or (n is not None and p.shape[0] != n):
        want = f"({n}, 3)" if n is not None else "(N, 3)"
        raise InvalidInputError(f"{name} must have shape {want}, got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise InvalidInputError(f"{name} contains NaN or inf")
    return p


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics (pixels) with optional Brown-Conrady distortion (k1 k2 p1 p2 k3)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    distortion: tuple = (0.0, 0.0, 0.0, 0.0, 0.0)

    def __post_init__(self):
        for name in ("fx", "fy"):
            if _finite(name, getattr(self, name)) <= 0:
                raise InvalidInputError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("cx", "cy"):
            _finite(name, getattr(self, name))
        for name in ("width", "height"):
            v = getattr(self, name)
            if int(v) != v or v <= 0:
                raise InvalidInputError(f"{name} must be a positive integer, got {v}")
        d = tuple(float(x) for x in self.distortion)
        if not all(np.isfinite(d)):
            raise InvalidInputError("distortion coefficients must be finite")
        object.__setattr__(self, "distortion", d)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])

    @classmethod
    def from_fov(cls, width: int, height: int, fovy_deg: float) -> "CameraIntrinsics":
        """Square pixels with the principal point at the image centre (the sim camera model)."""
        f = 0.5 * height / np.tan(np.deg2rad(fovy_deg) / 2)
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height)


@dataclass
class RGBDFrame:
    """One registered colour + depth frame.

    ``depth`` is float32 metres along the optical axis, NaN where invalid.
    ``T_base_camera`` maps points in the camera optical frame (z forward, x right, y down)
    into the robot base frame.
    """

    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: CameraIntrinsics
    T_base_camera: np.ndarray
    stamp: float = 0.0
    frame_id: str = "camera_color_optical_frame"

    def __post_init__(self):
        if not isinstance(self.intrinsics, CameraIntrinsics):
            raise InvalidInputError("intrinsics must be a CameraIntrinsics")
        h, w = self.intrinsics.height, self.intrinsics.width
        rgb = np.asarray(self.rgb)
        if rgb.dtype != np.uint8:
            raise InvalidInputError(f"rgb must be uint8, got {rgb.dtype}")
        if rgb.shape != (h, w, 3):
            raise InvalidInputError(f"rgb must have shape ({h}, {w}, 3) to match intrinsics, got {rgb.shape}")
        depth = np.asarray(self.depth)
        if depth.dtype != np.float32:
            raise InvalidInputError(f"depth must be float32 metres, got {depth.dtype}")
        if depth.shape != (h, w):
            raise InvalidInputError(f"depth must have shape ({h}, {w}) to match intrinsics, got {depth.shape}")
        if np.any(depth[np.isfinite(depth)] < 0) or np.any(np.isinf(depth)):
            raise InvalidInputError("depth must be >= 0 metres or NaN for invalid pixels")
        self.rgb, self.depth = rgb, depth
        self.T_base_camera = check_transform("T_base_camera", self.T_base_camera)
        self.stamp = _finite("stamp", self.stamp)
        if not self.frame_id:
            raise InvalidInputError("frame_id must not be empty")

    @property
    def shape(self) -> tuple:
        return self.depth.shape


POSITIONS = ("left", "right", "near", "far", "middle")
SIZES = ("biggest", "smallest")


@dataclass(frozen=True)
class ObjectSelector:
    """Words in a request that pick one object among several of its kind: a colour name, a
    position seen from the robot (left is +y in the base frame, near is close to the base), a
    size, and an ordinal along the position ("the second mug from the left": 2, left; -1: last)."""

    colour: str = ""
    position: str = ""
    size: str = ""
    ordinal: int = 0

    def __post_init__(self):
        if self.position and self.position not in POSITIONS:
            raise InvalidInputError(f"position must be one of {POSITIONS}, got {self.position!r}")
        if self.size and self.size not in SIZES:
            raise InvalidInputError(f"size must be one of {SIZES}, got {self.size!r}")
        if not isinstance(self.ordinal, int) or self.ordinal < -1:
            raise InvalidInputError(f"ordinal must be an int >= -1, got {self.ordinal!r}")

    def __bool__(self) -> bool:
        return bool(self.colour or self.position or self.size or self.ordinal)

    def describe(self) -> str:
        words = []
        if self.ordinal:
            words.append({-1: "last", 1: "first", 2: "second", 3: "third"}.get(self.ordinal, f"#{self.ordinal}"))
        words += [w for w in (self.size, self.colour) if w]
        if self.position:
            words.append(f"({'from the ' if self.ordinal else 'on the '}{self.position})")
        return " ".join(words)


@dataclass(frozen=True)
class AffordanceQuery:
    """A parsed request: act on ``part`` of ``object`` for ``affordance``.

    ``object`` is a vocabulary category (``known_object``), another noun the user used (an object
    the model has not been told about), or "" when the request names none ("grab the handle",
    "something to cut with"): then the scene decides which object is meant.
    ``grasp_part`` is where the fingers go. It differs from ``part`` for tool use:
    "hand me the knife so I can cut" targets the blade but grasps the handle. "" means the part
    is not known yet (an unknown object asked for by affordance alone).
    ``avoid_parts`` are parts the fingers must not touch; ``selector`` picks one of several objects.
    ``kin`` are known categories the named one may stand for when it lacks the part asked for
    ("the cup by its handle": people call mugs and teacups cups); the scene then decides which.
    """

    text: str
    object: str
    affordance: str
    part: str
    grasp_part: str = ""
    avoid_parts: tuple = ()
    known_object: bool = True
    selector: ObjectSelector = field(default_factory=ObjectSelector)
    kin: tuple = ()

    def __post_init__(self):
        for name in ("object", "part", "grasp_part"):
            if not isinstance(getattr(self, name), str):
                raise InvalidInputError(f"AffordanceQuery.{name} must be a string")
        if not isinstance(self.affordance, str) or not self.affordance.strip():
            raise InvalidInputError("AffordanceQuery.affordance must be a non-empty string")
        if self.known_object and not self.object.strip():
            raise InvalidInputError("AffordanceQuery: a known object needs its category name")
        if self.known_object and not self.part.strip():
            raise InvalidInputError("AffordanceQuery.part must be a non-empty string for a known object")
        if not self.grasp_part:
            object.__setattr__(self, "grasp_part", self.part)
        object.__setattr__(self, "avoid_parts", tuple(self.avoid_parts))
        object.__setattr__(self, "kin", tuple(self.kin))
        if not isinstance(self.selector, ObjectSelector):
            raise InvalidInputError("AffordanceQuery.selector must be an ObjectSelector")

    @property
    def names_object(self) -> bool:
        return bool(self.object)


@dataclass
class AffordanceMap:
    """A heatmap over image pixels that sums to 1, plus optional boxes and points.

    boxes: (N, 4) float pixels [x0, y0, x1, y1]; points: (M, 2) float pixels [u, v].
    """

    heatmap: np.ndarray
    query: AffordanceQuery
    model_id: str = "unknown"
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    mask: Optional[np.ndarray] = None  # optional refined part mask (bool HxW)
    times: Dict[str, float] = field(default_factory=dict)   # seconds per stage of making it
    reasoning: str = ""                # a reasoning model's account of its answer

    def __post_init__(self):
        hm = np.asarray(self.heatmap)
        if hm.ndim != 2:
            raise InvalidInputError(f"heatmap must be 2-D, got shape {hm.shape}")
        if hm.dtype != np.float32:
            raise InvalidInputError(f"heatmap must be float32, got {hm.dtype}")
        if not np.all(np.isfinite(hm)) or np.any(hm < 0):
            raise InvalidInputError("heatmap must be finite and non-negative")
        if abs(float(hm.sum(dtype=np.float64)) - 1.0) > 1e-3:
            raise InvalidInputError(f"heatmap must sum to 1, sums to {hm.sum():.6f}")
        self.heatmap = hm
        if not isinstance(self.query, AffordanceQuery):
            raise InvalidInputError("query must be an AffordanceQuery")
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.points = np.asarray(self.points, np.float32).reshape(-1, 2)
        if self.mask is not None:
            self.mask = np.asarray(self.mask, bool)
            if self.mask.shape != hm.shape:
                raise InvalidInputError(f"mask shape {self.mask.shape} must match heatmap {hm.shape}")

    @classmethod
    def from_unnormalised(cls, weights: np.ndarray, query: AffordanceQuery, **kw) -> "AffordanceMap":
        """Normalise non-negative weights to a heatmap; an all-zero input becomes uniform."""
        w = np.clip(np.nan_to_num(np.asarray(weights, np.float64)), 0, None)
        s = w.sum()
        w = w / s if s > 0 else np.full(w.shape, 1.0 / w.size)
        return cls(w.astype(np.float32), query, **kw)


@dataclass
class Grasp:
    """A two-finger grasp. ``pose`` is the TCP in the base frame: z approach, y closing,
    origin midway between the fingertips. ``contacts`` are the two finger contact points."""

    pose: np.ndarray
    width: float
    quality: float = 0.0
    affordance_score: float = 0.0
    score: float = 0.0
    contacts: np.ndarray = field(default_factory=lambda: np.zeros((2, 3)))
    frame_id: str = "base"
    hold: float = 1.0          # probability that the grip holds the object's weight (1: not judged)
    part_only: float = 1.0     # share of its score a grasp keeps for its pads' reach: 1 when they touch only
                               # the part asked for (or it was not judged), less when they would touch another

    def __post_init__(self):
        self.pose = check_transform("Grasp.pose", self.pose)
        self.width = _finite("Grasp.width", self.width)
        if self.width < 0:
            raise InvalidInputError(f"Grasp.width must be >= 0, got {self.width}")
        for name in ("quality", "affordance_score", "score", "hold", "part_only"):
            setattr(self, name, _finite(f"Grasp.{name}", getattr(self, name)))
        if not 0.0 <= self.hold <= 1.0:
            raise InvalidInputError(f"Grasp.hold is a probability in [0, 1], got {self.hold}")
        if not 0.0 <= self.part_only <= 1.0:
            raise InvalidInputError(f"Grasp.part_only must be in [0, 1], got {self.part_only}")
        self.contacts = _points("Grasp.contacts", self.contacts, 2)

    @classmethod
    def many(cls, poses, widths, quality, contacts, frame_id: str = "base", hold=None,
             part_only=None) -> List["Grasp"]:
        """Grasps from arrays (``score`` = ``quality``), checked as a whole (see GraspSet)."""
        return GraspSet(poses, widths, quality, contacts, hold=hold, part_only=part_only,
                        frame_id=frame_id).grasps()

    def rescored(self, affordance_score: float, score: float) -> "Grasp":
        """A copy with these scores. The pose, width and contacts were checked when this grasp
        was made and are not checked again: ranking copies hundreds of candidates per request."""
        affordance_score, score = float(affordance_score), float(score)
        if not (math.isfinite(affordance_score) and math.isfinite(score)):
            raise InvalidInputError(f"Grasp scores must be finite, got {affordance_score}, {score}")
        g = copy.copy(self)
        g.affordance_score, g.score = affordance_score, score
        return g

    @property
    def position(self) -> np.ndarray:
        return self.pose[:3, 3]

    @property
    def approach(self) -> np.ndarray:
        return self.pose[:3, 2]

    @property
    def closing(self) -> np.ndarray:
        return self.pose[:3, 1]


class GraspSet:
    """N two-finger grasps as arrays, the way graspnetAPI's GraspGroup holds them: what the
    generator makes and the scorer reads, with no object per grasp (a frame has a thousand
    candidates or more). An int index gives one :class:`Grasp`, the type at the ROS boundary; a
    slice, a boolean mask or an index array gives another GraspSet. Arrays are checked once, when
    the set is made; a subset shares the checks."""

    ARRAYS = ("poses", "widths", "quality", "affordance", "score", "contacts", "hold", "part_only")

    def __init__(self, poses=(), widths=(), quality=(), contacts=(), *, hold=None, part_only=None,
                 affordance=None, score=None, frame_id: str = "base"):
        poses = np.zeros((0, 4, 4)) if len(poses) == 0 else check_transforms("Grasp.pose", poses)
        n = len(poses)
        widths, quality = np.asarray(widths, np.float64).reshape(-1), np.asarray(quality, np.float64).reshape(-1)
        contacts = np.asarray(contacts, np.float64).reshape(-1, 2, 3) if n else np.zeros((0, 2, 3))
        if widths.shape != (n,) or quality.shape != (n,) or contacts.shape != (n, 2, 3):
            raise InvalidInputError(f"a grasp set of {n} needs {n} widths, qualities and (2, 3) contacts")
        if not (np.isfinite(widths).all() and np.isfinite(quality).all() and np.isfinite(contacts).all()):
            raise InvalidInputError("grasp widths, qualities and contacts must be finite")
        if (widths < 0).any():
            raise InvalidInputError(f"Grasp.width must be >= 0, got {float(widths.min())}")
        hold = self._unit("hold probabilities", hold, n)
        part_only = self._unit("part_only values", part_only, n)
        affordance, score = self._scores(np.zeros(n) if affordance is None else affordance,
                                         quality.copy() if score is None else score, n)
        self.poses, self.widths, self.quality, self.contacts = poses, widths, quality, contacts
        self.hold, self.part_only, self.affordance, self.score = hold, part_only, affordance, score
        self.frame_id = frame_id

    @staticmethod
    def _scores(affordance, score, n: int) -> Tuple[np.ndarray, np.ndarray]:
        affordance, score = np.asarray(affordance, np.float64).reshape(-1), np.asarray(score, np.float64).reshape(-1)
        if affordance.shape != (n,) or score.shape != (n,) or not (np.isfinite(affordance).all()
                                                                   and np.isfinite(score).all()):
            raise InvalidInputError(f"a grasp set of {n} needs {n} finite affordance scores and scores")
        return affordance, score

    @staticmethod
    def _unit(what: str, values, n: int) -> np.ndarray:
        v = np.ones(n) if values is None else np.asarray(values, np.float64).reshape(-1)
        if v.shape != (n,) or not (np.isfinite(v).all() and (v >= 0).all() and (v <= 1).all()):
            raise InvalidInputError(f"a grasp set of {n} needs {n} {what} in [0, 1]")
        return v

    @classmethod
    def from_grasps(cls, grasps) -> "GraspSet":
        """The set of a sequence of Grasps (each already checked; their frame must be one)."""
        grasps = list(grasps)
        if not all(isinstance(g, Grasp) for g in grasps):
            raise InvalidInputError("a grasp set is made from Grasps")
        frames = {g.frame_id for g in grasps}
        if len(frames) > 1:
            raise InvalidInputError(f"grasps in one set share one frame, got {sorted(frames)}")
        return cls._of(frames.pop() if frames else "base", **{
            "poses": np.array([g.pose for g in grasps]).reshape(-1, 4, 4),
            "widths": np.array([g.width for g in grasps], np.float64),
            "quality": np.array([g.quality for g in grasps], np.float64),
            "affordance": np.array([g.affordance_score for g in grasps], np.float64),
            "score": np.array([g.score for g in grasps], np.float64),
            "contacts": np.array([g.contacts for g in grasps], np.float64).reshape(-1, 2, 3),
            "hold": np.array([g.hold for g in grasps], np.float64),
            "part_only": np.array([g.part_only for g in grasps], np.float64)})

    @classmethod
    def _of(cls, frame_id: str, **arrays) -> "GraspSet":
        """A set from arrays that were checked already (a subset, a rescoring)."""
        out = object.__new__(cls)
        for name in cls.ARRAYS:
            setattr(out, name, arrays[name])
        out.frame_id = frame_id
        return out

    def _subset(self, index) -> "GraspSet":
        return GraspSet._of(self.frame_id, **{name: getattr(self, name)[index] for name in self.ARRAYS})

    def __len__(self) -> int:
        return len(self.poses)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return self.grasp(int(index))
        return self._subset(index)

    def __iter__(self):
        return (self.grasp(i) for i in range(len(self)))

    def grasp(self, i: int) -> Grasp:
        """Grasp ``i`` (negative counts from the end)."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"grasp {i} of a set of {n}")
        g = object.__new__(Grasp)              # every field was checked with the set
        g.pose, g.width, g.quality = self.poses[i], float(self.widths[i]), float(self.quality[i])
        g.affordance_score, g.score = float(self.affordance[i]), float(self.score[i])
        g.contacts, g.frame_id = self.contacts[i], self.frame_id
        g.hold, g.part_only = float(self.hold[i]), float(self.part_only[i])
        return g

    def grasps(self) -> List[Grasp]:
        return [self.grasp(i) for i in range(len(self))]

    @property
    def positions(self) -> np.ndarray:
        """(N, 3) TCP positions."""
        return self.poses[:, :3, 3]

    def rescored(self, affordance, score) -> "GraspSet":
        """The same grasps with these affordance scores and scores (N each, finite)."""
        affordance, score = self._scores(affordance, score, len(self))
        arrays = {name: getattr(self, name) for name in self.ARRAYS}
        arrays.update(affordance=affordance, score=score)
        return GraspSet._of(self.frame_id, **arrays)

    def sort_by_score(self) -> "GraspSet":
        """Best score first (ties keep their order)."""
        return self._subset(np.argsort(-self.score, kind="stable"))

    def nms(self, translation: float = 0.01, rotation: float = np.deg2rad(30.0)) -> "GraspSet":
        """Best score first, without any grasp within ``translation`` metres and ``rotation``
        radians of a better one kept (a two-finger grasp turned half a turn about its approach is
        the same grasp)."""
        if translation < 0 or rotation < 0:
            raise InvalidInputError(f"nms needs translation and rotation >= 0, got {translation}, {rotation}")
        ranked = self.sort_by_score()
        R, t = ranked.poses[:, :3, :3], ranked.positions
        keep: List[int] = []
        for i in range(len(ranked)):
            if keep:
                k = np.asarray(keep)
                near = np.linalg.norm(t[k] - t[i], axis=1) <= translation
                rel = np.einsum("kji,jl->kil", R[k], R[i])             # R_k^T R_i
                flip = rel * np.array([-1.0, -1.0, 1.0])               # the same grasp with the fingers swapped
                angle = np.minimum(*(np.arccos(np.clip((np.trace(m, axis1=1, axis2=2) - 1) / 2, -1, 1))
                                     for m in (rel, flip)))
                if (near & (angle <= rotation)).any():
                    continue
            keep.append(i)
        return ranked._subset(np.asarray(keep, int))


class FailureReason(str, enum.Enum):
    NONE = ""
    UNREACHABLE = "unreachable"
    APPROACH_COLLISION = "approach collision"
    EMPTY_GRASP = "empty grasp"
    SLIPPED = "slipped"
    SLIP_CAUGHT = "slip caught"              # it began to slip in the slow first lift and was set back down
    WOULD_NOT_HOLD = "would not hold"        # nothing moved: the candidates that may hold are out of reach, the
                                             # rest are predicted to slip (Grasp.hold below the bound)
    INVALID_INPUT = "invalid input"
    NO_CANDIDATES = "no candidates"
    PLANNING_FAILED = "planning failed"      # a motion planner found no path (a real robot backend)
    EXECUTION_FAILED = "execution failed"    # the controllers did not carry a trajectory out
    GRIPPER_FAILED = "gripper failed"        # the gripper driver refused or failed a command
    CANCELLED = "cancelled"                  # stopped on request; the arm retreated where it could


@dataclass
class SceneBox:
    """An object on the table as a collision box in the base frame: ``center`` and full ``size``
    (x y z along the box's own axes, turned by ``yaw`` about z), from its cloud cluster."""

    id: str
    center: np.ndarray
    size: np.ndarray
    yaw: float = 0.0
    is_target: bool = False

    def __post_init__(self):
        self.center = np.asarray(self.center, float).reshape(3)
        self.size = np.asarray(self.size, float).reshape(3)
        if not self.id or "/" in self.id:
            raise InvalidInputError(f"SceneBox.id must be a non-empty name without '/', got {self.id!r}")
        if not (np.all(np.isfinite(self.center)) and np.all(np.isfinite(self.size)) and np.all(self.size > 0)):
            raise InvalidInputError(f"SceneBox {self.id!r}: center must be finite and size positive")
        self.yaw = _finite("SceneBox.yaw", self.yaw)


@dataclass
class SceneModel:
    """What a motion planner must avoid: the table top (a plane at ``table_height``) and the
    objects on it; one of them is the grasp's target (it may be touched and is then carried)."""

    table_height: float
    boxes: list = field(default_factory=list)

    def __post_init__(self):
        self.table_height = _finite("SceneModel.table_height", self.table_height)
        if not all(isinstance(b, SceneBox) for b in self.boxes):
            raise InvalidInputError("SceneModel.boxes must be SceneBox objects")

    @property
    def target(self) -> Optional[SceneBox]:
        return next((b for b in self.boxes if b.is_target), None)


def judge_grasp(success: bool, parts_touched, target: str, part: str) -> Tuple[bool, bool]:
    """(held, by_part) for a grasp meant for ``target``'s ``part``: it succeeded with the target
    among what the fingers touched; the fingers touched that part and nothing else. The
    benchmarks' task success is both."""
    touched = set(parts_touched)
    held = bool(success) and any(t.startswith(target + "/") for t in touched)
    return held, bool(touched) and touched == {f"{target}/{part}"}


@dataclass
class GraspOutcome:
    success: bool
    lifted_height: float = 0.0
    parts_touched: tuple = ()
    failure_reason: FailureReason = FailureReason.NONE
    timings: dict = field(default_factory=dict)  # stage -> seconds
    grasp: Optional[Grasp] = None
    attempts: int = 1
    checked: int = 0          # candidates whose reachability was checked to find the attempts

    def __post_init__(self):
        self.failure_reason = FailureReason(self.failure_reason)
        if self.success and self.failure_reason is not FailureReason.NONE:
            raise InvalidInputError("a successful outcome cannot carry a failure reason")
        self.parts_touched = tuple(sorted(set(self.parts_touched)))

    def to_dict(self) -> dict:
        return {
            "success": bool(self.success),
            "lifted_height": round(float(self.lifted_height), 4),
            "parts_touched": list(self.parts_touched),
            "failure_reason": self.failure_reason.value,
            "timings": {k: round(float(v), 4) for k, v in self.timings.items()},
            "attempts": self.attempts,
            "checked": self.checked,
        }
