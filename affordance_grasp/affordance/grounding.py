"""Which object in view a request means: the reasoning head's category probabilities, the
request's selector words (colour, position, size, ordinal) and, for objects the model does not
know, how strongly the requested part shows on each one.

A request is refused, with what was seen, when no object in view is what it asks for ("no knife
in view (I see: mug 0.93)"), and when several are and nothing says which ("2 objects match 'the
mug': ...; say which one, or set pick_any"). Rivals for a named category are the objects that
look most like it; one that merely passes the (deliberately low) presence threshold but looks
more like something else is no rival. It never moves silently on a guess: every choice carries
its reason and margin.

Colour: each pixel of an object takes the named colour (config/affordance_vocabulary.yaml,
``colours``) nearest to it in CIELAB, with lightness weighted half (shading changes lightness
more than hue), if that colour is within ``COLOUR_TOLERANCE`` (Delta E). An object's match to
"red" averages the share of its pixels nearest red and the share within tolerance of red
(:meth:`SceneObject.colour_match`); it must reach ``COLOUR_SHARE``, and the best match wins.
Position is in the robot's base frame: left is +y, near is close to the base. Size is the longest side of the object's points' bounding box.

Thresholds set on data live in config/presence.yaml (:class:`GroundingConfig`, written by
``python -m affordance_grasp.apps.calibrate_presence`` from validation requests): the presence
threshold of a named taught kind, a temperature on the probabilities, and for a named
vocabulary kind the head was not taught, a fitted probability and the least one served. Where
the file leaves them unset, each object's own threshold (from the models' checkpoints) and the
hand-set score and rules below apply.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..config import from_mapping, load_yaml
from ..errors import ConfigError, QueryError
from ..resources import resource
from ..types import AffordanceQuery, ObjectSelector
from .query import Vocabulary

COLOUR_TOLERANCE = 35.0       # Delta E (CIE76, lightness weighted 0.5)
COLOUR_SHARE = 0.2            # share of an object's pixels that must be the named colour
PRESENCE_THRESHOLD = 0.3      # category probability above which an object counts as that category
CONFIDENT = 0.6               # above this, an object is surely its most likely category
# A noun outside the vocabulary names a known-looking object less often than an unfamiliar one
# (the user would likely have used the known word): its score is scaled by 1 - this x the
# object's top category probability.
FAMILIARITY_DISCOUNT = 0.7
# A category the head was not taught: kinds at least this alike (Vocabulary.kinship) are its kin,
# and how unfamiliar an object looks adds this much of itself to its likeness to that kin.
KIN = 0.5
KIN_UNFAMILIAR = 0.5
# From this probability an object is the taught kind it looks like, and not a kind the head was
# not taught, however alike the two (a kettle at 0.98 is no jug). Set on `choose` data: over 120
# requests for untaught kinds in view, the right object's top probability reached 0.77 at most.
SURE = 0.9
LIKELY = 0.5                  # more likely than not: two such objects of a named kind are ambiguous


# What the probability that an object is a named vocabulary kind the head was not taught is
# fitted on: the requested part's heat on it, how little it looks like any taught kind, how much
# it looks like the named kind's kin (Vocabulary.kinship, weighed by its probabilities), the
# kinship of its most likely kind, and the hand-set score (heat x (likeness + unfamiliarity / 2)).
UNTAUGHT_FEATURES = ("heat", "unfamiliar", "kin_likeness", "top_kin", "heat_x_likeness")


def untaught_features(o: "SceneObject", kin: Callable[[str], float]) -> np.ndarray:
    heat = float(np.nan_to_num(o.part_score))
    familiar = max(o.probs.values(), default=0.0)
    likeness = sum(p * kin(c) for c, p in o.probs.items())
    top = kin(o.most_likely()) if o.probs else 0.0
    return np.array([heat, 1.0 - familiar, likeness, top, heat * (KIN_UNFAMILIAR * (1.0 - familiar) + likeness)])


@dataclass
class GroundingConfig:
    """Grounding's thresholds, set on validation requests (apps/calibrate_presence.py) and
    loaded from config/presence.yaml."""

    presence: Optional[float] = None   # calibrated probability of a named taught kind from which an
                                       # object is one; None: each object's own (the models')
    untaught: float = 0.0              # lowest score of an object for a named vocabulary kind the head
                                       # was not taught (a probability when untaught_weights are set)
    # Logistic weights (bias, then one per UNTAUGHT_FEATURES) of the probability that an object
    # is the named untaught vocabulary kind, fitted on validation; [] for the hand-set score.
    untaught_weights: List[float] = field(default_factory=list)
    temperature: float = 1.0           # on the fused category probabilities (1: as they come)
    calibrated_for: str = ""           # the models the numbers were set with
    validation: Dict[str, object] = field(default_factory=dict)   # what they measured there

    def validate(self, where: str) -> "GroundingConfig":
        if self.presence is not None and not 0.0 < float(self.presence) < 1.0:
            raise ConfigError(f"{where}: presence must be in (0, 1), got {self.presence}")
        if not 0.0 <= float(self.untaught) <= 1.0:
            raise ConfigError(f"{where}: untaught must be in [0, 1], got {self.untaught}")
        if self.untaught_weights and len(self.untaught_weights) != len(UNTAUGHT_FEATURES) + 1:
            raise ConfigError(f"{where}: untaught_weights needs {len(UNTAUGHT_FEATURES) + 1} numbers (bias, "
                              f"{', '.join(UNTAUGHT_FEATURES)}), got {len(self.untaught_weights)}")
        if not float(self.temperature) > 0.0:
            raise ConfigError(f"{where}: temperature must be positive, got {self.temperature}")
        return self


def default_grounding_config() -> Path:
    return resource("config", "presence.yaml")


def load_grounding_config(path=None) -> GroundingConfig:
    """Grounding's thresholds from a YAML file (default config/presence.yaml)."""
    if path is None:
        return _default_config()
    where = str(path)
    return from_mapping(GroundingConfig, load_yaml(where, "grounding config", allow_empty=True), where).validate(where)


