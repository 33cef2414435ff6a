"""Grounding's thresholds, set on validation requests:
``python -m affordance_grasp.apps.calibrate_presence [--reuse] [--config-out PATH]``.

Validation is ``choose``'s two kinds of request on their own seeds (present: 300000 on, absent:
400000 on; ``choose`` measures on 100 and 5000): each scene is rendered once, and what grounding
sees of every object (its category probabilities, part heat, colours, size) is kept with the
truth (which object is the target, each object's kind) in ``--out/records.json``. Grounding is
then replayed on those records for each candidate setting, so thresholds are chosen on
end-to-end outcomes (absent objects refused, present objects refused or mistaken), not on
per-object scores.

What it sets (in ``--out``/presence.yaml, or ``--config-out``; grounding loads
``config/presence.yaml`` through :func:`~affordance_grasp.affordance.grounding.load_grounding_config`):
- ``temperature``: one scalar on the fused category probabilities, minimising the validation
  objects' negative log-likelihood of their own kind (Guo et al., 2017); tried against none;
- ``untaught_weights``: a logistic probability that an object is a named vocabulary kind the
  head was not taught (grounding.UNTAUGHT_FEATURES), fitted on the validation objects of such
  requests; tried against the hand-set score;
- ``presence`` (least probability of a named taught kind) and ``untaught`` (least score of an
  untaught one) on a grid, for each of those four designs.
The pick (:func:`pick`): "not in view" refusals right at least ``--min-precision`` of the time
and at most ``--max-present-refused`` of present requests refused, with no fewer right objects
than as things were; else no worse than as things were on either; of those, the most absent
requests refused. The measured precision and recall of "not in view" refusals go beside it.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import yaml
from tqdm import tqdm

from ..affordance.grounding import (UNTAUGHT_FEATURES, GroundingConfig, GroundingError, SceneObject, choose,
                                    untaught_features, with_temperature)
from ..errors import EmptyCloudError, PredictionError
from ..grasping.cloud import build_scene_cloud
from .choice import _pipeline, absent_requests, present_requests
from .report import machine_description

PRESENCE_GRID = (0.2, 0.3, 0.4, 0.5, 0.6)
UNTAUGHT_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


def _record(pipeline, row: dict, frame, masks: dict) -> dict:
    """What grounding sees of each object for the row's request, and the kind (and instance)
    most of each object's pixels belong to."""
    query = pipeline.parser.parse(row["query"])
    try:
        cloud = build_scene_cloud(frame, pipeline.cloud_cfg)
        objects, _ = pipeline.objects_in_view(frame, cloud, query)
    except (EmptyCloudError, PredictionError) as e:
        return {**row, "objects": None, "error": str(e)}
    out = []
    for o in objects:
        px = cloud.pixels[cloud.cluster == o.index]
        share = {k: float(m.object_mask[px[:, 0], px[:, 1]].mean()) if len(px) else 0.0 for k, m in masks.items()}
        inst = max(share, key=share.get) if share else ""
        d = asdict(o)
        d.update(box=np.asarray(o.box).tolist(), centroid=np.asarray(o.centroid).tolist(), sides=list(o.sides),
                 part_score=None if math.isnan(o.part_score) else o.part_score,
                 instance=inst if share.get(inst, 0.0) > 0.5 else "",
                 kind=masks[inst].category if share.get(inst, 0.0) > 0.5 else "")
        out.append(d)
    return {**row, "objects": out}


def collect(out: Path, present: int, absent: int, present_seed: int = 300000, absent_seed: int = 400000,
            predictor_config: Optional[Path] = None, recognizer_config: Optional[Path] = None) -> dict:
    """Render the validation requests and keep what grounding sees (``out/records.json``)."""
    pipeline = _pipeline(predictor_config, recognizer_config)
    recs = {"present": [], "absent": []}
    for row, frame, masks in tqdm(present_requests(present, present_seed), total=present, desc="val present"):
        recs["present"].append(_record(pipeline, row, frame, masks))
    for row, frame, masks in tqdm(absent_requests(absent, absent_seed, pipeline.parser), total=absent, desc="val absent"):
        recs["absent"].append(_record(pipeline, row, frame, masks))
    recs["recognisable"] = pipeline.recognisable()
    recs["calibrated_for"] = calibrated_for(pipeline)
    out.mkdir(parents=True, exist_ok=True)
    (out / "records.json").write_text(json.dumps(recs))
    return recs


