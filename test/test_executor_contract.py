"""Contract tests of the Executor interface.

CONTRACT TEST WITH A TEST DOUBLE: moveit_py (MoveItPy) and moveit_msgs are not installable here
(they ship with a ROS 2 install of MoveIt 2), so the MoveIt backend is driven through a double
that records every call and mimics moveit_py's documented return values (bool from
set_goal_state and set_from_ik, a falsy MotionPlanResponse / ExecutionStatus on failure). This
checks the backend's logic against the API contract; it is not MoveIt itself. The behaviours
both backends share run against the MuJoCo twin's SimExecutor too.
"""
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from affordance_grasp.errors import ConfigError, InvalidInputError
from affordance_grasp.execution.gripper import Gripper, GripperReply
from affordance_grasp.execution.moveit import TABLE_ID, MoveItExecutor, MoveItSettings
from affordance_grasp.types import FailureReason, Grasp, SceneBox, SceneModel


# --------------------------------------------------------------------------- the moveit_py double
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "test" / "data"
PANDA = yaml.safe_load((DATA / "moveit_resources_panda_names.yaml").read_text())   # moveit_resources' Panda
FR3 = yaml.safe_load((DATA / "franka_fr3_names.yaml").read_text())                 # franka_ros2's FR3


def urdf(names: dict) -> str:
    """A robot description with the model's links and joints (what the name check reads of it)."""
    return "<robot name='r'>" + "".join(f"<link name='{x}'/>" for x in names["links"]) + \
        "".join(f"<joint name='{j}' type='fixed'><parent link='a'/><child link='b'/></joint>"
                for j in names["joints"]) + "</robot>"


class FakeRobotModel:
    """moveit_py's RobotModel as far as the name check reads it (robot_model.cpp,
    joint_model_group.cpp): the groups by name, each with its joint and link names, and the model
    frame (the SRDF's virtual joint parent, 'world' in both configs)."""

    def __init__(self, names: dict):
        self.name, self.model_frame = "fake", "world"
        arm = lambda n: bool(re.fullmatch(r"[a-z0-9]+_(joint\d|link[1-8])", n))   # noqa: E731
        hand = lambda n: bool(re.search(r"_(hand|leftfinger|rightfinger|finger_joint\d)$", n))   # noqa: E731
        self.groups = {}
        for g in names["groups"]:
            links = [x for x in names["links"] if (g.endswith("_arm") and arm(x)) or (g == "hand" and hand(x))
                     or (not g.endswith("_arm") and g != "hand" and (arm(x) or hand(x)))]
            joints = [j for j in names["joints"] if (g.endswith("_arm") and arm(j)) or (g == "hand" and hand(j))
                      or (not g.endswith("_arm") and g != "hand" and (arm(j) or hand(j)))]
            self.groups[g] = SimpleNamespace(name=g, link_model_names=links, joint_model_names=joints)
        self.joint_model_group_names = list(self.groups)
        self.joint_model_groups = list(self.groups.values())

    def has_joint_model_group(self, name):
        return name in self.groups

    def get_joint_model_group(self, name):
        return self.groups[name]