@lru_cache(maxsize=1)
def _default_config() -> GroundingConfig:
    return load_grounding_config(default_grounding_config())


def with_temperature(probs: Dict[str, float], temperature: float) -> Dict[str, float]:
    """Category probabilities sharpened (T < 1) or softened (T > 1): p^(1/T), renormalised."""
    if temperature == 1.0 or not probs:
        return dict(probs)
    logp = np.log(np.clip(np.array(list(probs.values()), float), 1e-12, 1.0)) / temperature
    p = np.exp(logp - logp.max())
    return dict(zip(probs, map(float, p / p.sum())))


class GroundingError(QueryError):
    """The request does not pick out one object in view (none, or several): nothing moves."""


@dataclass
class SceneObject:
    """One object cluster in view, with what grounding needs to know about it."""

    index: int                          # cluster id in the scene cloud
    box: np.ndarray                     # [x0 y0 x1 y1] image pixels
    centroid: np.ndarray                # base frame, m
    extent: float                       # longest side of its points' bounding box, m
    colours: Dict[str, float] = field(default_factory=dict)   # share of its pixels nearest each named colour
    probs: Dict[str, float] = field(default_factory=dict)     # category -> probability (reasoning head)
    part_score: float = float("nan")    # share of the requested part's heat that falls on it
    presence: float = PRESENCE_THRESHOLD  # probability from which it counts as a category
    colours_near: Dict[str, float] = field(default_factory=dict)  # share within tolerance of each (overlapping)
    sides: Tuple[float, ...] = ()       # seen length, width and height in m (footprint frame); () unknown

    @property
    def category(self) -> str:
        """Its most likely known category, or "" when no category is likely enough."""
        c = self.most_likely()
        return c if c and self.probs[c] >= self.presence else ""

    def most_likely(self) -> str:
        """Its most likely known category, however unsure."""
        return max(self.probs, key=self.probs.get) if self.probs else ""

    def main_colour(self) -> str:
        return max(self.colours, key=self.colours.get) if self.colours else ""

    def colour_match(self, colour: str) -> float:
        """How well it fits a colour word: the mean of the share of its pixels nearest that colour
        and the share near it. Shade darkens a white cup to grey and a red one towards brown;
        the second share still tells them from a blue one, the first from a silver one."""
        near = self.colours_near.get(colour, self.colours.get(colour, 0.0))
        return 0.5 * (self.colours.get(colour, 0.0) + near)


