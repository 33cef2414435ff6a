"""The moveit_py double backed by the MuJoCo twin (sim/moveit_twin.py).

CONTRACT TEST WITH A TEST DOUBLE: moveit_py is not installable here. The double answers the MoveIt
backend's calls with the twin's kinematics, geometry and physics, so the real MoveItExecutor plans,
attaches, lifts and lets go of an object in the twin. It is not MoveIt: these tests check the
backend against moveit_py's API contract and the twin's physics, not MoveIt's planners.
"""
from pathlib import Path

import numpy as np
import pytest
import yaml

from affordance_grasp.errors import ConfigError
from affordance_grasp.execution.moveit import MoveItExecutor, MoveItSettings
from affordance_grasp.sim.moveit_twin import (INVALID_GOAL_CONSTRAINTS, LINKS, AttachedCollisionObject,
                                              CollisionObject, PlanRequestParameters, Pose, PoseStamped,
                                              SolidPrimitive, TwinGripper, TwinMoveItPy, TwinRobotState,
                                              pose_matrix, true_scene_model)
from affordance_grasp.sim.robot import HOME_Q
from affordance_grasp.sim.scene import sample_scene

PANDA = yaml.safe_load((Path(__file__).resolve().parent / "data" / "moveit_resources_panda_names.yaml").read_text())


@pytest.fixture
def twin(ik):
    world = sample_scene(11, categories=["mug"]).build()
    return world, TwinMoveItPy(world)


@pytest.fixture(scope="module")
def mug_grasp(ik):
    """The known scene of the executor contract tests (test_executor_contract.py's sim_case) and
    its oracle grasp on the mug's handle, in the Panda's base frame."""
    from affordance_grasp.sim.executor import SimExecutor
    from affordance_grasp.sim.oracle import oracle_grasp
    scene = sample_scene(11, categories=["mug"])
    return scene, _framed(oracle_grasp(scene.build(), "mug_0", "handle", executor=SimExecutor(scene.build(), ik=ik)))


def home_state(double) -> TwinRobotState:
    s = TwinRobotState(double.get_robot_model())
    s.joint_positions = {f"panda_joint{i + 1}": float(q) for i, q in enumerate(HOME_Q)}
    s.update()
    return s


def box(oid: str, center, size) -> CollisionObject:
    co = CollisionObject(id=oid, operation=CollisionObject.ADD)
    co.header.frame_id = "panda_link0"
    co.primitives = [SolidPrimitive(type=SolidPrimitive.BOX, dimensions=list(size))]
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = center
    co.primitive_poses = [pose]
    return co


def test_the_double_has_moveit_resources_panda_names_and_refuses_others(twin):
    world, double = twin
    model = double.get_robot_model()
    assert sorted(model.joint_model_group_names) == sorted(PANDA["groups"])
    assert sorted(model.link_names) == sorted(PANDA["links"]) and sorted(model.joint_names) == sorted(PANDA["joints"])
    # a group the model lacks: PlanningComponent's constructor throws, the model answers None
    with pytest.raises(RuntimeError, match="Could not find joint model group 'manipulator'"):
        double.get_planning_component("manipulator")
    assert model.get_joint_model_group("manipulator") is None
    state = home_state(double)
    pose = state.get_pose("panda_hand")
    with pytest.raises(RuntimeError, match="not found"):
        state.set_from_ik("manipulator", pose, "panda_hand", 0.05)
    with pytest.raises(RuntimeError, match="not known"):
        state.joint_positions = {"finger_2": 0.01}
    # a link the model lacks, or one not fixed to the IK chain's tip: IK and attach return False
    assert not state.set_from_ik("panda_arm", pose, "panda_hand_tcp", 0.05)
    assert not state.set_from_ik("panda_arm", pose, "panda_leftfinger", 0.05)
    assert not state.set_from_ik("hand", pose, "panda_hand", 0.05)          # no solver for that group
    assert state.set_from_ik("panda_arm", pose, "panda_hand", 0.05)
    scene = double.scene
    with double.psm.read_write() as s:
        s.apply_collision_object(box("cup", (0.5, 0.0, 0.05), (0.05, 0.05, 0.1)))
    aco = AttachedCollisionObject(link_name="panda_hand_tcp")
    aco.object.id, aco.object.operation = "cup", CollisionObject.ADD
    assert double.psm.process_attached_collision_object(aco) is False and "cup" in scene.world
    aco.link_name, aco.object.id = "panda_hand", "nothing"
    assert double.psm.process_attached_collision_object(aco) is False
    # a goal for a link the model lacks is accepted (moveit_py builds constraints) and the plan is falsy
    arm = double.get_planning_component("panda_arm")
    goal = PoseStamped()
    goal.header.frame_id, goal.pose = "panda_link0", pose
    assert arm.set_goal_state(pose_stamped_msg=goal, pose_link="panda_hand_tcp") is True
    plan = arm.plan(single_plan_parameters=PlanRequestParameters(double, ""))
    assert not plan and plan.error_code.val == INVALID_GOAL_CONSTRAINTS
    # the backend's own name check refuses a name the double's model lacks, before anything moves
    with pytest.raises(ConfigError, match="panda_hand_tcp"):
        MoveItExecutor(double, TwinGripper(double), MoveItSettings(end_effector_link="panda_hand_tcp"),
                       api=double.api, robot_description=double.robot_description)
    assert double.executions == 0