def calibrated_for(pipeline) -> str:
    rec = pipeline.recognizer
    return f"{pipeline.predictor.model_id}" + (f" + shape recognizer (weight {rec.shape_weight})" if rec else "")


def scene_objects(rec: dict) -> List[SceneObject]:
    keep = {k for k in SceneObject.__dataclass_fields__}
    objs = []
    for d in rec["objects"] or []:
        d = {k: v for k, v in d.items() if k in keep}
        d.update(box=np.asarray(d["box"], float), centroid=np.asarray(d["centroid"], float), sides=tuple(d["sides"]),
                 part_score=float("nan") if d["part_score"] is None else d["part_score"])
        objs.append(SceneObject(**d))
    return objs


def fit_temperature(records: Sequence[dict], recognisable: Sequence[str]) -> float:
    """The temperature minimising the NLL of each validation object's own kind (taught kinds)."""
    rows = [(o["probs"], o["kind"]) for r in records for o in (r["objects"] or [])
            if o["kind"] in recognisable and o["kind"] in o["probs"]]
    if not rows:
        return 1.0
    cats = list(rows[0][0])
    logp = np.log(np.clip(np.array([[p.get(c, 0.0) for c in cats] for p, _ in rows]), 1e-9, 1.0))
    y = np.array([cats.index(k) for _, k in rows])
    best, best_nll = 1.0, float("inf")
    for t in np.exp(np.linspace(np.log(0.25), np.log(4.0), 161)):
        z = logp / t
        z = z - z.max(1, keepdims=True)
        nll = float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]))
        if nll < best_nll:
            best, best_nll = float(t), nll
    return round(best, 3)


def replay(recs: dict, cfg: GroundingConfig, vocab, parser) -> dict:
    """Grounding's outcome on every validation record under ``cfg``."""
    recognisable = recs["recognisable"]
    present, absent = [], []
    for r in recs["present"]:
        objs = scene_objects(r)
        try:
            c = choose(parser.parse(r["query"]), objs, vocab, recognisable=recognisable, config=cfg)
            present.append({"kind": r["kind"], "right": any(o["index"] == c.index and o["instance"] == r["target"]
                                                            for o in r["objects"]), "refused": ""})
        except GroundingError as e:
            present.append({"kind": r["kind"], "right": False, "refused": _refusal(str(e))})
    for r in recs["absent"]:
        try:
            choose(parser.parse(r["query"]), scene_objects(r), vocab, recognisable=recognisable, config=cfg)
            absent.append({"refused": False, "not_in_view": False})
        except GroundingError as e:
            absent.append({"refused": True, "not_in_view": _refusal(str(e)) == "not in view"})
    return summarise(present, absent)


def _refusal(message: str) -> str:
    from .choice import refusal_kind
    kind = refusal_kind(message)
    return "not in view" if kind in ("not in view", "everything I see is a known object") else kind


def summarise(present: List[dict], absent: List[dict]) -> dict:
    kinds = sorted({p["kind"] for p in present})
    niv_present = sum(p["refused"] == "not in view" for p in present)
    niv_absent = sum(a["not_in_view"] for a in absent)
    return {"right": float(np.mean([p["right"] for p in present])),
            "per_kind": {k: float(np.mean([p["right"] for p in present if p["kind"] == k])) for k in kinds},
            "present_refused": float(np.mean([bool(p["refused"]) for p in present])),
            "absent_refused": float(np.mean([a["refused"] for a in absent])),
            # Of "not in view" refusals, the share that were right (the object was absent), and
            # of absent objects, the share refused as not in view, with present and absent
            # requests weighed as they come in validation.
            "not_in_view_precision": niv_absent / max(niv_absent + niv_present, 1),
            "not_in_view_recall": niv_absent / max(len(absent), 1)}