class Msg(SimpleNamespace):
    """A ROS message stand-in: attributes, nested ones created on first use."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = Msg()
        setattr(self, name, value)
        return value


class CollisionObject(Msg):
    ADD, REMOVE = 0, 1


class SolidPrimitive(Msg):
    BOX = 1


class Calls(list):
    def names(self):
        return [c[0] for c in self]


class FakeScene:
    def __init__(self, calls, double):
        self.calls, self.double = calls, double
        self.acm = {}               # (name1, name2) -> allowed: the entries the backend added
        self.allowed_collision_matrix = SimpleNamespace(set_entry=self._set_entry, remove_entry=self._remove_entry)
        # the arm's pose now: where the last goal sent it, ``hand_offset`` away (m, base frame)
        self.current_state = SimpleNamespace(update=lambda: None, get_pose=self._pose, joint_positions={})

    def _pose(self, link):
        pose = self.double.last_goal
        out = Msg()
        out.position.x, out.position.y, out.position.z = (
            getattr(pose.position, k) + d for k, d in zip("xyz", self.double.hand_offset))
        out.orientation = pose.orientation
        return out

    def _set_entry(self, a, b, allowed):
        self.calls.append(("acm", a, b, allowed))
        self.acm[frozenset((a, b))] = allowed

    def _remove_entry(self, a, b):
        self.calls.append(("acm_remove", a, b))
        self.acm.pop(frozenset((a, b)), None)

    def apply_collision_object(self, co):
        self.calls.append(("scene_object", co.id, co.operation))
        if co.operation == CollisionObject.ADD:
            z, h = co.primitive_poses[0].position.z, co.primitives[0].dimensions[2]
            self.double.z_range[co.id] = (z - h / 2, z + h / 2)

    def is_state_colliding(self, state, group, verbose=False):
        self.calls.append(("collision_check", group))
        self.double.stale_checks += bool(getattr(state, "stale", False))
        return self.double.colliding


class Locked:
    def __init__(self, scene):
        self.scene = scene

    def __enter__(self):
        return self.scene

    def __exit__(self, *a):
        return False


class FakeMoveIt:
    """Records calls; ``fail`` names the call that fails ("goal", "plan", "execute", "ik",
    "ik_first" (only the unflipped pose)); ``on_execute`` runs during the n-th execute."""

    def __init__(self, names: dict = PANDA):
        self.names = names
        self.calls = Calls()
        self.fail, self.colliding, self.on_execute = set(), False, {}
        self.z_range = {}           # object id -> (bottom, top) of its box in the planning scene
        self.stale_checks = 0       # collision checks of a state whose transforms were not updated
        self.last_goal, self.hand_offset = None, (0.0, 0.0, 0.0)
        self.fail_goal_above = math.inf  # plans to a hand higher than this (m) fail
        self.wrist_follows_ik = False
        self.executions = 0
        double = self
        self.scene = scene = FakeScene(self.calls, self)

        class RobotState:
            """moveit_py's RobotState: setting joints (joint_positions, set_from_ik) leaves its link
            and collision transforms stale until update(); PlanningScene.is_state_colliding reads
            them as they are (moveit_core planning_scene.hpp: "It is expected that the link
            transforms of state are up to date")."""

            def __init__(self, model):
                self._joints, self.stale = {}, True

            @property
            def joint_positions(self):
                return dict(self._joints)

            @joint_positions.setter
            def joint_positions(self, values):
                self._joints.update(values)
                self.stale = True

            def update(self, force=False, category="all"):
                self.stale = False

            def set_from_ik(self, group, pose, tip, timeout):
                double.calls.append(("ik", round(pose.position.z, 4), round(pose.orientation.x, 3)))
                double.calls.append(("ik_state", tip, self.joint_positions))
                if double.wrist_follows_ik:    # joint 7 turns with the hand (its quaternion's x)
                    self._joints["panda_joint7"] = pose.orientation.x
                self.stale = True
                if "ik" in double.fail:
                    return False
                if "ik_first" in double.fail and double.first_pose_quat_x is not None \
                        and abs(pose.orientation.x - double.first_pose_quat_x) < 1e-6:
                    return False
                return True

        class PlanRequestParameters:
            def __init__(self, moveit, ns):
                pass

        self.first_pose_quat_x = None
        self.api = SimpleNamespace(RobotState=RobotState, PlanRequestParameters=PlanRequestParameters,
                                   CollisionObject=CollisionObject, AttachedCollisionObject=Msg,
                                   SolidPrimitive=SolidPrimitive, Pose=Msg, PoseStamped=Msg)
        self.arm = SimpleNamespace(
            set_start_state_to_current_state=lambda: self.calls.append(("start_state",)),
            set_start_state=lambda robot_state=None: self.calls.append(("start_state_ik",)),
            set_goal_state=self._goal, plan=self._plan)
        self.psm = SimpleNamespace(read_write=lambda: Locked(scene), read_only=lambda: Locked(scene),
                                   process_attached_collision_object=self._attach)
        self.tem = SimpleNamespace(stop_execution=lambda: self.calls.append(("stop_execution",)))

    def get_planning_component(self, name):
        return self.arm

    def get_planning_scene_monitor(self):
        return self.psm

    def get_robot_model(self):
        return FakeRobotModel(self.names)

    def get_trajectory_execution_manager(self):
        return self.tem

    def _goal(self, pose_stamped_msg=None, pose_link=None, **kw):
        self.calls.append(("goal", round(pose_stamped_msg.pose.position.z, 4), pose_link,
                           round(pose_stamped_msg.pose.orientation.x, 3)))
        self.last_goal = pose_stamped_msg.pose
        return "goal" not in self.fail

    def _plan(self, single_plan_parameters=None):
        p = single_plan_parameters
        self.calls.append(("plan", p.planner_id, p.max_velocity_scaling_factor))
        ok = "plan" not in self.fail and not ("plan_free" in self.fail and p.planner_id != "LIN") \
            and not self.last_goal.position.z > self.fail_goal_above
        return _Truthy(ok, trajectory="traj")

    def execute(self, trajectory, controllers):
        self.executions += 1
        self.calls.append(("execute", self.executions))
        hook = self.on_execute.get(self.executions)
        if hook is not None:
            hook()
        return _Truthy("execute" not in self.fail)

    def _attach(self, aco):
        self.calls.append(("attach" if aco.object.operation == CollisionObject.ADD else "detach", aco.object.id))
        return True


class _Truthy(SimpleNamespace):
    def __init__(self, ok, **kw):
        super().__init__(**kw)
        self.ok = ok

    def __bool__(self):
        return self.ok


class FakeGripper(Gripper):
    def __init__(self, calls, closes_to=None, after_lift=None, readings=None):
        self.calls, self.closes_to, self.after_lift = calls, closes_to, after_lift
        self.readings = list(readings or [])    # what width() reports, call by call, before after_lift
        self.opening = 0.08

    def open(self, width):
        self.calls.append(("gripper_open", round(width, 4)))
        self.opening = width
        return GripperReply(True, width)

    def close(self, width, force):
        self.calls.append(("gripper_close", round(width, 4), force))
        self.opening = width if self.closes_to is None else self.closes_to
        return GripperReply(True, self.opening)

    def width(self):
        if self.readings:
            return self.readings.pop(0)
        return self.opening if self.after_lift is None else self.after_lift

    def stop(self):
        self.calls.append(("gripper_stop",))


def top_down(x=0.5, y=0.0, z=0.05, frame="panda_link0", width=0.03) -> Grasp:
    pose = np.eye(4)
    pose[:3, :3] = np.diag([1.0, -1.0, -1.0])
    pose[:3, 3] = [x, y, z]
    return Grasp(pose, width, contacts=np.array([[x, y - width / 2, z], [x, y + width / 2, z]]), frame_id=frame)


def backend(gripper_cls=None, **gripper):
    double = FakeMoveIt()
    g = (gripper_cls or FakeGripper)(double.calls, **gripper)
    g.double = double
    ex = MoveItExecutor(double, g, MoveItSettings(), api=double.api, robot_description=urdf(PANDA))
    ex.set_scene(SceneModel(0.0, [SceneBox("mug_cluster", [0.5, 0.0, 0.05], [0.1, 0.1, 0.1], is_target=True),
                                  SceneBox("neighbour", [0.5, 0.2, 0.05], [0.05, 0.05, 0.1])]))
    return double, ex


# --------------------------------------------------------------------------- MoveIt backend contract
def test_success_checks_every_step_in_order():
    double, ex = backend()
    out = ex.execute(top_down())
    assert out.success and out.failure_reason is FailureReason.NONE and out.lifted_height == pytest.approx(0.15)
    names = double.calls.names()
    # the scene (table and both boxes) is in place before any IK, plan or motion
    first_motion = min(names.index(n) for n in ("ik", "plan", "execute"))
    added = [c[1] for c in double.calls[:first_motion] if c[0] == "scene_object"]
    assert {TABLE_ID, "mug_cluster", "neighbour"} <= set(added)
    # the gripper opens to the width the candidate was collision-checked with (width + clearance)
    assert ("gripper_open", 0.06) in double.calls
    plans = [c for c in double.calls if c[0] == "plan"]
    # the approach and lift lines checked from the IK states before anything moves (for both
    # finger assignments), then free space, approach, the slow probe lift (a quarter of the
    # speed), the rest of the lift
    assert [p[1] for p in plans] == ["LIN"] * 4 + ["RRTConnectkConfigDefault", "LIN", "LIN", "LIN"]
    assert [p[2] for p in plans] == [0.1] * 4 + [0.1, 0.1, 0.025, 0.1]
    first_plan = names.index("plan")
    assert names[first_plan - 2:first_plan] == ["start_state_ik", "goal"] and names.index("execute") > first_plan
    assert names[first_plan + 1] == "start_state"             # the next plan starts from the arm again
    # touching the target is allowed only for the approach (and the grasp pose's collision check,
    # then revoked), and it is attached after closing
    last_check = len(names) - 1 - names[::-1].index("collision_check")
    acm = [c for c in double.calls[last_check:] if c[0] in ("acm", "acm_remove")]
    assert all(c[1] == "mug_cluster" for c in acm)
    assert [c[0] for c in acm] == (["acm_remove"] * 3 + ["acm"] * 3) * 3 and all(c[3] for c in acm[15:])
    checks = [i for i, n in enumerate(names) if n == "collision_check"]
    assert len(checks) == 4                                # pre-grasp, then grasp, for both finger assignments
    before = lambda i: [c for c in double.calls[:i] if c[0] == "acm"]   # noqa: E731
    assert not before(checks[0]) and all(c[3] for c in before(checks[1])[-3:])
    # IK for the hand link the robot description has, with the fingers open to the checked width
    ik = [c for c in double.calls if c[0] == "ik_state"]
    assert ik and all(c[1] == "panda_hand" and c[2] == {"panda_finger_joint1": 0.03, "panda_finger_joint2": 0.03}
                      for c in ik)
    assert names.index("gripper_close") < names.index("attach") < len(names) - 1 - names[::-1].index("plan")


@pytest.mark.parametrize("fail, reason", [("goal", FailureReason.UNREACHABLE),
                                          ("plan", FailureReason.UNREACHABLE),
                                          ("plan_free", FailureReason.PLANNING_FAILED),
                                          ("execute", FailureReason.EXECUTION_FAILED)])
def test_failed_calls_become_failed_outcomes(fail, reason):
    double, ex = backend()
    double.fail = {fail}
    out = ex.execute(top_down())
    assert not out.success and out.failure_reason is reason
    assert "gripper_close" not in double.calls.names()   # never closes on a failed approach
    if reason is FailureReason.UNREACHABLE:              # the approach line did not plan: nothing moved
        assert not {"execute", "gripper_open"} & set(double.calls.names())


def test_a_grasp_whose_lift_does_not_plan_is_unreachable_and_nothing_moves():
    """The straight lift out of IK's reach (or through a neighbour) would fail with the object in
    the hand: the grasp is not reachable, as the sim executor's plan, which includes the lift,
    says."""
    double, ex = backend()
    g = top_down(z=0.05)
    double.fail_goal_above = 0.05 + ex.settings.tcp_offset[2] + ex.config.lift_height / 2
    assert not ex.check_reachable(g)
    out = ex.execute(g)
    assert out.failure_reason is FailureReason.UNREACHABLE
    assert not {"execute", "gripper_open", "gripper_close"} & set(double.calls.names())


def test_of_the_two_finger_assignments_the_one_that_turns_the_arm_less_is_run():
    """A two-finger grasp turned 180 deg about its approach is the same grasp; of the two, the one
    whose IK turns the arm less from where it stands is run, as the sim executor chooses (which
    fingers take which side decides whether some handles hold in the twin)."""
    double, ex = backend()
    double.wrist_follows_ik = True
    g = top_down()
    flipped_x = round(float(ex._pose_msg(g.pose @ np.diag([-1.0, -1, 1, 1])).pose.orientation.x), 3)
    unflipped_x = round(float(ex._pose_msg(g.pose).pose.orientation.x), 3)
    assert abs(flipped_x - unflipped_x) > 0.5
    double.scene.current_state.joint_positions = {"panda_joint7": flipped_x}
    out = ex.execute(g)
    assert out.success
    first_motion = double.calls.names().index("execute")
    approach = [c for c in double.calls[first_motion:] if c[0] == "goal"][1]
    assert approach[3] == flipped_x


def test_unreachable_grasps_do_not_move_and_the_flipped_grasp_is_tried():
    double, ex = backend()
    double.fail = {"ik"}
    out = ex.execute(top_down())
    assert out.failure_reason is FailureReason.UNREACHABLE
    assert not {"plan", "execute", "gripper_open"} & set(double.calls.names())
    double, ex = backend()
    g = top_down()
    double.first_pose_quat_x = ex._pose_msg(g.pose).pose.orientation.x
    double.fail = {"ik_first"}
    assert ex.check_reachable(g)
    out = ex.execute(g)
    assert out.success
    flipped_x = ex._pose_msg(g.pose @ np.diag([-1.0, -1, 1, 1])).pose.orientation.x
    assert any(c[0] == "ik" and abs(c[2] - round(flipped_x, 3)) < 1e-6 for c in double.calls)


def test_an_empty_or_slipped_grasp_is_reported_and_the_arm_backs_out():
    double, ex = backend(closes_to=0.001)   # the fingers met: nothing between them
    out = ex.execute(top_down(width=0.03))
    assert out.failure_reason is FailureReason.EMPTY_GRASP
    names = double.calls.names()
    after = names[names.index("gripper_close"):]
    assert "attach" not in after and "gripper_open" in after and "plan" in after   # opens and retreats
    double, ex = backend(after_lift=0.0, readings=[0.03])   # held through the probe, gone after the lift
    out = ex.execute(top_down(width=0.03))
    assert out.failure_reason is FailureReason.SLIPPED
    assert "detach" in double.calls.names()
    # Closing further during the slow first lift is a slip caught early: back down, open, back out,
    # and the fallback may try the next candidate (the object was set down where it was).
    double, ex = backend(readings=[0.015])         # 3 cm when closed, 1.5 cm after the probe
    out = ex.execute(top_down(width=0.03))
    assert out.failure_reason is FailureReason.SLIP_CAUGHT and not out.success
    names = double.calls.names()
    assert names.count("plan") == 9       # approach and lift checked twice, pre-grasp, approach, probe, down, back out
    assert "detach" in names and names.index("gripper_open", names.index("gripper_close")) > names.index("gripper_close")
    # A gripper that never closed (stuck at its 8 cm opening) reads wider than the object, not
    # as a hold: nothing is attached or lifted.
    double, ex = backend(closes_to=0.08)
    out = ex.execute(top_down(width=0.03))
    assert not out.success and out.failure_reason is FailureReason.EMPTY_GRASP
    assert "attach" not in double.calls.names()[double.calls.names().index("gripper_close"):]


def test_the_reachability_check_tests_the_ik_solution_not_stale_transforms():
    """set_from_ik sets the arm's joints but leaves the state's collision transforms as they were;
    moveit_py's is_state_colliding reads them without updating (the const overload), so a check
    without RobotState.update() tested a zero-filled robot, not the solution."""
    double, ex = backend()
    assert ex.check_reachable(top_down())
    assert double.calls.names().count("collision_check") == 4 and double.stale_checks == 0


def test_the_allowed_collision_matrix_is_restored_after_a_check_a_failure_and_a_release():
    """The hand may touch the target during the grasp pose's collision check, the approach and
    while holding it; afterwards its ACM entries are removed, not left behind set to 'not allowed'
    (cluster ids come back every frame, and the ACM would only grow)."""
    double, ex = backend()
    assert ex.check_reachable(top_down())
    assert double.scene.acm == {}
    double, ex = backend(closes_to=0.001)
    assert ex.execute(top_down()).failure_reason is FailureReason.EMPTY_GRASP
    assert double.scene.acm == {}
    double, ex = backend()
    assert ex.execute(top_down()).success
    assert double.scene.acm and all(double.scene.acm.values())      # held: the hand touches it
    ex.release()
    assert double.scene.acm == {}


class LaggingGripper(FakeGripper):
    """joint_states behind the driver: until the arm next moves, width() still reads the opening
    from before the close (the driver's reply already has the new one)."""

    def close(self, width, force):
        self.before, self.at = self.opening, self.double.executions
        return super().close(width, force)

    def width(self):
        if getattr(self, "at", None) == self.double.executions:
            return self.before
        return super().width()


def test_a_caught_slip_is_set_down_where_the_hand_closed_not_at_the_planned_grasp():
    """The hand can stop short of the planned grasp (held off by the object, 4 mm here); the
    object's box is attached where the hand stopped, so a set-down to the planned pose would push
    the box into the table, the plan would fail and the fallback would stop. It aims at the hand's
    pose when it closed."""
    double, ex = backend(readings=[0.015])         # 3 cm when closed, 1.5 cm after the probe: slipping
    double.hand_offset = (0.0, 0.0, 0.004)
    g = top_down(width=0.03, z=0.05)
    out = ex.execute(g)
    assert out.failure_reason is FailureReason.SLIP_CAUGHT
    goals = [c for c in double.calls if c[0] == "goal"]
    hand_z = lambda tcp_z: round(tcp_z + ex.settings.tcp_offset[2], 4)   # noqa: E731 - top-down: the hand is above the TCP
    probe, set_down = goals[-3], goals[-2]          # then the back-out to the pre-grasp
    assert probe[1] == hand_z(0.05 + ex.config.probe_height)
    assert set_down[1] == hand_z(0.05) + 0.004


def test_the_slip_watch_starts_from_the_closed_width_not_a_late_joint_state():
    """The probe's baseline read from joint_states right after closing could still be the open
    fingers (6 cm): the closed 3 cm after the probe then looked like a 3 cm slip, and a good grasp
    was set down. The baseline is the close's own answer."""
    double, ex = backend(gripper_cls=LaggingGripper)
    out = ex.execute(top_down(width=0.03))
    assert out.success, out.failure_reason


def test_holds_checks_the_width_within_the_clouds_error_and_that_the_fingers_did_not_meet():
    from affordance_grasp.execution.gripper import FINGERS_MET, holds
    # closes on an object in the bench (closed opening, candidate width): within the cloud's error
    assert holds(0.0248, 0.0146) and holds(0.0134, 0.0203)   # +10.2 mm (a skillet's handle), -6.9 mm
    assert holds(0.001, 0.0128)                              # a tongs' handle squeezed shut to 1 mm
    # fingers that met hold nothing, however narrow the candidate
    assert not holds(-0.0001, 0.0065) and not holds(FINGERS_MET, 0.004)
    assert not holds(0.0471, 0.0212)                         # 26 mm wider: closed on something else
    assert not holds(0.02, 0.04)                             # 20 mm narrower: squeezed past the object
    assert not holds(float("nan"), 0.03)
    assert holds(0.05, 0.03, 0.005, open_tolerance=0.03) and not holds(0.024, 0.03, 0.005)


@pytest.mark.parametrize("width, closes_to", [(0.0146, 0.0248), (0.0128, 0.001), (0.0203, 0.0134)])
def test_a_grasp_closed_within_the_clouds_width_error_is_lifted_not_called_empty(width, closes_to):
    """The candidate's width comes from the camera's cloud, and the fingers stop up to about a
    centimetre either side of it on an object they hold (these three held in the twin): the
    backend lifts them, as the sim executor does."""
    double, ex = backend(closes_to=closes_to)
    out = ex.execute(top_down(width=width))
    assert out.success, out.failure_reason
    assert "attach" in double.calls.names()


def test_cancel_stops_the_motion_and_retreats():
    double, ex = backend()
    double.on_execute[2] = ex.cancel          # during the approach
    out = ex.execute(top_down())
    assert out.failure_reason is FailureReason.CANCELLED and not out.success
    names = double.calls.names()
    assert "stop_execution" in names and "gripper_stop" in names and "gripper_close" not in names
    assert names.count("execute") == 3        # pre-grasp, approach (stopped), retreat


def test_bad_input_is_refused_before_anything_is_called():
    double, ex = backend()
    with pytest.raises(InvalidInputError, match="frame"):
        ex.execute(top_down(frame="world"))
    with pytest.raises(InvalidInputError, match="exceeds"):
        ex.execute(top_down(width=0.2))
    assert double.calls == []


# --------------------------------------------------------------------------- shared with the twin
@pytest.fixture
def sim_case(ik):
    from affordance_grasp.sim.executor import SimExecutor
    from affordance_grasp.sim.scene import sample_scene
    world = sample_scene(11, categories=["mug"]).build()
    return SimExecutor(world, ik=ik), world


@pytest.mark.parametrize("name", ["moveit-double", "sim"])
def test_both_backends_refuse_bad_input_and_report_unreachable_without_moving(name, sim_case):
    if name == "sim":
        ex, world = sim_case
        frame, t0 = "base", world.data.time
        moved = lambda: world.data.time > t0  # noqa: E731
    else:
        double, ex = backend()
        double.fail = {"ik"}
        frame = "panda_link0"
        moved = lambda: "execute" in double.calls.names()  # noqa: E731
    with pytest.raises(InvalidInputError, match="exceeds"):
        ex.execute(top_down(frame=frame, width=0.5))
    with pytest.raises(InvalidInputError, match="beyond the arm's reach"):
        ex.execute(top_down(x=1.6, frame=frame))
    far = top_down(x=0.95, frame=frame)  # within max_reach, past what the arm can stretch to
    out = ex.execute(far)
    assert out.failure_reason is FailureReason.UNREACHABLE and not ex.check_reachable(far) and not moved()
    assert math.isfinite(out.lifted_height) and out.lifted_height == 0.0


def test_a_held_object_is_released_detached_and_taken_out_of_the_scene():
    """After a success the target stays attached to the hand (it is being carried). release()
    opens to the checked width, detaches it, revokes the hand's contacts with it and removes it;
    a next grasp without a release does the same first (MoveIt ignores removing an attached body)."""
    double, ex = backend()
    assert ex.execute(top_down()).success
    assert "detach" not in double.calls.names()
    n = len(double.calls)
    ex.release()
    after = double.calls[n:]
    assert after[0] == ("gripper_open", 0.06)
    assert ("detach", "mug_cluster") in after and ("scene_object", "mug_cluster", CollisionObject.REMOVE) in after
    assert "acm_remove" in [c[0] for c in after] and "acm" not in [c[0] for c in after]
    assert double.scene.acm == {}
    n = len(double.calls)
    ex.release()                                              # nothing held: only opens
    assert "detach" not in [c[0] for c in double.calls[n:]]
    double, ex = backend()
    assert ex.execute(top_down()).success
    n = len(double.calls)
    assert ex.execute(top_down()).success
    names = [c[0] for c in double.calls[n:]]
    assert names.index("detach") < min(names.index(x) for x in ("ik", "plan"))


def test_an_error_mid_grasp_backs_out_and_opens_only_to_the_checked_width():
    """A driver that raises while closing (a dropped connection) must not leave the arm at the
    grasp with the object's contacts allowed: it backs out, straight, opening to the width the
    candidate was checked with, not the full stroke (a neighbour the check never saw may be there)."""
    double, ex = backend()

    def broken(width, force):
        double.calls.append(("gripper_close", round(width, 4), force))
        raise RuntimeError("gripper driver went away")

    ex.gripper.close = broken
    out = ex.execute(top_down())
    assert not out.success and out.failure_reason is FailureReason.EXECUTION_FAILED
    names = double.calls.names()
    after = double.calls[names.index("gripper_close"):]
    assert ("gripper_open", 0.06) in after and ("gripper_open", 0.08) not in after
    assert [c for c in after if c[0] == "plan"][-1][1] == "LIN"          # straight back
    assert any(c[0] == "acm_remove" for c in after) and double.scene.acm == {}   # contacts revoked


def test_a_step_of_the_back_out_that_raises_does_not_stop_the_others():
    """Backing out is best effort, step by step: a detach that raises (a binding or scene error)
    must neither skip the retreat and the ACM's restore nor escape execute() (which reports, and
    never raises for a grasp that fails)."""
    double, ex = backend(closes_to=0.001)

    def broken(aco):
        if aco.object.operation == CollisionObject.REMOVE:
            double.calls.append(("detach_failed", aco.object.id))
            raise RuntimeError("planning scene monitor went away")
        return True

    double.psm.process_attached_collision_object = broken
    out = ex.execute(top_down(width=0.03))
    assert not out.success and out.failure_reason is FailureReason.EMPTY_GRASP
    names = double.calls.names()
    after = names[names.index("gripper_close"):]
    assert after.count("detach_failed") == 1                  # one back-out, not a second one
    assert "plan" in after[after.index("detach_failed"):]     # the retreat still runs
    assert double.scene.acm == {}


def test_gripper_command_halves_the_command_and_reads_the_whole_opening_back():
    """franka_gripper's GripperCommand server takes one finger's travel and answers with the whole
    opening (franka_ros2 gripper_action_server.cpp: target = 2 * command.position, result.position =
    the gripper's width). Reading it back doubled made a 3 cm grasp look 6 cm wide."""
    from affordance_grasp.ros.gripper_clients import GripperCommandClient
    sent = []

    def fake(result_position, **kw):
        c = GripperCommandClient.__new__(GripperCommandClient)
        c.Goal = lambda: SimpleNamespace(command=SimpleNamespace(position=None, max_effort=None))
        c.per_finger, c.result_per_finger = True, kw.get("result_per_finger", False)
        c._run = lambda client, goal, what: (sent.append(goal.command.position),
                                            (SimpleNamespace(position=result_position, reached_goal=True,
                                                             stalled=False), ""))[1]
        c.client, c.width = None, lambda: float("nan")
        return c

    reply = fake(0.03).close(0.03, 70.0)
    assert sent[-1] == pytest.approx(0.015) and reply.width == pytest.approx(0.03) and reply.ok
    assert fake(0.015, result_per_finger=True).open(0.03).width == pytest.approx(0.03)


def test_the_gripper_actions_are_where_franka_gripper_serves_them_for_a_panda():
    """franka_gripper's node is named ``<arm_id>_gripper`` and serves ``~/gripper_action``,
    ``~/grasp`` and ``~/move`` (franka_ros2 v0.1.13: franka_gripper/launch/gripper.launch.py,
    gripper_action_server.cpp; 3.x names them ``<robot_type>_gripper`` too): /panda_gripper/...,
    never /franka_gripper/..., which no release serves."""
    from pathlib import Path

    import yaml

    from affordance_grasp.ros.executor_node import PARAMS
    defaults = {p.name: p.default for p in PARAMS}
    given = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "realsense_panda.yaml").read_text())
    for params in (defaults, given["executor_node"]["ros__parameters"]):
        assert params["gripper_action"] == "/panda_gripper/gripper_action"
        assert params["franka_gripper_namespace"] == "/panda_gripper"


