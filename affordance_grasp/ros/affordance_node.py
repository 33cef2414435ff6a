"""affordance_node: the affordance predictor on the camera stream.

``affordance_node/predict`` (PredictAffordance) runs the model on the newest frame for a
free-text query, answers with the AffordanceMap, and publishes it on ``affordance_map`` with a
heatmap overlay on ``~/overlay`` (rgb8) for RViz.
"""
from __future__ import annotations

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image

from affordance_grasp.msg import AffordanceMap as AffordanceMapMsg
from affordance_grasp.srv import PredictAffordance

from ..affordance.query import QueryParser
from ..visualize import heat_overlay
from ..errors import AffordanceGraspError, InvalidInputError
from .camera_input import CAMERA_PARAMS, CameraInput
from .common import Param, declare, guarded, latched_qos, run
from .conversions import affordance_map_to_msg
from .grasp_planner_node import build_predictor
from .image_conversions import numpy_to_image

PARAMS = CAMERA_PARAMS + [
    Param("predictor_config", "", "predictor YAML (backend: model | affordance_r1); empty: the shipped default model"),
    Param("device", "", "cpu | cuda; empty: cuda when available"),
]


class AffordanceNode(Node):
    def __init__(self):
        super().__init__("affordance_node")
        self.p = declare(self, PARAMS)
        self.camera = CameraInput(self, self.p)
        self.predictor = build_predictor(self.p["predictor_config"], self.p["device"])
        self.parser = QueryParser()
        self.pub_map = self.create_publisher(AffordanceMapMsg, "affordance_map", latched_qos())
        self.pub_overlay = self.create_publisher(Image, "~/overlay", latched_qos())
        self.create_service(PredictAffordance, "~/predict", guarded(self, self._predict), callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(f"ready: ~/predict with {self.predictor.model_id}")

    def close(self) -> None:
        self.camera.close()

    def _predict(self, req, resp):
        try:
            box = np.asarray(req.object_box, float)
            if box.size not in (0, 4):
                raise InvalidInputError(f"object_box needs 4 numbers [x0 y0 x1 y1] or none, got {box.size}")
            query = self.parser.parse(req.query)
            frame, header = self.camera.frame()
            amap = self.predictor.predict(frame, query, box=box if box.size else None)
        except AffordanceGraspError as e:
            resp.success, resp.message = False, str(e)
            self.get_logger().warn(f"predict {req.query!r}: {e}")
            return resp
        resp.success = True
        resp.message = f"{query.object}/{query.grasp_part} in {sum(amap.times.values()) * 1000:.0f} ms"
        resp.affordance_map = affordance_map_to_msg(amap, header)
        self.pub_map.publish(resp.affordance_map)
        overlay = numpy_to_image(heat_overlay(frame.rgb, amap.heatmap), "rgb8")
        overlay.header = header
        self.pub_overlay.publish(overlay)
        return resp


def main(args=None) -> int:
    return run(AffordanceNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
