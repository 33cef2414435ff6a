"""The planning scene of the moveit_py double (sim/moveit_twin.py): the world's collision objects
(boxes), the allowed collision matrix, the bodies attached to the robot, and collision checks of
robot states against them with the twin's geometry. CONTRACT TEST DOUBLE: not MoveIt."""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Tuple

import numpy as np

from .moveit_twin_robot import (FINGER_JOINT_NAMES, LINKS, MODEL_FRAME, CollisionObject, SolidPrimitive,
                                TwinRobotState, _Attached, pose_matrix)

_log = logging.getLogger(__name__)

class TwinACM:
    """AllowedCollisionMatrix: entries by unordered name pair."""

    def __init__(self):
        self.entries: Dict[frozenset, bool] = {}

    def set_entry(self, name1: str, name2: str, allowed: bool) -> None:
        self.entries[frozenset((name1, name2))] = bool(allowed)

    def remove_entry(self, name1: str, name2: str) -> None:
        self.entries.pop(frozenset((name1, name2)), None)

    def get_entry(self, name1: str, name2: str) -> Tuple[bool, str]:
        e = self.entries.get(frozenset((name1, name2)))
        return (bool(e), "ALWAYS" if e else "NEVER")

    def allowed(self, a: str, b: str) -> bool:
        return self.entries.get(frozenset((a, b)), False)