def test_the_panda_config_opens_and_closes_franka_gripper_through_franka_msgs():
    """franka_gripper (v0.1.13, gripper_action_server.cpp onExecuteGripperCommand) serves a
    GripperCommand narrower than the current opening as a grasp with the command's effort: the
    backend's first step, opening to the width the candidate was checked with, would close on
    nothing and fail. The Panda config therefore uses franka_msgs Move / Grasp."""
    given = yaml.safe_load((ROOT / "config" / "realsense_panda.yaml").read_text())["executor_node"]["ros__parameters"]
    assert given["backend"] == "moveit" and given["gripper_interface"] == "franka"


def test_franka_grasp_reads_the_opening_after_the_grasp_not_before():
    """franka_msgs Grasp/Move answer without a width, so the opening comes from joint_states; read
    at once, the last message may still show the fingers open (6 cm), and a held 3 cm object read
    as a gripper that never closed."""
    import threading

    from affordance_grasp.ros.gripper_clients import FrankaGraspClient, _JointWidth
    state = _JointWidth(SimpleNamespace(create_subscription=lambda *a, **k: None), ["f1", "f2"])
    msg = lambda w: SimpleNamespace(name=["f1", "f2"], position=[w / 2, w / 2])   # noqa: E731
    state._on(msg(0.06))                                      # open, before the grasp
    c = FrankaGraspClient.__new__(FrankaGraspClient)
    c.state, c.epsilon, c.speed, c.grasp_client, c.move_client = state, 0.005, 0.05, None, None
    goal = lambda **kw: SimpleNamespace(epsilon=SimpleNamespace(inner=None, outer=None), **kw)   # noqa: E731
    c.Grasp = c.Move = SimpleNamespace(Goal=goal)

    def run(client, g, what):                                 # joint_states catch up after the result
        threading.Timer(0.05, lambda: [state._on(msg(g.width)) for _ in range(3)]).start()
        return SimpleNamespace(success=True, error=""), ""

    c._run = run
    reply = c.close(0.03, 70.0)
    assert reply.ok and reply.width == pytest.approx(0.03)


