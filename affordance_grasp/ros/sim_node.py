"""sim_node: the MuJoCo twin as a ROS camera + robot.

Publishes realsense-ros topics (colour, aligned depth, camera_info) and ``joint_states`` (Panda
names, for RViz and for checking that nothing moved) at ``rate_hz``, and serves
``sim/sample_scene`` (a new seeded scene), ``sim/execute_grasp`` (the sim executor backend) and
``sim/cancel_motion`` (std_srvs Trigger: the running motion stops, opens, backs out and goes
home; served on a side node, because this node's only thread is inside the motion).
While a grasp executes the camera pauses: frames would show a moving arm mid-grasp. With nobody
subscribed to the camera, nothing is rendered (joint_states still go out).
"""
from __future__ import annotations

import threading
import time

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from affordance_grasp.srv import ExecuteGrasp, SampleScene

from ..errors import AffordanceGraspError, InvalidInputError
from ..sim.ik import PandaIK
from ..geometry import quat_from_pose
from ..sim.executor import SimExecutor
from ..sim.camera import DepthNoise, SimCamera
from ..sim.external import load_objects
from ..sim.objects import CATEGORIES
from ..sim.scene import SceneConfig, sample_scene
from ..types import FailureReason, GraspOutcome
from .common import (CAMERA_FRAME, COLOR_TOPIC, DEPTH_TOPIC, INFO_TOPIC, Param, SideNode, declare, guarded, image_qos,
                     latched_qos, run, stop_requested)
from .conversions import grasp_from_msg, intrinsics_to_camera_info, outcome_to_execute_response
from .image_conversions import depth_to_16uc1, numpy_to_image
from .truth import LABELS_TOPIC, LEGEND_TOPIC, label_image, legend_json, part_lookup

PARAMS = [
    Param("rate_hz", 10.0, "camera publishing rate", (0.5, 60.0)),
    Param("seed", 0, "seed of the first scene", (0, 2 ** 31 - 1)),
    Param("categories", [], "object categories of the first scene; empty: random"),
    Param("max_objects", 4, "most objects in a random scene", (1, 4)),
    Param("depth_noise", True, "apply the RealSense-like depth noise model"),
    Param("depth_scale", 0.001, "metres per unit of the published 16UC1 depth", (1e-5, 0.01)),
    Param("camera_frame", CAMERA_FRAME, "frame_id of the camera topics"),
    Param("base_frame", "base_link", "the robot's base frame: parent of the camera's static transform"),
    Param("realtime_factor", 0.0, "pace grasp motions to the wall clock (1.0: real time) and publish joint_states "
          "during them, for RViz; 0: as fast as the CPU allows, joint_states only between motions", (0.0, 10.0)),
    Param("objects", [], "object files (YAML) or folders of them to load into the twin (their categories "
          "can then be asked for in sim/sample_scene)"),
]