@dataclass
class Choice:
    index: int                      # the chosen SceneObject's cluster id
    query: AffordanceQuery          # the request resolved for the chosen object
    reason: str                     # how it was chosen, for the response and the overlay
    margin: float                   # lead over the runner-up on the deciding score (1.0: no rival)
    seen: List[str] = field(default_factory=list)   # a description of every object in view


def colour_profile(rgb: np.ndarray, pixels: np.ndarray,
                   colours: Dict[str, Sequence]) -> Tuple[Dict[str, float], Dict[str, float]]:
    """Two shares of ``pixels`` ([v, u] rows) per named colour (CIELAB): those whose nearest named
    colour it is (within ``COLOUR_TOLERANCE``), and those within tolerance of it, nearest or not
    (a white cup in shade is nearest to grey, but still near white). A colour may have several
    prototypes (a red and a dark red): a pixel's distance to it is to the nearest of them."""
    return colour_profiles(rgb, [pixels], colours)[0]


def colour_profiles(rgb: np.ndarray, groups: Sequence[np.ndarray],
                    colours: Dict[str, Sequence]) -> List[Tuple[Dict[str, float], Dict[str, float]]]:
    """:func:`colour_profile` of each group of pixels (one per object), converted and compared
    in one pass over all of them."""
    names = list(colours)
    sizes = [len(g) for g in groups]
    if not names or not sum(sizes):
        return [({}, {}) for _ in sizes]
    protos, owner = [], []
    for i, n in enumerate(names):
        rows = np.asarray(colours[n]).reshape(-1, 3)
        protos += rows.tolist()
        owner += [i] * len(rows)
    lab_p = cv2.cvtColor(np.asarray(protos, np.uint8)[None], cv2.COLOR_RGB2LAB)[0].astype(np.float32)
    pixels = np.concatenate([np.asarray(g).reshape(-1, 2) for g in groups]).astype(np.intp)
    px = rgb[pixels[:, 0], pixels[:, 1]].astype(np.uint8)[None]
    lab = cv2.cvtColor(px, cv2.COLOR_RGB2LAB)[0].astype(np.float32)
    # OpenCV's 8-bit Lab: L in 0..255 for 0..100, a and b offset by 128.
    w = np.array([0.5 * 100 / 255, 1.0, 1.0], np.float32)
    d_proto = np.linalg.norm((lab[:, None] - lab_p[None]) * w, axis=2)
    owner = np.asarray(owner)
    d = np.stack([d_proto[:, owner == i].min(1) for i in range(len(names))], 1)
    out, at = [], 0
    for n in sizes:
        out.append(_profile_of(names, d[at:at + n]) if n else ({}, {}))
        at += n
    return out


def _profile_of(names: Sequence[str], d: np.ndarray) -> Tuple[Dict[str, float], Dict[str, float]]:
    """The two shares per colour from the pixels' distances ``d`` (n, colours) to each colour."""
    nearest = d.argmin(1)
    close = d[np.arange(len(d)), nearest] <= COLOUR_TOLERANCE
    return ({n: float(np.mean(close & (nearest == i))) for i, n in enumerate(names)},
            {n: float(np.mean(d[:, i] <= COLOUR_TOLERANCE)) for i, n in enumerate(names)})


def colour_shares(rgb: np.ndarray, pixels: np.ndarray, colours: Dict[str, Sequence[int]],
                  exclusive: bool = True) -> Dict[str, float]:
    """One of :func:`colour_profile`'s shares: nearest (``exclusive``) or within tolerance."""
    nearest, near = colour_profile(rgb, pixels, colours)
    return nearest if exclusive else near