def test_object_boxes_stop_above_the_table_so_the_attached_target_does_not_start_the_lift_in_collision():
    """The padded box of an object standing on the table reached 5 mm into it; attached to the hand,
    it put the LIN lift's start state in collision. Every box now ends just above the table top."""
    double, ex = backend()
    assert ex.execute(top_down()).success
    table_top = double.z_range["affordance_grasp_table"][1]
    assert table_top == pytest.approx(0.0)
    for oid in ("mug_cluster", "neighbour"):
        bottom, top = double.z_range[oid]
        assert table_top < bottom < table_top + 0.002 and top == pytest.approx(0.105)


def test_the_moveit_config_reaches_moveit_py_from_the_nodes_own_params_sections(tmp_path):
    """launch_ros writes dict parameters under /**; a node started in a namespace gets its own
    section too. Both reach MoveItPy as config_dict, the node's own winning; none is an error."""
    from affordance_grasp.execution.moveit import moveit_config_from_params
    f = tmp_path / "params.yaml"
    f.write_text("/**:\n  ros__parameters:\n    robot_description: '<robot/>'\n    planning_pipelines: [ompl]\n"
                 "/arm/executor_node:\n  ros__parameters:\n    planning_pipelines: [ompl, pilz]\n"
                 "other_node:\n  ros__parameters:\n    robot_description: 'wrong'\n")
    cfg = moveit_config_from_params([f], "executor_node", "/arm")
    assert cfg == {"robot_description": "<robot/>", "planning_pipelines": ["ompl", "pilz"]}
    g = tmp_path / "empty.yaml"
    g.write_text("executor_node:\n  ros__parameters:\n    backend: moveit\n")
    with pytest.raises(InvalidInputError, match="no robot_description for /arm/executor_node"):
        moveit_config_from_params([g], "executor_node", "/arm")