def _untaught_rows(recs: dict, parser, temperature: float):
    """Per object of each validation request for a vocabulary kind the head was not taught: its
    features (grounding.UNTAUGHT_FEATURES) and whether it is the target."""
    taught = set(recs["recognisable"])
    X, y = [], []
    for r in recs["present"] + recs["absent"]:
        q = parser.parse(r["query"])
        if not (q.object and q.known_object) or any(k in taught for k in q.kin or (q.object,)):
            continue
        kin = lambda c, n=q.object: parser.vocab.kinship(n, c)  # noqa: E731
        for d, o in zip(r["objects"] or [], scene_objects(r)):
            o.probs = with_temperature(o.probs, temperature)
            X.append(untaught_features(o, kin))
            y.append(float(bool(r.get("target")) and d["instance"] == r.get("target")))
    return np.array(X).reshape(-1, len(UNTAUGHT_FEATURES)), np.array(y)


def fit_untaught(recs: dict, parser, temperature: float, l2: float = 1e-2, steps: int = 3000) -> List[float]:
    """Logistic weights (bias first, on the raw features) of the probability that an object is
    the named untaught kind: L2-regularised, on standardised features, by gradient descent."""
    X, y = _untaught_rows(recs, parser, temperature)
    if len(y) < 10 or y.sum() < 3:
        return []
    mu, sd = X.mean(0), X.std(0) + 1e-9
    Z = (X - mu) / sd
    w, b = np.zeros(Z.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(Z @ w + b)))
        g = p - y
        w -= 0.5 * (Z.T @ g / len(y) + l2 * w)
        b -= 0.5 * float(g.mean())
    raw = w / sd
    return [round(float(b - raw @ mu), 4)] + [round(float(v), 4) for v in raw]


def sweep(recs: dict, parser, base: GroundingConfig) -> List[dict]:
    table = []
    for p in PRESENCE_GRID:
        for u in UNTAUGHT_GRID:
            cfg = replace(base, presence=p, untaught=u)
            table.append({"presence": p, "untaught": u, **replay(recs, cfg, parser.vocab, parser)})
    return table


