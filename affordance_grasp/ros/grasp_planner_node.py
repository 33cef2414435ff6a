"""grasp_planner_node: the ``detect_grasps`` service (DetectGrasps).

Takes the newest synchronised colour + aligned depth + camera_info, runs the core pipeline
(query -> object -> affordance -> candidates -> scoring), answers with ranked grasps and the
affordance map, and publishes for RViz: ``~/markers`` (gripper-shaped candidates coloured by score,
the best one magenta), ``~/scene_cloud`` (coloured by affordance), ``affordance_map`` and
``~/overlay`` (rgb8).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from affordance_grasp.msg import AffordanceMap as AffordanceMapMsg
from affordance_grasp.srv import DetectGrasps

from ..errors import AffordanceGraspError, InvalidInputError
from ..pipeline import GraspPipeline
from .camera_input import CAMERA_PARAMS, CameraInput
from .common import Param, declare, guarded, latched_qos, run
from .conversions import (affordance_map_to_msg, generation_fields, grasp_to_msg, scene_to_msgs, stamp_to_sec,
                          timings_to_fields)
from .image_conversions import numpy_to_image
from ..visualize import draw_trial
from .visuals import affordance_cloud, grasp_markers

from ..affordance.part_geometry import PartGeometry
from ..grasping.antipodal import AntipodalGenerator
from ..pipeline_config import PipelineConfig
from ..affordance.recognizer import load_recognizer
from .truth_predictor import GroundTruthPredictor

MAX_TOP_K = 500   # grasps one request may ask for

PARAMS = CAMERA_PARAMS + [
    Param("predictor_config", "", "predictor YAML (backend: model | affordance_r1 | ground_truth, the "
                                  "twin's true parts for plumbing tests); empty: config/affordance_predictor.yaml "
                                  "(the shipped model)"),
    Param("recognizer_config", "", "shape recognizer YAML (checkpoint, shape_weight); empty: "
                                   "config/recognizer.yaml"),
    Param("part_geometry_config", "", "part model YAML (checkpoint, weight, fusion), fused with a learned "
                                      "predictor's heat; empty: config/part_geometry.yaml"),
    Param("pipeline_config", "", "grasp pipeline YAML (cloud, candidates with the hold model, scoring); "
                                 "empty: config/grasp_pipeline.yaml (the defaults)"),
    Param("device", "", "cpu | cuda; empty: cuda when available"),
    Param("top_k", 10, "grasps returned when a request asks for 0", (1, 200)),
    Param("markers", 40, "candidates drawn in ~/markers", (0, 500)),
    Param("base_frame", "base_link", "frame of grasps, markers and the cloud"),
    Param("seed", 0, "seed of the candidate sampler (same frame -> same grasps)", (0, 2 ** 31 - 1)),
]


def build_predictor(config: str, device: str, node=None):
    """The predictor ``config`` describes. The ``ground_truth`` backend reads the twin's true parts
    off sim_node's topics, so it is made here, beside the node it listens with."""
    from ..affordance.backends import backend_of, load_predictor
    from .truth_predictor import BACKEND, GroundTruthPredictor

    if config and backend_of(config) == BACKEND:
        return GroundTruthPredictor.from_config(node, config)
    overrides = {"device": device} if device else {}
    return load_predictor(config or None, **overrides)


