"""The Panda's forward kinematics, joint-state history, and an eye-in-hand camera's pose without
tf2, checked in the twin with a camera on the wrist."""
import mujoco
import numpy as np
import pytest

from affordance_grasp.errors import InvalidInputError
from affordance_grasp.geometry import look_at, quat_from_pose, rotation_angle_between
from affordance_grasp.kinematics import JointHistory, panda_flange_pose, wrist_camera_pose


def test_forward_kinematics_matches_the_twins_panda():
    from affordance_grasp.sim.world import SimWorld
    world = SimWorld([])
    m, d = world.model, world.data
    lo, hi = m.jnt_range[[m.joint(f"robot/panda_joint{i}").id for i in range(1, 8)]].T
    rng = np.random.default_rng(0)
    link8 = m.body("robot/panda_link8").id
    for _ in range(20):
        q = rng.uniform(lo, hi)
        world.set_arm_qpos(q)
        mujoco.mj_kinematics(m, d)
        F = panda_flange_pose(q)
        assert np.allclose(F[:3, 3], d.xpos[link8], atol=1e-6)
        assert np.allclose(F[:3, :3], d.xmat[link8].reshape(3, 3), atol=1e-6)
    with pytest.raises(InvalidInputError):
        panda_flange_pose([0.0] * 6)


def test_joint_history_interpolates_and_refuses_stale_stamps():
    h = JointHistory(horizon=1.0)
    with pytest.raises(InvalidInputError, match="no joint_states"):
        h.at(0.0)
    h.add(10.0, np.zeros(7))
    h.add(10.1, np.ones(7))
    assert np.allclose(h.at(10.05), 0.5)
    assert np.allclose(h.at(10.12, max_gap=0.05), 1.0)
    with pytest.raises(InvalidInputError, match="no joint_states near"):
        h.at(11.0, max_gap=0.1)
    h.add(12.0, np.ones(7))           # older samples beyond the horizon are dropped
    assert h.t == [12.0]


def _wrist_world(q):
    from affordance_grasp.sim.objects import make_object
    from affordance_grasp.sim.world import CameraConfig, PlacedObject, SimWorld, WorldConfig
    # A D405-like camera 6 cm off the flange axis, looking along the approach (flange z).
    X = look_at((0.06, 0.0, 0.0), (0.06, 0.0, 0.5), up=(1.0, 0.0, 0.0))
    hand_eye = tuple(np.r_[X[:3, 3], quat_from_pose(X)])
    cfg = WorldConfig(camera=CameraConfig(fy=400.0, wrist=hand_eye, near=0.02))
    mug = make_object("mug", np.random.default_rng(3))
    world = SimWorld([PlacedObject("mug_0", mug, (0.42, 0.0, 0.001), 0.4)], cfg)
    world.set_arm_qpos(q)
    world.data.ctrl[world.arm_act] = q
    world.settle(0.5)
    return world, X


def _target_centroid(frame, world):
    """The mug's visible surface, deprojected with the frame's pose (no workspace crop, so a wrong
    pose shows as a displaced centroid rather than an empty cloud)."""
    from affordance_grasp.geometry import camera_to_base, deproject_pixels
    from affordance_grasp.sim.camera import SimCamera
    from affordance_grasp.sim.ground_truth import object_masks
    with SimCamera(world) as cam:
        (m,) = object_masks(world, cam.render_geom_ids())
    v, u = np.nonzero(m.object_mask & (frame.depth > 0))
    assert len(v) > 200, "the mug is not in the wrist camera's view"
    pts = deproject_pixels(np.stack([u, v], 1), frame.depth[v, u], frame.intrinsics)
    return camera_to_base(pts, frame.T_base_camera).mean(0)


def test_eye_in_hand_pose_follows_the_arm_where_a_static_calibration_does_not():
    from affordance_grasp.sim.ik import PandaIK
    from affordance_grasp.sim.camera import SimCamera
    from affordance_grasp.sim.robot import HOME_Q
    from affordance_grasp.types import RGBDFrame
    q0 = HOME_Q.copy()
    world, X = _wrist_world(q0)
    with SimCamera(world) as cam:
        frame0 = cam.render()
    # At the calibration pose, the FK + hand-eye pose is the camera's true pose (1 mm, 1 deg).
    T_eih0 = wrist_camera_pose(world.arm_qpos(), X)
    assert np.linalg.norm(T_eih0[:3, 3] - frame0.T_base_camera[:3, 3]) < 1e-3
    assert np.degrees(rotation_angle_between(T_eih0[:3, :3], frame0.T_base_camera[:3, :3])) < 1.0
    static = T_eih0   # an eye-to-hand style calibration taken at q0
    c_true0 = _target_centroid(frame0, world)
    c_eih0 = _target_centroid(RGBDFrame(frame0.rgb, frame0.depth, frame0.intrinsics, T_eih0), world)
    assert np.linalg.norm(c_true0 - c_eih0) < 1e-3
    # The arm moves: 8 cm sideways and 6 cm up, the hand turned 15 degrees.
    tcp0 = PandaIK().fk(q0)
    target = tcp0.copy()
    target[:3, 3] += [0.0, 0.08, 0.06]
    c, s = np.cos(np.radians(15)), np.sin(np.radians(15))
    target[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]) @ target[:3, :3]
    q1 = PandaIK().solve(target, q0)
    assert q1 is not None
    world, X = _wrist_world(q1)
    with SimCamera(world) as cam:
        frame1 = cam.render()
    T_eih1 = wrist_camera_pose(world.arm_qpos(), X)
    assert np.linalg.norm(T_eih1[:3, 3] - frame1.T_base_camera[:3, 3]) < 1e-3
    truth = _target_centroid(frame1, world)
    eih = _target_centroid(RGBDFrame(frame1.rgb, frame1.depth, frame1.intrinsics, T_eih1), world)
    stale = _target_centroid(RGBDFrame(frame1.rgb, frame1.depth, frame1.intrinsics, static), world)
    assert np.linalg.norm(eih - truth) < 1e-3          # follows the arm
    assert np.linalg.norm(stale - truth) > 0.03        # a static calibration would grasp 3+ cm off
    mug = world.object_pose("mug_0")[:3, 3]
    assert np.linalg.norm(eih[:2] - mug[:2]) < 0.05    # and it is where the mug really is