def _side(o: SceneObject, objects: Sequence[SceneObject]) -> str:
    if len(objects) < 2:
        return ""
    ys = sorted(x.centroid[1] for x in objects)
    if o.centroid[1] >= ys[-1] - 1e-9:
        return "leftmost"
    if o.centroid[1] <= ys[0] + 1e-9:
        return "rightmost"
    return "in the middle"


def describe(o: SceneObject, objects: Sequence[SceneObject], noun: str = "") -> str:
    cat = o.category
    label = (cat or noun or "unknown object").replace("_", " ")
    p = f" {o.probs[cat]:.2f}" if cat else ""
    bits = [b for b in (o.main_colour(), _side(o, objects)) if b]
    return f"{label}{p}" + (f" ({', '.join(bits)})" if bits else "")


def _asks_for_something(query: AffordanceQuery, vocab: Vocabulary) -> bool:
    """Whether the request names a part or a non-grasp action that a known kind can lack."""
    return bool(query.part) or (bool(query.affordance) and query.affordance not in vocab.grasp_affordances)


def _kind_lacks(kind: str, query: AffordanceQuery, vocab: Vocabulary) -> bool:
    """A known kind that has no part for the request: no handle, nothing to cut with."""
    if kind not in vocab.part_map:
        return False
    if query.affordance and query.affordance not in vocab.grasp_affordances:
        return query.affordance not in vocab.part_map[kind]
    return bool(query.part) and query.part not in vocab.parts_of(kind)


def _apply_selector(sel: ObjectSelector, objs: List[SceneObject], what: str, seen: List[str]) -> Tuple[List[SceneObject], str]:
    """The objects the selector leaves (the first is its pick when it orders them) and a reason."""
    reasons = []
    if sel.colour:
        keep = [o for o in objs if o.colour_match(sel.colour) >= COLOUR_SHARE]
        if not keep:
            raise GroundingError(f"no {sel.colour} {what} in view (I see: {'; '.join(seen)})")
        objs = sorted(keep, key=lambda o: -o.colour_match(sel.colour))
        reasons.append(f"{sel.colour} (colour match {objs[0].colour_match(sel.colour):.0%})")
    if sel.size:
        objs = sorted(objs, key=lambda o: -o.extent if sel.size == "biggest" else o.extent)
        reasons.append(f"{sel.size} ({objs[0].extent * 100:.0f} cm)")
    if sel.position:
        key = {"left": lambda o: -o.centroid[1], "right": lambda o: o.centroid[1],
               "near": lambda o: float(np.hypot(*o.centroid[:2])), "far": lambda o: -float(np.hypot(*o.centroid[:2])),
               "middle": lambda o: abs(o.centroid[1] - float(np.median([x.centroid[1] for x in objs])))}[sel.position]
        objs = sorted(objs, key=key)
        if sel.ordinal:
            k = sel.ordinal - 1 if sel.ordinal > 0 else len(objs) - 1
            if k >= len(objs):
                raise GroundingError(f"there is no {sel.describe()} {what}: I see {len(objs)} ({'; '.join(seen)})")
            objs = [objs[k]] + objs[:k] + objs[k + 1:]
        reasons.append(sel.describe() if sel.ordinal else f"the one {sel.describe()[1:-1]}")
    return objs, ", ".join(reasons)


def _either(kinds: Sequence[str]) -> str:
    """Kinds as a request would say them: "mug or teacup"."""
    return " or ".join(k.replace("_", " ") for k in kinds)


def _by_size(cands: List[SceneObject], kinds: Sequence[str], vocab: Vocabulary,
             objects: Sequence[SceneObject]) -> Tuple[List[SceneObject], str]:
    """The candidates whose seen size may be one of ``kinds`` (Vocabulary.dimensions), and a
    clause for the refusal naming those ruled out by their size."""
    keep, out = [], []
    for o in cands:
        why = [vocab.size_misfit(k, o.sides) for k in kinds]
        if all(why):
            out.append(f"{describe(o, objects)}: {why[0]}")
        else:
            keep.append(o)
    return keep, (f"; not the size of a {_either(kinds)}: {'; '.join(out)}"
                  if out else "")