# --------------------------------------------------------------------------- the load on the wrist
class ScriptedWrench:
    """The wrist's external force along the base's z (franka_robot_state_broadcaster's
    external_wrench_in_base_frame, force.z: a carried weight reads +m g), scripted by how many
    motions have run: ``before`` until the slow probe lift (the third motion, after the pre-grasp
    and the approach) has run, ``after`` from then on."""

    def __init__(self, double, before, after, probe_motion=3):
        self.double, self.before, self.after, self.probe_motion = double, before, after, probe_motion

    def __call__(self):
        self.double.calls.append(("wrench", self.double.executions))
        return self.after if self.double.executions >= self.probe_motion else self.before


def loaded_backend(before, after, expected_n, **settings):
    double = FakeMoveIt()
    ex = MoveItExecutor(double, FakeGripper(double.calls), MoveItSettings(**settings), api=double.api,
                        load_reader=ScriptedWrench(double, before, after), robot_description=urdf(PANDA))
    ex.set_scene(SceneModel(0.0, [SceneBox("pan_cluster", [0.5, 0.0, 0.05], [0.3, 0.3, 0.06], is_target=True)]))
    ex.set_expected_load(expected_n)
    return double, ex


def test_an_object_left_resting_on_the_table_after_the_probe_is_a_caught_slip():
    """A 2 kg pan taken by its handle turns in the pads about the grasp, its body left on the
    table: the fingers keep their width, so the width alone passes it, and it slips out later in
    the lift. The wrist feels it: after the probe the load has risen by a fraction of the pan's
    weight only. It is set back down, let go, and the arm backs out, as for a width-caught slip."""
    double, ex = loaded_backend(before=0.4, after=6.0, expected_n=2.0 * 9.81)
    out = ex.execute(top_down(width=0.03))
    assert out.failure_reason is FailureReason.SLIP_CAUGHT and not out.success
    names = double.calls.names()
    assert names.count("plan") == 9       # approach and lift checked twice, pre-grasp, approach, probe, down, back out
    assert "detach" in names and "gripper_open" in names[names.index("gripper_close"):]
    # one reading before the probe (after the close), one after it has run
    assert [c[1] for c in double.calls if c[0] == "wrench"] == [2, 3]
    assert names.index("gripper_close") < names.index("wrench")


