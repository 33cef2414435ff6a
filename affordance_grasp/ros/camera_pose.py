"""Where the camera was when a frame was taken (base <- optical frame), from one of:

- ``static``: an eye-to-hand camera's calibration, the ``camera_pose`` parameter;
- ``tf``: tf2 (any ROS install), looked up at the image's stamp;
- ``eye_in_hand``: a wrist camera without tf2: the arm's joint_states at the image's stamp,
  the Panda's forward kinematics, and the hand-eye calibration ``hand_eye`` (flange <- camera).
  An FR3 has the same kinematics (franka_description's robots/fer and robots/fr3 kinematics.yaml
  are identical) and names its joints fr3_joint1..7: ``arm_joints`` says which to read.

There is no default pose: a forgotten calibration must not give grasps in the wrong place.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, InvalidInputError
from ..kinematics import PANDA_JOINTS, JointHistory, wrist_camera_pose
from .common import Param, camera_qos
from .conversions import pose_param_to_matrix

UNSET = [0.0]
POSE_PARAMS = [
    Param("camera_pose_source", "static", "where the camera's pose comes from: static (camera_pose), tf (tf2 "
          "lookup at the image stamp), eye_in_hand (joint_states + hand_eye, no tf2 needed)",
          choices=("static", "tf", "eye_in_hand")),
    Param("camera_pose", UNSET, "static: the camera optical frame in the base frame, [x y z qw qx qy qz] (the "
          "hand-eye calibration); no default: a forgotten calibration must not give grasps in the wrong place"),
    Param("hand_eye", UNSET, "eye_in_hand: the camera optical frame in the flange frame (panda_link8), "
          "[x y z qw qx qy qz]"),
    Param("arm_joints", list(PANDA_JOINTS), "eye_in_hand: the arm's 7 joint names in joint_states, base to flange "
          "(an FR3: fr3_joint1 .. fr3_joint7; its kinematics are the Panda's)"),
    Param("pose_base_frame", "panda_link0", "tf: the frame the camera pose is looked up in (the robot's base)"),
    Param("pose_timeout", 0.2, "tf / eye_in_hand: seconds the pose may lag the image", (0.0, 5.0)),
]


def _pose(owner: str, params: dict, name: str) -> np.ndarray:
    if list(params[name]) == UNSET:
        raise ConfigError(f"{owner}: set {name}, the camera optical frame as [x y z qw qx qy qz] from your "
                          f"hand-eye calibration (config/realsense_panda.yaml shows where), or choose another "
                          f"camera_pose_source")
    return pose_param_to_matrix(params[name], name)


class CameraPose:
    def __init__(self, node, params: dict, joint_states_topic: str = "joint_states", owner: str = ""):
        owner = owner or node.get_name()   # the node a user configured, named in errors
        self.source = params["camera_pose_source"]
        self.timeout = params["pose_timeout"]
        if self.source == "static":
            self.T = _pose(owner, params, "camera_pose")
        elif self.source == "eye_in_hand":
            from sensor_msgs.msg import JointState

            self.hand_eye = _pose(owner, params, "hand_eye")
            self.joints = [str(j) for j in params["arm_joints"]]
            if len(self.joints) != 7 or len(set(self.joints)) != 7 or not all(self.joints):
                raise ConfigError(f"{owner}: arm_joints must name the arm's 7 joints, base to flange, got "
                                  f"{list(params['arm_joints'])}")
            self.missing_warned = False
            self.logger = node.get_logger() if hasattr(node, "get_logger") else None
            self.history = JointHistory()
            node.create_subscription(JointState, joint_states_topic, self._joints, camera_qos())
        else:
            try:
                from tf2_ros import Buffer, TransformListener
            except ImportError:
                raise ConfigError(f"{owner}: camera_pose_source tf needs tf2_ros (a ROS 2 install); "
                                  f"use static or eye_in_hand") from None
            self.base_frame = params["pose_base_frame"]
            self.buffer = Buffer()
            self.listener = TransformListener(self.buffer, node)

    def _joints(self, msg) -> None:
        pos = dict(zip(msg.name, msg.position))
        if all(j in pos for j in self.joints):
            self.history.add(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9, [pos[j] for j in self.joints])
        elif not self.missing_warned and any(n.endswith("joint1") for n in msg.name) and self.logger is not None:
            # An arm's joint_states without the configured names (an FR3's fr3_joint*, a prefix):
            # the pose stays unknown and requests are refused; say why once.
            self.missing_warned = True
            self.logger.warning(f"joint_states has {list(msg.name)}, not the arm_joints {self.joints}: set "
                                f"arm_joints; the wrist camera's pose is unknown until then")

    def at(self, stamp: float, frame_id: str) -> np.ndarray:
        """base <- ``frame_id`` at ``stamp`` (seconds), or InvalidInputError saying why not."""
        if self.source == "static":
            return self.T
        if self.source == "eye_in_hand":
            return wrist_camera_pose(self.history.at(stamp, self.timeout), self.hand_eye)
        from rclpy.duration import Duration
        from rclpy.time import Time
        from tf2_ros import TransformException
        try:
            tf = self.buffer.lookup_transform(self.base_frame, frame_id, Time(nanoseconds=int(stamp * 1e9)),
                                              timeout=Duration(nanoseconds=int(self.timeout * 1e9)))
        except TransformException as e:
            raise InvalidInputError(f"no transform {self.base_frame} <- {frame_id} at the image stamp: {e}") from None
        t, r = tf.transform.translation, tf.transform.rotation
        return pose_param_to_matrix([t.x, t.y, t.z, r.w, r.x, r.y, r.z])
