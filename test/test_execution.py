import numpy as np
import pytest

from affordance_grasp.errors import BackendUnavailableError, InvalidInputError
from affordance_grasp.execution.base import ExecutionConfig
from affordance_grasp.sim.executor import SimExecutor
from affordance_grasp.sim.oracle import oracle_grasp
from affordance_grasp.sim.scene import sample_scene
from affordance_grasp.types import FailureReason, Grasp


@pytest.fixture
def mug_scene(ik):
    world = sample_scene(11, categories=["mug"]).build()
    return world, SimExecutor(world, ik=ik)


def test_known_good_grasp_succeeds_on_the_handle(mug_scene):
    world, ex = mug_scene
    g = oracle_grasp(world, "mug_0", "handle")
    assert ex.check_reachable(g)
    out = ex.execute(g)
    assert out.success, out
    assert out.lifted_height >= 0.10
    assert out.parts_touched == ("mug_0/handle",)
    assert world.object_com("mug_0")[2] > 0.1


def test_same_grasp_10cm_higher_is_an_empty_grasp(mug_scene):
    world, ex = mug_scene
    g = oracle_grasp(world, "mug_0", "handle")
    pose = g.pose.copy()
    # 10 cm above where the handle is: the fingers close on air.
    up = np.array([0.0, 0.0, 0.10])
    pose[:3, 3] += up
    out = ex.execute(Grasp(pose, g.width, contacts=g.contacts + up))
    assert not out.success
    assert out.failure_reason is FailureReason.EMPTY_GRASP
    assert out.lifted_height < 0.01


def test_unreachable_pose_fails_without_moving(mug_scene):
    world, ex = mug_scene
    q0, obj0 = world.arm_qpos(), world.object_pose("mug_0")
    t0 = world.data.time
    pose = np.eye(4)
    pose[:3, :3] = np.diag([1.0, -1.0, -1.0])
    pose[:3, 3] = [0.95, 0.0, 0.1]  # inside max_reach, but past what the Panda's arm can stretch to
    out = ex.execute(Grasp(pose, 0.02))
    assert out.failure_reason is FailureReason.UNREACHABLE and not out.success
    assert not ex.check_reachable(Grasp(pose, 0.02))
    far = pose.copy()
    far[:3, 3] = [1.6, 0.0, 0.1]  # twice the Panda's reach: refused before IK
    with pytest.raises(InvalidInputError, match="beyond the arm's reach"):
        ex.execute(Grasp(far, 0.02))
    assert np.allclose(world.arm_qpos(), q0) and np.allclose(world.object_pose("mug_0"), obj0)
    assert world.data.time == t0  # no physics step was taken


def test_grasp_into_the_table_is_an_approach_collision(mug_scene):
    world, ex = mug_scene
    g = oracle_grasp(world, "mug_0", "handle")
    pose = g.pose.copy()
    pose[:3, 3] = [0.45, -0.2, 0.0]  # TCP on the table surface: the fingertips go through it
    t0 = world.data.time
    colliding = Grasp(pose, 0.02)
    # The reachability check (no motion) already says no, so fallback never spends an attempt on it.
    assert not ex.check_reachable(colliding) and ex.check_reachable(g)
    out = ex.execute(colliding)
    assert out.failure_reason is FailureReason.APPROACH_COLLISION
    assert world.data.time == t0


def test_bad_inputs_never_move(mug_scene):
    world, ex = mug_scene
    t0 = world.data.time
    with pytest.raises(InvalidInputError, match="exceeds"):
        ex.execute(Grasp(np.eye(4), 0.2))
    with pytest.raises(InvalidInputError, match="Grasp"):
        ex.execute("not a grasp")
    with pytest.raises(InvalidInputError):
        ex.command_gripper(-0.01)
    with pytest.raises(InvalidInputError):
        ex.command_gripper(0.04, force=0.0)
    with pytest.raises(InvalidInputError):
        ExecutionConfig(success_height=0.3).validate()
    assert world.data.time == t0


def test_gripper_command_sets_width(mug_scene):
    world, ex = mug_scene
    ex.command_gripper(0.03)
    ex._wait(0.5)
    assert world.gripper_opening() == pytest.approx(0.03, abs=0.002)


def test_moveit_backend_says_what_is_missing():
    from affordance_grasp.execution.moveit import MoveItExecutor, MoveItSettings, moveit_api
    settings = MoveItSettings.load()
    assert settings.planning_group == "panda_arm" and settings.straight_planner == "LIN"
    # moveit_py cannot be installed from PyPI: building the backend must refuse clearly.
    with pytest.raises(BackendUnavailableError, match="moveit_py"):
        moveit_api()
    with pytest.raises(BackendUnavailableError, match="moveit_py"):
        MoveItExecutor(object(), gripper=None)
