"""``choose``: how often detection picks the object a request means, with nothing moved.

The demo's kinds of request (seen, unseen, same kind, functional) from its own trial generator,
in many more scenes than the demo can afford to execute. Each scene is rendered with depth noise
as ``sim_node`` renders it, the pipeline locates the object (``GraspPipeline.locate``: clusters,
reasoning head, grounding) and the chosen cluster counts as right when most of its pixels belong
to the target. Refusals count as wrong and are tallied by their reason.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterator, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from ..affordance.grounding import GroundingError
from ..affordance.backends import load_predictor
from ..affordance.recognizer import load_recognizer
from ..errors import EmptyCloudError, PredictionError
from ..grasping.cloud import build_scene_cloud
from ..pipeline import GraspPipeline
from ..sim.camera import DepthNoise, SimCamera
from ..sim.external import load_objects
from ..sim.ground_truth import object_masks
from ..sim.scene import SceneConfig, sample_scene
from ..types import RGBDFrame
from .demo import demo_trials
from .report import machine_description


def refusal_kind(message: str) -> str:
    """The rule a refusal came from, for the tally."""
    for words in ("objects match", "nothing in view has", "everything I see is a known object", "there is no"):
        if words in message:
            return words
    return "not in view" if " in view" in message else "other"


def _render(scene, seed: int):
    """The scene rendered as ``sim_node`` renders it, and each instance's ground-truth masks."""
    world = scene.build()
    with SimCamera(world) as cam:
        frame = cam.render(DepthNoise(), np.random.default_rng(seed))
        masks = {m.instance: m for m in object_masks(world, cam.render_geom_ids())}
    return frame, masks


def present_requests(trials: int, seed: int, extra: Sequence[str] = (), max_objects: int = 4) -> Iterator[Tuple[dict, RGBDFrame, dict]]:
    """The demo's kinds of request (:func:`demo_trials`), each with its rendered frame and the
    instances' masks: (row with kind, seed, query and target instance, frame, masks)."""
    for spec in demo_trials(trials, seed, extra):
        scene = sample_scene(spec["seed"], SceneConfig(n_objects=(1, max_objects)), categories=spec["categories"])
        yield ({k: spec[k] for k in ("kind", "seed", "query", "target")}, *_render(scene, spec["seed"]))


def absent_requests(trials: int, seed: int, parser, max_objects: int = 4) -> Iterator[Tuple[dict, RGBDFrame, dict]]:
    """Scenes of 1-4 objects, each asked for a category of the twin that is not among them, in
    one of that category's own phrasings that names an object: (row with seed, query, absent
    kind and present kinds, frame, masks)."""
    from ..sim.objects import REGISTRY
    from .bench import category_queries

    rng = np.random.default_rng(seed)
    vocab = parser.vocab
    for i in range(trials):
        scene = sample_scene(seed + i, SceneConfig(n_objects=(1, max_objects)))
        present = {o.spec.category for o in scene.objects}
        # Kinds called by a present kind's name are not absent ("the cup" with a mug in view).
        taken = present | {c for p in present for c in vocab.called(p)} | {c for c in vocab.objects
                                                                         if set(vocab.called(c)) & present}
        absent = sorted(set(REGISTRY) - taken)
        target = str(rng.choice(absent))
        # Only phrasings that name an object: "pour the tea" asks for anything that pours, and a
        # kettle in view serves it; it is no request for an absent teapot.
        phrasings = [q for q in category_queries(target) if parser.parse(q.text).object]
        text = phrasings[int(rng.integers(len(phrasings)))].text
        yield ({"seed": seed + i, "query": text, "absent": target, "present": sorted(present)},
               *_render(scene, seed + i))


def _pipeline(predictor_config: Optional[Path], recognizer_config: Optional[Path]) -> GraspPipeline:
    return GraspPipeline(load_predictor(predictor_config), recognizer=load_recognizer(recognizer_config))


def choice_accuracy(trials: int, seed: int, out: Path, objects: Sequence[Path] = (), max_objects: int = 4,
                    predictor_config: Optional[Path] = None, recognizer_config: Optional[Path] = None) -> dict:
    extra = [o.spec.category for o in load_objects(objects)] if objects else []
    pipeline = _pipeline(predictor_config, recognizer_config)
    rows = []
    requests = present_requests(trials, seed, extra, max_objects)
    for row, frame, masks in tqdm(requests, total=trials, desc="choose", unit="request"):
        target = masks[row["target"]].object_mask
        query = pipeline.parser.parse(row["query"])
        try:
            cloud = build_scene_cloud(frame, pipeline.cloud_cfg)
            choice, _, _ = pipeline.find_object(frame, cloud, query)
            px = cloud.pixels[cloud.cluster == choice.index]
            row.update(right=bool(target[px[:, 0], px[:, 1]].mean() > 0.5), reason=choice.reason,
                       margin=round(choice.margin, 3), refused="")
        except (GroundingError, EmptyCloudError, PredictionError) as e:
            row.update(right=False, reason=str(e), margin=None, refused=refusal_kind(str(e)))
        rows.append(row)
    by_kind = defaultdict(list)
    for r in rows:
        by_kind[r["kind"]].append(r)
    summary = {
        "n": len(rows), "seed": seed, "right_object_rate": round(float(np.mean([r["right"] for r in rows])), 4),
        "refused": dict(Counter(r["refused"] for r in rows if r["refused"]).most_common()),
        "per_kind": {k: {"n": len(rs), "right_object_rate": round(float(np.mean([r["right"] for r in rs])), 4),
                         "refused": sum(bool(r["refused"]) for r in rs)} for k, rs in sorted(by_kind.items())},
        "machine": machine_description(), "trials": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def absent_refusals(trials: int, seed: int, out: Path, max_objects: int = 4,
                    predictor_config: Optional[Path] = None, recognizer_config: Optional[Path] = None) -> dict:
    """How often a request for something not in view is refused (:func:`absent_requests`).
    Accepted requests (a grasp would be planned on a wrong object) are listed."""
    pipeline = _pipeline(predictor_config, recognizer_config)
    rows = []
    requests = absent_requests(trials, seed, pipeline.parser, max_objects)
    for row, frame, _ in tqdm(requests, total=trials, desc="absent", unit="request"):
        try:
            cloud = build_scene_cloud(frame, pipeline.cloud_cfg)
            choice, _, _ = pipeline.find_object(frame, cloud, pipeline.parser.parse(row["query"]))
            row.update(refused=False, reason=choice.reason)
        except (GroundingError, EmptyCloudError, PredictionError) as e:
            row.update(refused=True, reason=str(e))
        rows.append(row)
    refused = [r["refused"] for r in rows]
    summary = {"n": len(rows), "seed": seed, "refused_rate": round(float(np.mean(refused)), 4),
               "accepted": [r for r in rows if not r["refused"]], "machine": machine_description(), "trials": rows}
    out.mkdir(parents=True, exist_ok=True)
    (out / "absent.json").write_text(json.dumps(summary, indent=1))
    return summary


def choice_table(summary: dict) -> str:
    lines = ["| request kind | n | right object | refused |", "|---|---|---|---|"]
    lines += [f"| {k} | {r['n']} | {r['right_object_rate']:.2f} | {r['refused']} |" for k, r in summary["per_kind"].items()]
    lines.append(f"| **all** | {summary['n']} | {summary['right_object_rate']:.2f} | {sum(summary['refused'].values())} |")
    return "\n".join(lines)