def test_a_carried_object_passes_the_load_check():
    double, ex = loaded_backend(before=0.4, after=19.0, expected_n=2.0 * 9.81)
    out = ex.execute(top_down(width=0.03))
    assert out.success, out.failure_reason
    assert "load_unknown" not in out.timings


@pytest.mark.parametrize("expected_n, after, why", [
    (None, 0.4, "no expected load: the caller knows no mass"),
    (0.1 * 9.81, 0.4, "a 100 g object: half its weight is within the estimate's noise"),
    (2.0 * 9.81, float("nan"), "no reading (the topic is silent)"),
])
def test_the_load_check_stands_aside_where_it_cannot_tell(expected_n, after, why):
    double, ex = loaded_backend(before=0.4, after=after, expected_n=expected_n)
    out = ex.execute(top_down(width=0.03))
    assert out.success, why
    assert out.timings.get("load_unknown") == 1.0, why


def test_without_a_wrench_reader_the_probe_reads_the_width_only():
    double, ex = backend()
    ex.set_expected_load(2.0 * 9.81)
    assert ex.execute(top_down()).success
    assert "wrench" not in double.calls.names()


def test_load_check_settings_are_checked():
    with pytest.raises(InvalidInputError, match="load_share"):
        MoveItSettings(load_share=1.5)
    with pytest.raises(InvalidInputError, match="load_noise"):
        MoveItSettings(load_noise=-1.0)
    double, ex = backend()
    with pytest.raises(InvalidInputError, match="expected load"):
        ex.set_expected_load(-3.0)