class SimNode(Node):
    def __init__(self):
        super().__init__("sim_node")
        self.p = declare(self, PARAMS)
        files = list(self.p["objects"])
        if files:
            loaded = load_objects(files)
            self.get_logger().info(f"loaded objects: {', '.join(o.spec.category for o in loaded)}")
        bad = set(self.p["categories"]) - set(CATEGORIES)
        if bad:
            raise InvalidInputError(f"sim_node: unknown categories {sorted(bad)}; known: {sorted(CATEGORIES)}")
        self.lock = threading.Lock()
        self.moving = False  # a grasp motion is running (sim/cancel_motion acts only then)
        self.pacing = None   # (wall clock, sim clock, last joint_states) while a motion runs paced
        self.ik = PandaIK()
        self.world = self.camera = self.sim_executor = None
        self.scene_count, self.part_lut, self.pub_legend = 0, None, None
        self.rng = np.random.default_rng(self.p["seed"])
        self._load_scene(self.p["seed"], self.p["categories"])
        qos = image_qos()
        self.pub_color = self.create_publisher(Image, COLOR_TOPIC, qos)
        self.pub_depth = self.create_publisher(Image, DEPTH_TOPIC, qos)
        self.pub_info = self.create_publisher(CameraInfo, INFO_TOPIC, qos)
        self.pub_joints = self.create_publisher(JointState, "joint_states", 10)
        # the true parts (see ros/truth.py), for plumbing tests with a ground-truth predictor
        self.pub_labels = self.create_publisher(Image, LABELS_TOPIC, qos)
        self.pub_legend = self.create_publisher(String, LEGEND_TOPIC, latched_qos())
        self._publish_legend()
        self.timer = self.create_timer(1.0 / self.p["rate_hz"], self._publish,
                                       callback_group=MutuallyExclusiveCallbackGroup())
        services = MutuallyExclusiveCallbackGroup()
        self.create_service(SampleScene, "sim/sample_scene", guarded(self, self._sample_scene), callback_group=services)
        self.create_service(ExecuteGrasp, "sim/execute_grasp", guarded(self, self._execute), callback_group=services)
        self.control = SideNode(self, "control")
        cancel = self.resolve_service_name("sim/cancel_motion")
        self.control.node.create_service(Trigger, cancel, guarded(self, self._cancel_motion))
        self.control.start()
        self.frames = 0
        self._broadcast_camera_pose()
        self.get_logger().info(f"ready: sim camera at {self.p['rate_hz']} Hz on {COLOR_TOPIC}; scene: "
                               f"{', '.join(self.world.objects)}")

    def _broadcast_camera_pose(self) -> None:
        """The twin's camera pose on /tf_static, taken from the twin itself (the one source of the
        pose; launch files hold no copy). tf2_ros comes with a ROS install, not with the PyPI
        wheels: without it there is no /tf and the nodes use their camera_pose parameter."""
        try:
            from geometry_msgs.msg import TransformStamped
            from tf2_ros import StaticTransformBroadcaster
        except ImportError:
            self.get_logger().info("tf2_ros is not installed: the camera's transform is not broadcast")
            return
        T = self.world.camera_pose()
        t = TransformStamped()
        t.header.stamp = self.get_clock().now().to_msg()
        t.header.frame_id, t.child_frame_id = self.p["base_frame"], self.p["camera_frame"]
        t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (float(v) for v in T[:3, 3])
        w, x, y, z = quat_from_pose(T)
        t.transform.rotation.w, t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z = (
            float(w), float(x), float(y), float(z))
        self.tf_broadcaster = StaticTransformBroadcaster(self)
        self.tf_broadcaster.sendTransform(t)

    def _load_scene(self, seed: int, categories) -> None:
        scene = sample_scene(int(seed), SceneConfig(n_objects=(1, self.p["max_objects"])),
                             categories=list(categories) or None)
        world = scene.build()
        with self.lock:
            if self.camera is not None:
                self.camera.close()
            self.world = world
            if self.p["realtime_factor"] > 0:
                world.on_step = self._pace
            self.camera = SimCamera(world)
            self.sim_executor = SimExecutor(world, ik=self.ik)
            self.scene_count += 1
            self.part_lut, self.legend = part_lookup(world)
        self._publish_legend()

    def _publish_legend(self) -> None:
        if self.pub_legend is not None:
            self.pub_legend.publish(String(data=legend_json(self.scene_count, self.legend)))

    def _publish(self) -> None:
        if not self.context.ok():
            return  # shutting down: the publishers are gone
        if not self.lock.acquire(blocking=False):
            return  # a grasp is executing
        watched = any(p.get_subscription_count() for p in (self.pub_color, self.pub_depth, self.pub_info))
        labels = None
        try:
            frame = self.camera.render(DepthNoise() if self.p["depth_noise"] else None, self.rng) if watched else None
            if frame is not None and self.pub_labels.get_subscription_count():
                labels = label_image(self.camera.render_geom_ids(), self.part_lut)   # the same render: no cost
                scene = self.scene_count
            q, opening = self.world.arm_qpos(), self.world.gripper_opening()
        finally:
            self.lock.release()
        stamp = self.get_clock().now().to_msg()
        self._publish_joints(q, opening, stamp)
        if frame is None:
            return
        color = numpy_to_image(frame.rgb, "rgb8")
        depth = numpy_to_image(depth_to_16uc1(frame.depth, self.p["depth_scale"]), "16UC1")
        for m in (color, depth):
            m.header.stamp, m.header.frame_id = stamp, self.p["camera_frame"]
        info = intrinsics_to_camera_info(frame.intrinsics, self.p["camera_frame"], stamp)
        self.pub_color.publish(color)
        self.pub_depth.publish(depth)
        self.pub_info.publish(info)
        if labels is not None:
            msg = numpy_to_image(labels, "16UC1")
            msg.header.stamp, msg.header.frame_id = stamp, f"scene:{scene}"
            self.pub_labels.publish(msg)
        self.frames += 1

    def _publish_joints(self, q, opening: float, stamp) -> None:
        joints = JointState(name=[f"panda_joint{i}" for i in range(1, 8)] + ["panda_finger_joint1", "panda_finger_joint2"],
                            position=[float(x) for x in q] + [opening / 2, opening / 2])
        joints.header.stamp = stamp
        self.pub_joints.publish(joints)

    def _cancel_motion(self, req, resp):
        executor = self.sim_executor
        if self.moving and executor is not None:
            executor.cancel()
            resp.success, resp.message = True, "cancelling: the arm stops, opens, backs out and goes home"
        else:
            resp.success, resp.message = False, "no motion is running"
        self.get_logger().info(f"sim/cancel_motion: {resp.message}")
        return resp

    def _pace(self) -> None:
        """During a motion (``self.pacing`` set): sleep until the wall clock catches up with the
        sim clock, and publish joint_states every 50 ms of it."""
        if self.pacing is None:
            return
        if stop_requested():
            # The node is stopping: the motion is cancelled and its back-out runs unpaced, so the
            # running request is answered within the stop timeout.
            self.sim_executor.cancel()
            return
        wall0, sim0, last = self.pacing
        now = time.monotonic()
        ahead = wall0 + (self.world.data.time - sim0) / self.p["realtime_factor"] - now
        if ahead > 0.005:
            time.sleep(ahead)
        if now - last >= 0.05:
            self.pacing = (wall0, sim0, now)
            self._publish_joints(self.world.arm_qpos(), self.world.gripper_opening(), self.get_clock().now().to_msg())

    def _sample_scene(self, req, resp):
        bad = set(req.categories) - set(CATEGORIES)
        if bad:
            resp.success, resp.message = False, f"unknown categories {sorted(bad)}; known: {sorted(CATEGORIES)}"
            return resp
        try:
            self._load_scene(req.seed, req.categories)
        except AffordanceGraspError as e:
            resp.success, resp.message = False, str(e)
            return resp
        resp.success = True
        resp.instances = list(self.world.objects)
        resp.categories = [o.spec.category for o in self.world.objects.values()]
        resp.stamp = self.get_clock().now().to_msg()
        resp.message = f"scene {req.seed}: {', '.join(resp.instances)}"
        self.get_logger().info(resp.message)
        return resp

    def _execute(self, req, resp):
        try:
            grasp = grasp_from_msg(req.grasp)
            with self.lock:
                if req.check_only:
                    ok = self.sim_executor.check_reachable(self.sim_executor.validate_grasp(grasp))
                    outcome = GraspOutcome(ok, failure_reason=FailureReason.NONE if ok else FailureReason.UNREACHABLE)
                    return outcome_to_execute_response(outcome, resp, "reachable" if ok else "unreachable")
                t0 = time.perf_counter()
                self.pacing = (time.monotonic(), self.world.data.time, 0.0)
                self.moving = True
                try:
                    outcome = self.sim_executor.execute(grasp)
                finally:
                    self.pacing, self.moving = None, False
                self.get_logger().info(f"executed grasp in {time.perf_counter() - t0:.2f} s: "
                                       f"{'success' if outcome.success else outcome.failure_reason.value}, "
                                       f"touched {list(outcome.parts_touched)}")
            return outcome_to_execute_response(outcome, resp)
        except InvalidInputError as e:
            resp.success, resp.failure_reason, resp.message = False, FailureReason.INVALID_INPUT.value, f"rejected: {e}"
            self.get_logger().warn(resp.message)
            return resp

    def close(self) -> None:
        self.control.close()
        if self.camera is not None:
            self.camera.close()


def main(args=None) -> int:
    # One thread: the OpenGL context that renders is bound to the thread that created it.
    return run(SimNode, args, threads=1)


if __name__ == "__main__":
    raise SystemExit(main())