class TwinPlanningScene:
    """PlanningScene: the world's collision objects (boxes), the ACM, the current state (the twin's
    joints, with the bodies attached to them) and collision checks."""

    def __init__(self, double: "TwinMoveItPy"):
        self._double = double
        self.world: Dict[str, List[Tuple[np.ndarray, np.ndarray]]] = {}     # id -> [(half sizes, pose)]
        self.attached: Dict[str, _Attached] = {}
        self.allowed_collision_matrix = TwinACM()
        self.planning_frame = MODEL_FRAME

    @property
    def robot_model(self):
        return self._double.robot_model

    @property
    def current_state(self) -> TwinRobotState:
        s = TwinRobotState(self._double.robot_model)
        w = self._double.world
        s.set_arm(w.arm_qpos())
        q = w.data.qpos[w.finger_qpos_adr]
        s.joint_positions = dict(zip(FINGER_JOINT_NAMES, (float(q[0]), float(q[1]))))
        s.update()
        s.attached = dict(self.attached)
        return s

    def _frame(self, frame_id: str, state: TwinRobotState) -> Optional[np.ndarray]:
        f = frame_id.lstrip("/")
        if f in (MODEL_FRAME, "panda_link0"):
            return np.eye(4)
        if f in LINKS:
            return self._double.kin.fk(state.arm(True), f, state.opening(True))
        return None

    def apply_collision_object(self, collision_object_msg, color_msg=None) -> None:
        co = collision_object_msg
        if co.operation == CollisionObject.REMOVE:
            if co.id in self.world:
                del self.world[co.id]
            else:
                _log.warning("Tried to remove world object '%s', but it does not exist in this scene.", co.id)
            return
        if co.operation not in (CollisionObject.ADD, CollisionObject.APPEND):
            _log.error("the double handles ADD, APPEND and REMOVE only (operation %s)", co.operation)
            return
        base = self._frame(co.header.frame_id, self.current_state)
        if base is None:
            _log.error("Unknown frame: '%s'", co.header.frame_id)
            return
        if len(co.primitives) != len(co.primitive_poses):
            _log.error("Number of primitive shapes does not match number of poses in collision object message")
            return
        parts = []
        T_obj = base @ pose_matrix(co.pose)
        for prim, pose in zip(co.primitives, co.primitive_poses):
            if prim.type != SolidPrimitive.BOX or len(prim.dimensions) != 3:
                _log.error("the double models boxes only (primitive type %s)", prim.type)
                return
            parts.append((np.asarray(prim.dimensions, float) / 2, T_obj @ pose_matrix(pose)))
        if co.operation == CollisionObject.ADD:
            self.world[co.id] = parts
        else:
            self.world.setdefault(co.id, []).extend(parts)

    def process_attached_collision_object(self, aco) -> bool:
        """PlanningScene::processAttachedCollisionObjectMsg: ADD moves a world object (no shapes in
        the message) onto the link at its current pose; REMOVE puts it back in the world where it
        is now. False as MoveIt gives it: an unknown link, no such object, nothing attached by that id."""
        obj = aco.object
        state = self.current_state
        if obj.operation == CollisionObject.ADD:
            if aco.link_name not in LINKS:
                _log.error("Unable to attach a body to link '%s' (link not found)", aco.link_name)
                return False
            if obj.primitives:
                _log.error("the double attaches objects already in the world only")
                return False
            if obj.id not in self.world:
                _log.error("Attempting to attach object '%s' to link '%s' but no geometry specified and such an "
                           "object does not exist in the collision world", obj.id, aco.link_name)
                return False
            T_link = self._double.kin.fk(state.arm(), aco.link_name, state.opening())
            inv = np.linalg.inv(T_link)
            parts = [(half, inv @ T) for half, T in self.world.pop(obj.id)]
            self.attached[obj.id] = _Attached(aco.link_name, tuple(aco.touch_links), parts)
            return True
        if obj.operation == CollisionObject.REMOVE:
            body = self.attached.get(obj.id)
            if body is None:
                return False
            if aco.link_name and aco.link_name != body.link:
                _log.error("The AttachedCollisionObject message states the object is attached to %s, but it is "
                           "actually attached to %s", aco.link_name, body.link)
                return False
            del self.attached[obj.id]
            if obj.id in self.world:
                _log.warning("not adding the detached body '%s' back: the world has one of that name", obj.id)
            else:
                T_link = self._double.kin.fk(state.arm(), body.link, state.opening())
                self.world[obj.id] = [(half, T_link @ T) for half, T in body.parts]
            return True
        _log.error("Unknown collision object operation: %s", obj.operation)
        return False

    def collisions(self, state: TwinRobotState, joint_model_group_name: str, first: bool = True,
                   transforms: bool = True):
        """(link or attached body, object, depth) of the penetrations of ``state`` (its transforms:
        the joints as of its last update()), the first only when ``first``; an unknown group
        checks every link, as MoveIt's collision request does."""
        group = self._double.robot_model._groups.get(joint_model_group_name)
        links = group.updated_links if group is not None else frozenset(LINKS)
        shapes = [(oid, half, T) for oid, parts in self.world.items() for half, T in parts]
        attached = [(aid, a.link, a.touch_links, a.parts) for aid, a in state.attached.items()
                    if a.link in links]
        acm = self.allowed_collision_matrix
        return self._double.kin.collisions(state.arm(transforms), state.opening(transforms),
                                           [n for n in LINKS if n in links], shapes, attached, acm.allowed, first)

    def is_state_colliding(self, robot_state=None, joint_model_group_name: str = "", verbose: bool = False) -> bool:
        """The const overload moveit_py binds: the state's transforms as they are (stale until its
        update()); the group's moving links and the bodies attached to them. With only a group
        name (the other overload), the current state."""
        if isinstance(robot_state, str):            # is_state_colliding(joint_model_group_name)
            robot_state, joint_model_group_name = None, robot_state
        state = robot_state if robot_state is not None else self.current_state
        hits = self.collisions(state, joint_model_group_name, first=not verbose)
        if verbose:
            for a, b, dep in hits:
                _log.info("Collision between '%s' and '%s' (%.1f mm)", a, b, dep * 1000)
        return bool(hits)


class _Locked:
    def __init__(self, scene):
        self.scene = scene

    def __enter__(self):
        return self.scene

    def __exit__(self, *exc):
        return False


class TwinPlanningSceneMonitor:
    name = "planning_scene_monitor"

    def __init__(self, scene: TwinPlanningScene):
        self._scene = scene

    def read_only(self):
        return _Locked(self._scene)

    def read_write(self):
        return _Locked(self._scene)

    def process_attached_collision_object(self, attached_collision_object_msg) -> bool:
        return self._scene.process_attached_collision_object(attached_collision_object_msg)

    def process_collision_object(self, collision_object_msg, color_msg=None) -> bool:
        self._scene.apply_collision_object(collision_object_msg)
        return True