def test_collision_checks_are_geometry_and_honour_the_allowed_collision_matrix(twin):
    world, double = twin
    state = home_state(double)
    hand = pose_matrix(state.get_pose("panda_hand"))[:3, 3]
    with double.psm.read_write() as scene:
        scene.apply_collision_object(box("block", hand, (0.06, 0.06, 0.06)))      # around the hand
        scene.apply_collision_object(box("far", (0.5, 0.6, 0.05), (0.05, 0.05, 0.1)))
    with double.psm.read_only() as scene:
        assert scene.is_state_colliding(state, "panda_arm")
        hits = scene.collisions(state, "panda_arm", first=False)
        assert {h[1] for h in hits} == {"block"} and {h[0] for h in hits} <= set(LINKS)
    with double.psm.read_write() as scene:
        for link in {h[0] for h in hits}:
            scene.allowed_collision_matrix.set_entry("block", link, True)
    with double.psm.read_only() as scene:
        assert not scene.is_state_colliding(state, "panda_arm")
    with double.psm.read_write() as scene:
        for link in LINKS:
            scene.allowed_collision_matrix.remove_entry("block", link)
        assert scene.is_state_colliding(state, "panda_arm")
        # the transforms follow the joints only on update(): a state moved away but not updated
        # is checked where it was
        state.joint_positions = {"panda_joint1": 1.5}
        assert scene.is_state_colliding(state, "panda_arm")
        state.update()
        assert not scene.is_state_colliding(state, "panda_arm")
    # an attached body collides with the world unless allowed, and rides with its link
    with double.psm.read_write() as scene:
        scene.apply_collision_object(box("block", (0.5, -0.6, 0.05), (0.05, 0.05, 0.1)))
        aco = AttachedCollisionObject(link_name="panda_hand", touch_links=["panda_hand"])
        aco.object.id, aco.object.operation = "far", CollisionObject.ADD
        assert scene.process_attached_collision_object(aco)
        assert "far" in scene.attached and "far" not in scene.world
        assert not scene.is_state_colliding(scene.current_state, "panda_arm")
        scene.apply_collision_object(box("wall", (0.5, 0.6, 0.05), (0.2, 0.02, 0.3)))   # through the attached box
        assert scene.is_state_colliding(scene.current_state, "panda_arm")
        assert {h[:2] for h in scene.collisions(scene.current_state, "panda_arm", first=False)} == {("far", "wall")}
        scene.allowed_collision_matrix.set_entry("far", "wall", True)
        assert not scene.is_state_colliding(scene.current_state, "panda_arm")
        aco.object.operation = CollisionObject.REMOVE
        assert scene.process_attached_collision_object(aco) and "far" in scene.world
        assert scene.process_attached_collision_object(aco) is False          # nothing attached by that id


def test_a_pilz_lin_plan_is_a_straight_line_and_execution_moves_the_twin(twin):
    world, double = twin
    arm = double.get_planning_component("panda_arm")
    start = pose_matrix(double.scene.current_state.get_pose("panda_hand"))
    goal_T = start.copy()
    goal_T[:3, 3] += [0.05, 0.0, -0.10]
    from affordance_grasp.sim.moveit_twin import matrix_pose
    goal = PoseStamped()
    goal.header.frame_id, goal.pose = "panda_link0", matrix_pose(goal_T)
    arm.set_start_state_to_current_state()
    assert arm.set_goal_state(pose_stamped_msg=goal, pose_link="panda_hand")
    p = PlanRequestParameters(double, "")
    p.planning_pipeline, p.planner_id = "pilz_industrial_motion_planner", "LIN"
    p.max_velocity_scaling_factor = p.max_acceleration_scaling_factor = 0.1
    plan = arm.plan(single_plan_parameters=p)
    assert plan, plan.error_code.message
    traj = plan.trajectory
    line = goal_T[:3, 3] - start[:3, 3]
    for q in traj.positions:
        x = double.kin.fk(q, "panda_hand")[:3, 3] - start[:3, 3]
        off = x - line * np.clip(x @ line / (line @ line), 0, 1)
        assert np.linalg.norm(off) < 0.002
    assert np.all(np.diff(traj.times) >= 0) and traj.duration > 1.0     # 11 cm at a tenth of 1 m/s and more
    assert double.execute(traj, controllers=[])
    assert np.linalg.norm(world.tcp_pose()[:3, 3] - (goal_T @ [0, 0, 0.1034, 1])[:3]) < 0.005
    # a trajectory that does not start where the arm is, is refused (falsy ExecutionStatus)
    assert not double.execute(traj, controllers=[])