@dataclass
class Shortlist:
    """The objects in view that may be what a request means, how each scores on the deciding
    measure, and what that measure is called (for the reason given with the choice)."""

    objects: List[SceneObject]
    score: Callable[[SceneObject], float]
    basis: str
    outshone: List[SceneObject] = field(default_factory=list)   # passed, but look more like another kind
    kinds: Tuple[str, ...] = ()     # the taught kinds it resolves to, when a known kind was named
    called_by: str = ""             # the requested name, when the object found is a kind called by it


def by_known_kind(query: AffordanceQuery, objects: List[SceneObject], vocab: Vocabulary, kinds: List[str],
                  seen: List[str], recognisable: Optional[Sequence[str]] = None) -> Shortlist:
    """A taught kind named (or the taught ``kinds`` called by its name that have the part asked
    for): the objects likely enough to be one, by that probability."""
    noun = query.object.replace("_", " ")
    called_by = ""

    def present(ks: Sequence[str]):
        p = lambda o: sum(o.probs.get(c, 0.0) for c in ks)  # noqa: E731
        return (p, *_by_size([o for o in objects if p(o) >= o.presence], ks, vocab, objects))

    prob, cands, misfits = present(kinds)
    if not cands and not query.kin:
        # None of the kind named, but a kind that people also call by that name, with what
        # the request names ("the pot" and a saucepan, a "sauce pot"; "the bottle" and a
        # spray bottle): that is what was meant.
        named = [c for c in vocab.called(query.object) if (recognisable is None or c in recognisable)
                 and all(p in vocab.parts_of(c) for p in (query.part, *query.avoid_parts) if p)]
        found = present(named) if named else None
        if found and found[1]:
            kinds, (prob, cands, _), called_by = named, found, noun
    if not cands:
        what = noun if not query.kin else f"{noun} with a {query.part} ({_either(kinds)})"
        raise GroundingError(f"no {what} in view (I see: {'; '.join(seen)}){misfits}")
    # The presence threshold is set to miss few objects, so a mug often passes it for "cup"
    # too. An object that looks more like something else is no rival to one that looks most
    # like what was asked for: only those are weighed against each other.
    best_fit = [o for o in cands if o.most_likely() in kinds]
    outshone: List[SceneObject] = []
    if best_fit:
        outshone = [o for o in cands if o not in best_fit]
        cands = best_fit
    cands.sort(key=lambda o: -prob(o))
    basis = (f"{noun} probability" if not called_by else
             f"{_either(kinds)} probability (no {noun} in view; also called one)")
    return Shortlist(cands, prob, basis, outshone, tuple(kinds), called_by)


