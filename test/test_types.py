import numpy as np
import pytest

from affordance_grasp.errors import InvalidInputError, AffordanceGraspError
from affordance_grasp.types import (AffordanceMap, AffordanceQuery, CameraIntrinsics, FailureReason, Grasp,
                                    GraspOutcome, RGBDFrame)

K = CameraIntrinsics(500.0, 500.0, 319.5, 239.5, 640, 480)


def frame(**kw):
    args = dict(rgb=np.zeros((480, 640, 3), np.uint8), depth=np.ones((480, 640), np.float32),
                intrinsics=K, T_base_camera=np.eye(4))
    args.update(kw)
    return RGBDFrame(**args)


def test_valid_frame_and_nan_depth_allowed():
    d = np.ones((480, 640), np.float32)
    d[0, 0] = np.nan
    assert frame(depth=d).shape == (480, 640)


@pytest.mark.parametrize("kw, msg", [
    (dict(rgb=np.zeros((480, 640, 3), np.float32)), "uint8"),
    (dict(rgb=np.zeros((480, 641, 3), np.uint8)), "shape"),
    (dict(depth=np.ones((480, 640), np.float64)), "float32"),
    (dict(depth=np.ones((240, 640), np.float32)), "shape"),
    (dict(depth=-np.ones((480, 640), np.float32)), ">= 0"),
    (dict(T_base_camera=np.full((4, 4), np.nan)), "NaN"),
    (dict(T_base_camera=np.diag([2.0, 1, 1, 1])), "orthonormal"),
    (dict(T_base_camera=np.diag([-1.0, 1, 1, 1])), "orthonormal"),
    (dict(T_base_camera=np.eye(3)), "4x4"),
    (dict(frame_id=""), "frame_id"),
])
def test_frame_rejects_bad_input(kw, msg):
    with pytest.raises(InvalidInputError, match=msg):
        frame(**kw)


@pytest.mark.parametrize("kw", [dict(fx=0), dict(fy=-1), dict(cx=np.nan), dict(width=0), dict(height=2.5),
                                dict(distortion=(np.inf, 0, 0, 0, 0))])
def test_intrinsics_rejects_bad_input(kw):
    args = dict(fx=500, fy=500, cx=320, cy=240, width=640, height=480)
    args.update(kw)
    with pytest.raises(InvalidInputError):
        CameraIntrinsics(**args)


def test_intrinsics_from_fov_matches_focal():
    k = CameraIntrinsics.from_fov(640, 480, 2 * np.rad2deg(np.arctan(240 / 615.0)))
    assert k.fx == pytest.approx(615.0) and k.cx == 319.5 and k.cy == 239.5


def test_grasp_validation():
    g = Grasp(np.eye(4), 0.04, contacts=[[0, -0.02, 0], [0, 0.02, 0]])
    assert np.allclose(g.approach, [0, 0, 1]) and np.allclose(g.closing, [0, 1, 0])
    bad_pose = np.eye(4)
    bad_pose[0, 3] = np.nan
    for kw in (dict(pose=bad_pose), dict(pose=np.diag([1, 1, 2, 1.0])), dict(width=-0.01),
               dict(width=np.nan), dict(contacts=np.zeros((3, 3))), dict(quality=np.inf)):
        args = dict(pose=np.eye(4), width=0.04)
        args.update(kw)
        with pytest.raises(InvalidInputError):
            Grasp(**args)