def test_gripper_command_makes_a_narrower_open_a_grasp_as_franka_gripper_does(twin):
    """franka_gripper's GripperCommand server moves only to a wider target; a narrower one is a
    grasp (gripper_action_server.cpp), here with the client's open() effort of 0: with nothing
    between the fingers they close and the grasp fails. franka_msgs Move opens to any width."""
    world, double = twin
    reply = TwinGripper(double, "gripper_command").open(0.03)
    assert not reply.ok and reply.width < 0.01
    reply = TwinGripper(double, "franka").open(0.03)
    assert reply.ok and reply.width == pytest.approx(0.03, abs=0.002)


def test_the_moveit_backend_lifts_a_mug_in_the_twin_and_lets_it_go(mug_grasp):
    """The oracle's grasp on the handle, executed by the MoveIt backend itself over the double."""
    scene, g = mug_grasp
    world = scene.build()
    double = TwinMoveItPy(world)
    ex = MoveItExecutor(double, TwinGripper(double), MoveItSettings(), api=double.api,
                        robot_description=double.robot_description)
    ex.set_scene(true_scene_model(world, "mug_0"))

    assert ex.check_reachable(g)
    z0 = world.object_com("mug_0")[2]
    out = ex.execute(g)
    assert out.success, (out.failure_reason, double.last_plan_failure)
    assert world.object_com("mug_0")[2] - z0 > 0.10                 # really carried, in the physics
    assert {i for i, _ in world.finger_contacts()} == {"mug_0"}
    assert ("mug_0", "handle") in double.touched
    assert "mug_0" in double.scene.attached and "mug_0" not in double.scene.world
    assert all(double.scene.allowed_collision_matrix.entries.values())
    ex.release()
    assert "mug_0" not in double.scene.attached and "mug_0" not in double.scene.world
    assert double.scene.allowed_collision_matrix.entries == {}
    assert world.gripper_opening() > g.width + 0.005                  # opened to the checked width


def _framed(g):
    from dataclasses import replace
    return replace(g, frame_id="panda_link0")


def test_a_target_that_comes_as_two_boxes_is_touched_and_carried_whole(mug_grasp):
    """One object may reach the planning scene as several target boxes: a mask or box hint that
    spans two clusters a depth edge cut apart (segmentation.scene_model marks each). Allowing the
    hand to touch, and attaching, only the first left the other piece in the world, overlapping the
    attached one: the probe lift's start state collided and the grasp failed to plan."""
    from affordance_grasp.types import SceneBox, SceneModel
    scene, g = mug_grasp
    world = scene.build()
    whole = true_scene_model(world, "mug_0").boxes[0]
    # the box cut in two halves along its length, both the target
    axis = np.array([np.cos(whole.yaw), np.sin(whole.yaw), 0.0])
    half = whole.size * [0.5, 1, 1]
    pieces = [SceneBox(f"object_{k}", whole.center + s * axis * whole.size[0] / 4, half, whole.yaw, True)
              for k, s in enumerate((-1, 1))]
    double = TwinMoveItPy(world)
    ex = MoveItExecutor(double, TwinGripper(double), MoveItSettings(), api=double.api,
                        robot_description=double.robot_description)
    ex.set_scene(SceneModel(0.0, pieces))
    out = ex.execute(g)
    assert out.success, (out.failure_reason, double.last_plan_failure)
    assert set(double.scene.attached) == {"object_0", "object_1"}
    ex.release()
    assert not double.scene.attached and not double.scene.world.keys() - {"affordance_grasp_table"}
    assert double.scene.allowed_collision_matrix.entries == {}


def test_parts_touched_count_from_the_close_to_the_next_open_as_the_sim_executor_counts_them(twin):
    """The sim executor notes the parts its fingers touch from the close to the hold, not on the
    approach or the retreat; the bench's MoveIt executor counts the same span, so a finger
    brushing the knife's blade on the way down is not 'touched the blade' for one of them only."""
    world, double = twin
    gripper = TwinGripper(double)
    world.finger_contacts = lambda: {("mug_0", "body")}     # whatever moves, the fingers touch the body
    double.touched, double.watching = set(), False          # as TwinMoveItExecutor starts a grasp
    double.step(10)                                         # the approach
    assert double.touched == set()
    gripper.close(0.0, 70.0)
    assert double.touched == {("mug_0", "body")}
    gripper.open(0.08)
    double.touched = set()
    double.step(10)                                         # the retreat
    assert double.touched == set()