class GraspPlannerNode(Node):
    def __init__(self):
        super().__init__("grasp_planner_node")
        self.p = declare(self, PARAMS)
        self.camera = CameraInput(self, self.p)
        predictor = build_predictor(self.p["predictor_config"], self.p["device"], self)
        # The ground-truth backend's heat is the twin's true part: nothing to refine.
        shape = None if isinstance(predictor, GroundTruthPredictor) else PartGeometry.load(
            self.p["part_geometry_config"] or None)
        settings = PipelineConfig.load(self.p["pipeline_config"] or None)
        self.pipeline = GraspPipeline(predictor, generator=AntipodalGenerator(config=settings.candidates),
                                      cloud_cfg=settings.cloud, scoring=settings.scoring,
                                      recognizer=load_recognizer(self.p["recognizer_config"] or None),
                                      part_geometry=shape)
        latched = latched_qos()
        self.pub_markers = self.create_publisher(MarkerArray, "~/markers", latched)
        self.pub_cloud = self.create_publisher(PointCloud2, "~/scene_cloud", latched)
        self.pub_map = self.create_publisher(AffordanceMapMsg, "affordance_map", latched)
        self.pub_overlay = self.create_publisher(Image, "~/overlay", latched)
        self.visuals = ThreadPoolExecutor(max_workers=1, thread_name_prefix="visuals")
        self.create_service(DetectGrasps, "detect_grasps", guarded(self, self._detect), callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(f"ready: detect_grasps with {self.pipeline.predictor.model_id}")

    def close(self) -> None:
        self.visuals.shutdown(wait=True, cancel_futures=True)
        self.camera.close()
        self.pipeline.predictor.close()

    def _detect(self, req, resp):
        t0 = time.perf_counter()
        try:
            if req.top_k > MAX_TOP_K:
                raise InvalidInputError(f"top_k is {req.top_k}; ask for at most {MAX_TOP_K} grasps (0: the node's "
                                        f"top_k parameter)")
            frame, header = self.camera.frame(stamp_to_sec(req.not_before))
            text = req.query
            if req.object_hint and req.object_hint.lower() not in text.lower():
                text = f"{text} ({req.object_hint})"
            det = self.pipeline.detect(frame, text, seed=self.p["seed"], pick_any=req.pick_any)
        except AffordanceGraspError as e:
            resp.success, resp.message = False, str(e)
            counts = getattr(e, "counts", None) or {}
            resp.filter_names, resp.filter_counts = generation_fields(counts)
            self.get_logger().warn(f"detect_grasps {req.query!r}: {e}")
            return resp
        k = req.top_k or self.p["top_k"]
        stamp, base = header.stamp, self.p["base_frame"]
        resp.grasps = [grasp_to_msg(g, base, stamp) for g in det.grasps[:k]]
        resp.affordance_map = affordance_map_to_msg(det.amap, header)
        resp.object_box = [float(x) for x in det.object_box]
        timings = {**det.timings, "total": time.perf_counter() - t0}
        resp.timing_stages, resp.timing_seconds = timings_to_fields(timings)
        resp.filter_names, resp.filter_counts = generation_fields(det.generation)
        if det.scene is not None:
            resp.scene_boxes, resp.table_height = scene_to_msgs(det.scene), float(det.scene.table_height)
        physical = det.generation.get("physical") or {}
        if physical:
            resp.object_mass_kg = float(physical["mass_kg"])
            resp.object_centre_of_mass = [float(x) for x in physical["centre_of_mass"]]
        what = det.query.object.replace("_", " ") or "object"
        resp.chosen_object = det.query.object
        if det.choice is not None:
            resp.choice_reason, resp.choice_margin, resp.seen_objects = det.choice.reason, det.choice.margin, det.choice.seen
        else:
            resp.choice_reason, resp.choice_margin = "given by the request's object hint", 1.0
        resp.success = True
        resp.message = (f"{len(det.grasps)} grasps on the {what} ({det.query.grasp_part or 'where the model put it'}); "
                        f"best score {det.best.score:.3f}; chose {resp.choice_reason}")
        self.get_logger().info(f"detect_grasps {req.query!r}: {resp.message} in {timings['total'] * 1000:.0f} ms")
        # The answer does not wait for the pictures: they are drawn on a worker thread, and only
        # those somebody subscribes to.
        self.visuals.submit(self._publish_visuals, det, frame, header)
        return resp

    def _publish_visuals(self, det, frame, header) -> None:
        try:
            self._draw_and_publish(det, frame, header)
        except Exception as e:   # noqa: BLE001 - a picture must never take the node down
            if self.context.ok():
                self.get_logger().warn(f"RViz outputs not published: {type(e).__name__}: {e}")

    def _draw_and_publish(self, det, frame, header) -> None:
        base = self.p["base_frame"]
        shown = det.grasps[: self.p["markers"]]
        if self.pub_markers.get_subscription_count():
            self.pub_markers.publish(grasp_markers(shown, base, header.stamp, chosen=det.best))
        if self.pub_cloud.get_subscription_count():
            self.pub_cloud.publish(affordance_cloud(det.cloud.points, det.amap, frame, base, header.stamp))
        if self.pub_map.get_subscription_count():
            self.pub_map.publish(affordance_map_to_msg(det.amap, header))
        if self.pub_overlay.get_subscription_count():
            title = det.query.text + (f" | {det.choice.reason}" if det.choice is not None else "")
            overlay = numpy_to_image(draw_trial(frame, det.amap, shown, det.best, title,
                                                physical=det.generation.get("physical")), "rgb8")
            overlay.header = header
            self.pub_overlay.publish(overlay)


def main(args=None) -> int:
    return run(GraspPlannerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