def test_the_wrist_load_reader_averages_fresh_readings_in_the_base_frame():
    """The ROS side of the check: franka_robot_state_broadcaster's external_wrench_in_base_frame
    (geometry_msgs/WrenchStamped, frame the arm's link0, newtons). The reading is the mean force.z
    of messages that came after it was asked for; a wrench in another frame, or libfranka's
    all-zero wrench near a singularity, is no reading."""
    import threading

    from affordance_grasp.ros.wrist_load import WristLoad
    load = WristLoad(SimpleNamespace(create_subscription=lambda *a, **k: None), "/w", "panda_link0",
                     messages=4, timeout=1.0)

    def msg(fz, frame="panda_link0", fx=0.0):
        return SimpleNamespace(header=SimpleNamespace(frame_id=frame),
                               wrench=SimpleNamespace(force=SimpleNamespace(x=fx, y=0.0, z=fz)))

    load._on(msg(50.0))                                        # stale: before the request
    threading.Timer(0.05, lambda: [load._on(msg(z)) for z in (1.0, 2.0, 3.0, 6.0)]).start()
    assert load() == pytest.approx(3.0)
    threading.Timer(0.05, lambda: [load._on(msg(5.0, frame="panda_K")) for _ in range(4)]).start()
    assert math.isnan(load())
    threading.Timer(0.05, lambda: [load._on(msg(0.0)) for _ in range(4)]).start()
    assert math.isnan(load())
    load.timeout = 0.05
    assert math.isnan(load())                                  # nothing came