def by_untaught_noun(query: AffordanceQuery, objects: List[SceneObject], vocab: Vocabulary,
                     seen: List[str], cfg: Optional[GroundingConfig] = None) -> Shortlist:
    """A noun the model was not taught: the objects not surely of an unlike kind, by the
    requested part's heat on them and how much they look like what was named."""
    noun = query.object.replace("_", " ")
    # A vocabulary category held out of training (a pitcher) is none of the taught kinds, but the vocabulary says which taught kinds are
    # like it (a kettle, a saucepan): the score is the part's heat on the object times how
    # much it looks like those kin, plus half how little it looks like anything taught.
    # (Scoring unfamiliarity alone, a spoon lost to a bottle the head was unsure of.)
    # A noun outside the vocabulary may also name a kind of a taught one (a cleaver is a
    # knife; the head says "knife 0.8"). There what the request asks of it tells more than
    # familiarity: a thing held by its handle is not a bowl. So only an object surely of a
    # taught kind without the requested part or action is out; the score is the heat, times
    # the probability that the object is not a kind lacking the part, times a softer
    # discount for looking familiar (the user might have used that kind's word). (Held-out
    # vocabulary categories often name parts no taught kind has, a whisk's wires: every
    # object would "lack" them, which tells nothing.) The heat alone hardly separates
    # objects: a crop centred on any object keeps most of the heat on it.
    asks = not query.known_object and _asks_for_something(query, vocab)
    discount = FAMILIARITY_DISCOUNT if asks else 1.0
    # A vocabulary category the head was not taught is looked for among the kinds it was
    # taught that are like it (a spoon among ladles and whisks, a teapot among kettles):
    # an object that is surely a kind unlike it is out, and looking like its kin counts.
    kin = (lambda c: vocab.kinship(query.object, c)) if query.known_object else None
    cfg = cfg or GroundingConfig()
    # Fitted on validation: the probability that the object is the named kind replaces both the
    # hand-set score and the rule that refuses surely-other objects outright.
    fitted = np.asarray(cfg.untaught_weights, float) if kin is not None and cfg.untaught_weights else None

    def surely_other(o: SceneObject) -> bool:
        if fitted is not None:
            return False
        c = o.most_likely()
        if o.probs.get(c, 0.0) < CONFIDENT:
            return False
        if kin is not None:
            return kin(c) < KIN or o.probs[c] >= SURE
        return not asks or _kind_lacks(c, query, vocab)

    cands = [o for o in objects if not surely_other(o)]
    misfits = ""
    if kin is not None:
        cands, misfits = _by_size(cands, query.kin or (query.object,), vocab, objects)
        if not cands and misfits:
            raise GroundingError(f"no {noun} in view (I see: {'; '.join(seen)}){misfits}")
    if not cands:
        what = f" with a {query.part or query.affordance}" if asks else ""
        raise GroundingError(f"no {noun} in view: everything I see is a known object{what} "
                             f"(I see: {'; '.join(seen)}); add '{noun}' to the vocabulary if it is one of them")

    def score(o: SceneObject) -> float:
        heat = float(np.nan_to_num(o.part_score))
        familiar = max(o.probs.values(), default=0.0)
        if kin is not None:
            x = untaught_features(o, kin)
            return x[-1] if fitted is None else float(1.0 / (1.0 + np.exp(-(fitted[0] + fitted[1:] @ x))))
        without = sum(p for c, p in o.probs.items() if _kind_lacks(c, query, vocab)) if asks else 0.0
        return heat * (1.0 - without) * (1.0 - discount * familiar)

    cands.sort(key=lambda o: -score(o))
    least = cfg.untaught if kin is not None else 0.0    # validation has untaught vocabulary kinds only
    if score(cands[0]) < least:
        raise GroundingError(f"no {noun} in view: nothing I see scores {least:.2f} for it "
                             f"(best {describe(cands[0], objects)}: {score(cands[0]):.2f}; I see: {'; '.join(seen)})")
    what = query.part or query.affordance
    basis = (f"probability of a {noun} (from {what} heat, likeness to its kin, unfamiliarity)" if fitted is not None
             else f"{what} heat x (likeness to its kin + unfamiliarity)" if kin is not None
             else f"{what} heat x {'fit x ' if asks else ''}unfamiliarity")
    return Shortlist(cands, score, basis)


def by_part_or_action(query: AffordanceQuery, objects: List[SceneObject], vocab: Vocabulary,
                      seen: List[str]) -> Shortlist:
    """No object named: those whose (likely) kind has the part or the action asked for, by the
    part's heat on them."""
    # An object that is not surely a known kind is judged by its part score, weighed by the probability
    # that it is not a kind without that part or action: a crop centred on a mug the head is
    # unsure of still shows "head" heat for "something to pound with".
    def fits(o: SceneObject) -> bool:
        c = o.most_likely()
        return o.probs.get(c, 0.0) < CONFIDENT or not _kind_lacks(c, query, vocab)
    cands = [o for o in objects if fits(o)]
    what = query.part or query.affordance
    if not cands:
        raise GroundingError(f"nothing in view has a {what} (I see: {'; '.join(seen)})")

    def score(o: SceneObject) -> float:
        without = sum(p for c, p in o.probs.items() if _kind_lacks(c, query, vocab))
        return float(np.nan_to_num(o.part_score)) * (1.0 - without)

    cands.sort(key=lambda o: -score(o))
    basis = f"{what} heat x fit"
    return Shortlist(cands, score, basis)