def pick(table: List[dict], reference: dict, min_precision: float = 0.99, max_present_refused: float = 0.02) -> dict:
    """The setting whose "not in view" refusals are right at least ``min_precision`` of the
    time and that refuses at most ``max_present_refused`` of present requests, taking the right
    object no less often than ``reference`` (half a point of slack): of those, the one that
    refuses the most absent requests, then the most right. When none reaches those targets,
    the same among those that refuse no more present requests than ``reference`` and take
    the right one as often (no worse on either). Of settings alike on those, the middle one
    (a threshold away from the edges of the range that does as well). None: the reference."""
    fair = [r for r in table if r["right"] >= reference["right"] - 0.005]
    ok = [r for r in fair if r["not_in_view_precision"] >= min_precision and r["present_refused"] <= max_present_refused]
    ok = ok or [r for r in fair if r["present_refused"] <= reference["present_refused"]
                and r["absent_refused"] >= reference["absent_refused"]]
    if not ok:
        return reference
    key = lambda r: (r["absent_refused"], r["right"], -r["present_refused"])  # noqa: E731
    best = [r for r in ok if key(r) == max(map(key, ok))]
    return sorted(best, key=lambda r: (r["presence"], r["untaught"]))[len(best) // 2]


def calibrate_presence(out: Path, present: int = 300, absent: int = 400, config_out: Optional[Path] = None,
                       min_precision: float = 0.99, max_present_refused: float = 0.02,
                       predictor_config: Optional[Path] = None,
                       recognizer_config: Optional[Path] = None, reuse: bool = False) -> dict:
    """Collect validation records (or reuse ``out/records.json``), fit the temperature, sweep the
    thresholds and write the chosen ones to ``config_out`` (default ``out``/presence.yaml: the shipped
    config/presence.yaml changes only when asked for, after the new setting was checked on choose)."""
    from ..affordance.query import QueryParser
    out = Path(out)
    if reuse and (out / "records.json").exists():
        recs = json.loads((out / "records.json").read_text())
    else:
        recs = collect(out, present, absent, predictor_config=predictor_config, recognizer_config=recognizer_config)
    parser = QueryParser()
    t = fit_temperature(recs["present"] + recs["absent"], recs["recognisable"])
    # As it was (each object's own threshold, probabilities as they come, the hand-set score).
    reference = {"presence": None, "untaught": 0.0, **replay(recs, GroundingConfig(), parser.vocab, parser)}
    # The fitted temperature and none (the hand-set rules were set on the probabilities as they
    # come), each with the hand-set score for untaught kinds and the fitted probability.
    tables = {}
    for temp in sorted({t, 1.0}):
        for name, base in ((f"T={temp}, hand-set score", replace(GroundingConfig(), temperature=temp)),
                           (f"T={temp}, fitted probability",
                            replace(GroundingConfig(), temperature=temp, untaught_weights=fit_untaught(recs, parser, temp)))):
            if "fitted" in name and not base.untaught_weights:
                continue
            tables[name] = (base, sweep(recs, parser, base))
    picks = {name: pick(table, reference, min_precision, max_present_refused) for name, (_, table) in tables.items()}
    name = max(picks, key=lambda n: (picks[n]["absent_refused"], picks[n]["right"], -picks[n]["present_refused"]))
    base, best = tables[name][0], picks[name]
    cfg = replace(base, presence=best["presence"], untaught=best["untaught"], calibrated_for=recs["calibrated_for"],
                  validation={"present_requests": len(recs["present"]), "absent_requests": len(recs["absent"]),
                              "seeds": "present 300000+, absent 400000+", "design": name, "fitted_temperature": t,
                              "before": {k: _rounded(v) for k, v in reference.items() if k not in ("presence", "untaught")},
                              **{k: _rounded(v) for k, v in best.items() if k not in ("presence", "untaught")}})
    path = Path(config_out) if config_out else out / "presence.yaml"
    write_config(path, cfg)
    summary = {"fitted_temperature": t, "reference": reference, "design": name, "picks": picks, "chosen": best,
               "config": str(path), "machine": machine_description(),
               "tables": {n: table for n, (_, table) in tables.items()}}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _rounded(v):
    return {a: round(b, 4) for a, b in v.items()} if isinstance(v, dict) else round(v, 4)


def write_config(path: Path, cfg: GroundingConfig) -> None:
    head = ("# Grounding's thresholds (affordance/grounding.py), set on validation requests by\n"
            "# `python -m affordance_grasp.apps.calibrate_presence`; `validation` is what\n"
            "# they measured there. Re-run it after retraining the head or the shape recognizer.\n")
    Path(path).write_text(head + yaml.safe_dump(asdict(cfg), sort_keys=False))


def main(argv: Optional[Sequence[str]] = None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m affordance_grasp.apps.calibrate_presence", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("out/calibrate_presence"))
    ap.add_argument("--present", type=int, default=300, help="validation requests for objects in view (seeds 300000+)")
    ap.add_argument("--absent", type=int, default=400, help="validation requests for objects not in view (seeds 400000+)")
    ap.add_argument("--min-precision", type=float, default=0.99,
                    help="share of 'not in view' refusals that must be right (the object was absent)")
    ap.add_argument("--max-present-refused", type=float, default=0.02, help="share of present requests refused")
    ap.add_argument("--config-out", type=Path, default=None,
                    help="where to write the thresholds (default: OUT/presence.yaml; config/presence.yaml is what grounding loads)")
    ap.add_argument("--reuse", action="store_true", help="reuse --out/records.json instead of rendering again")
    ap.add_argument("--collect-only", action="store_true", help="render and keep the records, set nothing")
    ap.add_argument("--predictor", type=Path, default=None)
    ap.add_argument("--recognizer", type=Path, default=None)
    a = ap.parse_args(argv)
    if a.collect_only:
        collect(a.out, a.present, a.absent, predictor_config=a.predictor, recognizer_config=a.recognizer)
        print(f"wrote {a.out / 'records.json'}")
        return 0
    s = calibrate_presence(a.out, a.present, a.absent, a.config_out, a.min_precision, a.max_present_refused,
                           a.predictor, a.recognizer, a.reuse)
    print(json.dumps({k: v for k, v in s.items() if k not in ("tables", "machine")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