def test_a_namespaced_executor_node_still_gives_moveit_py_its_robot_description(tmp_path, monkeypatch):
    """launch_ros writes a node's dict parameters under ``/**`` only while its namespace is
    unspecified; with one (``namespace=`` or PushRosNamespace) under its fully qualified name
    (launch_ros jazzy, actions/node.py lines 369-377). MoveItPy left to read the process's params
    files itself (its default ``launch_params_filepaths``, moveit_py's utils.py) runs a node of
    its own name, which that section does not name: it lost robot_description. The double below
    resolves parameters as rcl does and as MoveItPy's constructor feeds them (moveit_py
    moveit_cpp.cpp lines 65-124: config_dict is written under the bare node name, utils.py line
    47; the launch files are passed on as they are)."""
    import sys

    import yaml

    from affordance_grasp.execution import moveit as moveit_module
    from affordance_grasp.execution.base import ExecutionConfig
    from affordance_grasp.ros import executor_node, gripper_clients

    def section(params: dict, fqn: str) -> dict:
        out = {}
        for key, value in params.items():
            if key == "/**" or ("/" + key.lstrip("/")) == fqn:
                out.update(value["ros__parameters"])
        return out

    made = []

    class MoveItPy(FakeMoveIt):
        def __init__(self, node_name="moveit_py", name_space="", launch_params_filepaths=None, config_dict=None,
                     provide_planning_service=True, remappings=None):
            super().__init__()
            if config_dict is not None:
                files = [{node_name: {"ros__parameters": config_dict}}]
            else:
                paths = launch_params_filepaths if launch_params_filepaths is not None else \
                    [sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--params-file"]
                files = [yaml.safe_load(open(p)) for p in paths]
            fqn = "/".join(("", name_space.strip("/"), node_name)).replace("//", "/")
            self.params = {}
            for f in files:
                self.params.update(section(f, fqn))
            made.append(self)

    api = SimpleNamespace(**vars(FakeMoveIt().api), MoveItPy=MoveItPy)
    monkeypatch.setattr(moveit_module, "moveit_api", lambda: api)
    monkeypatch.setattr(gripper_clients, "build_gripper", lambda *a, **k: FakeGripper(Calls()))
    launch_file = tmp_path / "launch_params_ns"          # what launch_ros writes for /arm/executor_node
    launch_file.write_text(yaml.safe_dump({"/arm/executor_node": {"ros__parameters": {
        "robot_description": urdf(PANDA), "robot_description_semantic": "<robot/>",
        "backend": "moveit"}}}))
    monkeypatch.setattr(sys, "argv", ["executor_node", "--ros-args", "-r", "__node:=executor_node",
                                      "-r", "__ns:=/arm", "--params-file", str(launch_file)])
    params = {p.name: p.default for p in executor_node.PARAMS}
    params.update(backend="moveit", base_frame="panda_link0")
    node = SimpleNamespace(p=params, config=ExecutionConfig(), get_name=lambda: "executor_node",
                           get_namespace=lambda: "/arm")
    ex = executor_node.ExecutorNode._moveit_backend(node)
    assert isinstance(ex, MoveItExecutor) and len(made) == 1
    assert made[0].params.get("robot_description") == urdf(PANDA)


# --------------------------------------------------------------------------- the robot's names
def test_an_fr3_config_resolves_fr3_names_and_the_fr3_model_accepts_them(tmp_path):
    """config/moveit.yaml names the robot by arm_id: an FR3 (arm_id fr3) gets franka_description's
    fr3_* names, and the FR3 model (test/data/franka_fr3_names.yaml) has every one of them."""
    f = tmp_path / "fr3.yaml"
    f.write_text((ROOT / "config" / "moveit.yaml").read_text().replace("arm_id: panda", "arm_id: fr3"))
    s = MoveItSettings.load(f)
    assert (s.planning_group, s.end_effector_link, s.base_frame) == ("fr3_arm", "fr3_hand", "fr3_link0")
    assert s.arm_joints == tuple(f"fr3_joint{i}" for i in range(1, 8))
    assert s.finger_joints == ("fr3_finger_joint1", "fr3_finger_joint2")
    assert s.hand_links == ("fr3_hand", "fr3_leftfinger", "fr3_rightfinger")
    double = FakeMoveIt(FR3)
    ex = MoveItExecutor(double, FakeGripper(double.calls), s, api=double.api, robot_description=urdf(FR3))
    ex.set_scene(SceneModel(0.0, [SceneBox("mug_cluster", [0.5, 0.0, 0.05], [0.1, 0.1, 0.1], is_target=True)]))
    out = ex.execute(top_down(frame="fr3_link0"))
    assert out.success, out
    ik = [c for c in double.calls if c[0] == "ik_state"]
    assert ik and all(c[1] == "fr3_hand" and set(c[2]) == {"fr3_finger_joint1", "fr3_finger_joint2"} for c in ik)
    # the Panda's names on the FR3 model are refused
    with pytest.raises(ConfigError, match="panda_hand"):
        MoveItExecutor(FakeMoveIt(FR3), FakeGripper(Calls()), MoveItSettings(), api=double.api,
                       robot_description=urdf(FR3))


@pytest.mark.parametrize("settings, missing", [
    (dict(end_effector_link="panda_hand_tcp"), "link 'panda_hand_tcp' (moveit.end_effector_link)"),
    (dict(finger_joints=["panda_finger_joint1", "finger_2"]), "joint 'finger_2' (moveit.finger_joints)"),
    (dict(planning_group="manipulator"), "planning group 'manipulator'"),
    (dict(base_frame="base_link"), "link 'base_link' (moveit.base_frame)"),
    (dict(arm_joints=[f"panda_joint{i}" for i in range(1, 7)] + ["panda_finger_joint1"]),
     "joint 'panda_finger_joint1' in the group 'panda_arm'"),
    (dict(arm_id="fr3"), "link 'fr3_hand' (moveit.end_effector_link)"),
])
def test_a_name_the_robot_model_lacks_is_refused_before_anything_moves(settings, missing):
    double = FakeMoveIt()
    with pytest.raises(ConfigError) as e:
        MoveItExecutor(double, FakeGripper(double.calls), MoveItSettings(**settings), api=double.api,
                       robot_description=urdf(PANDA))
    assert missing in str(e.value) and "arm_id" in str(e.value)
    assert double.calls == []                       # no IK, no plan, no gripper, no scene


def test_mismatched_base_frames_are_refused_at_start_up(tmp_path):
    """The base frame is in four places (the MoveIt settings, executor_node's and the planner's
    base_frame, pose_base_frame for a tf camera pose): one that differs stops the launch and
    executor_node, naming it."""
    from affordance_grasp.execution.moveit import check_base_frames
    given = yaml.safe_load((ROOT / "config" / "realsense_panda.yaml").read_text())
    assert check_base_frames([ROOT / "config" / "realsense_panda.yaml"]).base_frame == "panda_link0"
    for node, name in (("grasp_planner_node", "base_frame"), ("executor_node", "base_frame"),
                       ("grasp_planner_node", "pose_base_frame"), ("affordance_node", "pose_base_frame")):
        bad = yaml.safe_load(yaml.safe_dump(given))
        bad[node]["ros__parameters"][name] = "fr3_link0"
        bad["affordance_node"]["ros__parameters"]["camera_pose_source"] = "tf"
        f = tmp_path / f"{node}_{name}.yaml"
        f.write_text(yaml.safe_dump(bad))
        with pytest.raises(ConfigError, match=f"{node}.{name} is 'fr3_link0'.*set every one to 'panda_link0'"):
            check_base_frames([f])
    # a planner section without base_frame runs on its default, no arm's base link
    bad = yaml.safe_load(yaml.safe_dump(given))
    del bad["grasp_planner_node"]["ros__parameters"]["base_frame"]
    f = tmp_path / "unset.yaml"
    f.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="grasp_planner_node.base_frame is not set"):
        check_base_frames([f])
    # an FR3 everywhere (arm_id fr3 in its own settings file) passes
    m = tmp_path / "fr3_moveit.yaml"
    m.write_text((ROOT / "config" / "moveit.yaml").read_text().replace("arm_id: panda", "arm_id: fr3"))
    text = (ROOT / "config" / "realsense_panda.yaml").read_text().replace("panda_link0", "fr3_link0")
    f = tmp_path / "fr3.yaml"
    f.write_text(text.replace('moveit_settings: ""', f'moveit_settings: "{m}"'))
    assert check_base_frames([f]).base_frame == "fr3_link0"
    src = (ROOT / "launch" / "realsense_panda.launch.py").read_text()
    assert "check_base_frames([params])" in src