def choose(query: AffordanceQuery, objects: Sequence[SceneObject], vocab: Vocabulary, pick_any: bool = False,
           recognisable: Optional[Sequence[str]] = None, config: Optional[GroundingConfig] = None) -> Choice:
    """The object ``query`` means among ``objects``; raises GroundingError when there is none or
    several and nothing decides. ``recognisable`` are the categories the reasoning head was taught
    (default: all): a vocabulary category it was not taught (held out of training) is found the way
    an unknown noun is, by its part, and still resolved with its own part map."""
    if not objects:
        raise GroundingError("no object on the table")
    cfg = config or load_grounding_config()
    objects = [replace(o, probs=with_temperature(o.probs, cfg.temperature),
                       presence=o.presence if cfg.presence is None else cfg.presence) for o in objects]
    noun = query.object.replace("_", " ")
    seen = [describe(o, objects) for o in objects]
    sel = query.selector
    # The kinds the named object may be: itself, or (it lacks the part asked for) the kinds
    # called by its name that have it ("the cup by its handle": a mug or a teacup).
    kinds = [c for c in (query.kin or (query.object,)) if recognisable is None or c in recognisable]
    taught = bool(kinds)
    if query.object and query.known_object and taught:
        short = by_known_kind(query, objects, vocab, kinds, seen, recognisable)
        kinds = list(short.kinds)
    elif query.object:
        short = by_untaught_noun(query, objects, vocab, seen, cfg)
    else:
        short = by_part_or_action(query, objects, vocab, seen)
        noun = "object"
    cands, score, basis, outshone, called_by = short.objects, short.score, short.basis, short.outshone, short.called_by

    reason_sel = ""
    if sel:
        cands, reason_sel = _apply_selector(sel, cands, noun, seen)
    functional_any = not query.object and query.affordance not in vocab.grasp_affordances
    chosen = cands[0]
    runner = cands[1] if len(cands) > 1 else None
    rivals = cands[1:] + outshone
    margin = 1.0 if not rivals else float(score(chosen) - max(score(o) for o in rivals))
    # Two that both fit and nothing to tell them apart: ask, do not guess. (An unknown noun is a
    # scored decision with its margin reported; "something to cut with" is served by any of them.)
    named_unknown = bool(query.object) and not (query.known_object and taught)
    if runner is not None and not named_unknown and query.object:
        # Of a named kind, a rival is an object likely to be one (more likely than not), or at
        # least half as likely as the chosen: a kettle at 0.98 beside an object read 0.23 kettle
        # is the kettle.
        likely = [o for o in cands[1:] if score(o) >= LIKELY or score(o) >= 0.5 * score(chosen)]
        runner = likely[0] if likely else None
    if runner is not None and not sel and not functional_any and not named_unknown and not pick_any:
        listing = "; ".join(describe(o, objects, noun) for o in cands)
        raise GroundingError(f"{len(cands)} objects match {query.text!r}: {listing}; say which one "
                             f"(e.g. 'the {_side(chosen, objects).replace('most', '') or 'left'} one', its colour, "
                             f"or 'the biggest'), or set pick_any")
    if runner is not None and (sel.position or sel.size):
        margin = 1.0  # an ordering word decides outright
    # The request, resolved for the chosen object's kind when it is a known one.
    cat = query.object if query.known_object else ("" if query.object else chosen.category)
    if (query.kin or called_by) and taught:
        cat = max(kinds, key=lambda c: chosen.probs.get(c, 0.0))
    resolved = vocab.resolve(query, cat) if cat in vocab.part_map else query
    how = reason_sel or f"highest {basis} ({score(chosen):.2f})"
    if pick_any and runner is not None and not sel:
        how += f"; {len(cands)} matched and pick_any took the most likely"
    reason = f"{describe(chosen, objects, noun)}: {how}" + (f", margin {margin:.2f}" if rivals else "")
    return Choice(chosen.index, resolved, reason, margin, seen)
