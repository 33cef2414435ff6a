"""The twin's true parts on two topics, for testing the ROS plumbing without a learned model.

``sim_node`` publishes, while someone listens, a ``16UC1`` image per camera frame whose pixels
are part labels (0: no object part), stamped like the colour image, and a latched legend that
names each label ``[instance, category, part]``. The label image's ``frame_id`` is
``scene:<n>`` and the legend carries the same ``n``, so a frame is never read with the legend of
another scene. Only the twin publishes these; nothing a robot runs reads them.
"""
from __future__ import annotations

import json
from typing import Dict, List, Sequence, Tuple

import numpy as np

LABELS_TOPIC = "sim/part_labels"
LEGEND_TOPIC = "sim/part_legend"


def part_lookup(world) -> Tuple[np.ndarray, List[List[str]]]:
    """(geom id + 1 -> label, legend) of a twin's world (its ``geom_part``, ``objects`` and model;
    read, not imported: nothing here needs the twin): label 0 is the background and every geom
    that is not an object part; labels 1.. are the (instance, part) pairs in a stable order."""
    geom_part: Dict[int, Tuple[str, str]] = world.geom_part
    categories = {k: o.spec.category for k, o in world.objects.items()}
    n_geoms = world.model.ngeom
    pairs = sorted(set(geom_part.values()))
    index = {p: i + 1 for i, p in enumerate(pairs)}
    lut = np.zeros(n_geoms + 1, np.uint16)
    for g, pair in geom_part.items():
        lut[g + 1] = index[pair]
    legend = [["", "", ""]] + [[inst, categories[inst], part] for inst, part in pairs]
    return lut, legend


def label_image(geom_ids: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Per-pixel part labels from a geom-id image (-1: nothing)."""
    return lut[np.clip(geom_ids + 1, 0, len(lut) - 1)]


def legend_json(scene: int, legend: Sequence[Sequence[str]]) -> str:
    return json.dumps({"scene": int(scene), "parts": [list(e) for e in legend]})


def parse_legend(text: str) -> Tuple[int, List[List[str]]]:
    raw = json.loads(text)
    return int(raw["scene"]), [list(map(str, e)) for e in raw["parts"]]