def test_affordance_map_validation():
    q = AffordanceQuery("grasp the mug by its handle", "mug", "grasp", "handle")
    hm = np.zeros((4, 4), np.float32)
    hm[1, 2] = 1
    m = AffordanceMap(hm, q)
    assert m.boxes.shape == (0, 4) and q.grasp_part == "handle"
    with pytest.raises(InvalidInputError, match="sum to 1"):
        AffordanceMap(hm * 2, q)
    with pytest.raises(InvalidInputError, match="float32"):
        AffordanceMap(hm.astype(np.float64), q)
    with pytest.raises(InvalidInputError, match="non-negative"):
        AffordanceMap(hm - 0.1, q)
    with pytest.raises(InvalidInputError, match="mask"):
        AffordanceMap(hm, q, mask=np.zeros((3, 3), bool))
    u = AffordanceMap.from_unnormalised(np.zeros((2, 2)), q)
    assert np.allclose(u.heatmap, 0.25)
    with pytest.raises(InvalidInputError, match="object"):
        AffordanceQuery("x", "", "grasp", "handle")


def test_outcome_consistency_and_errors_are_typed():
    o = GraspOutcome(False, failure_reason="empty grasp", parts_touched=("b", "a", "a"))
    assert o.failure_reason is FailureReason.EMPTY_GRASP and o.parts_touched == ("a", "b")
    assert o.to_dict()["failure_reason"] == "empty grasp"
    with pytest.raises(InvalidInputError):
        GraspOutcome(True, failure_reason=FailureReason.SLIPPED)
    assert issubclass(InvalidInputError, AffordanceGraspError) and issubclass(InvalidInputError, ValueError)


def test_grasps_from_arrays_equal_grasps_made_one_by_one():
    T = np.tile(np.eye(4), (3, 1, 1))
    T[:, :3, 3] = [[0.5, 0, 0.1], [0.4, 0.1, 0.1], [0.6, -0.1, 0.2]]
    contacts = np.zeros((3, 2, 3))
    many = Grasp.many(T, [0.02, 0.03, 0.04], [0.9, 0.5, 0.1], contacts)
    for g, (t, w, q) in zip(many, zip(T, [0.02, 0.03, 0.04], [0.9, 0.5, 0.1])):
        one = Grasp(t, w, quality=q, score=q, contacts=np.zeros((2, 3)))
        assert np.array_equal(g.pose, one.pose) and (g.width, g.quality, g.score) == (one.width, one.quality, one.score)
    bad = T.copy()
    bad[1, 0, 0] = np.nan
    with pytest.raises(InvalidInputError, match=r"Grasp.pose\[1\] contains NaN"):
        Grasp.many(bad, [0.02] * 3, [0.5] * 3, contacts)
    skew = T.copy()
    skew[2, :3, :3] *= 2
    with pytest.raises(InvalidInputError, match=r"Grasp.pose\[2\] rotation is not orthonormal"):
        Grasp.many(skew, [0.02] * 3, [0.5] * 3, contacts)
    with pytest.raises(InvalidInputError, match="width must be >= 0"):
        Grasp.many(T, [0.02, -0.01, 0.03], [0.5] * 3, contacts)
    with pytest.raises(InvalidInputError, match="needs 3 widths"):
        Grasp.many(T, [0.02] * 2, [0.5] * 3, contacts)
    with pytest.raises(InvalidInputError, match="part_only"):
        Grasp.many(T, [0.02] * 3, [0.5] * 3, contacts, part_only=[1.0, 0.3, 1.2])


def test_rescored_copies_the_grasp_with_new_scores_only():
    g = Grasp.many(np.eye(4)[None], [0.02], [0.7], np.zeros((1, 2, 3)), hold=[0.8], part_only=[0.3])[0]
    r = g.rescored(np.float32(0.6), 0.25)
    assert (r.affordance_score, r.score) == (pytest.approx(0.6), 0.25) and type(r.score) is float
    assert (g.affordance_score, g.score) == (0.0, 0.7)           # the original is untouched
    assert (r.width, r.quality, r.hold, r.part_only) == (g.width, g.quality, g.hold, g.part_only)
    assert np.array_equal(r.pose, g.pose) and np.array_equal(r.contacts, g.contacts)
    with pytest.raises(InvalidInputError, match="finite"):
        g.rescored(float("nan"), 0.1)
