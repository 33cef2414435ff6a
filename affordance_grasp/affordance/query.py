"""Free text -> AffordanceQuery(object, affordance, part), with grasp and avoid parts.

Vocabulary, synonyms and the part mapping P(object, affordance) live in
config/affordance_vocabulary.yaml. Matching is on whole words, longest phrase first, so
"hammer the nail" reads "hammer" as the object and, having no other verb, as the action too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml

from ..errors import ConfigError, QueryError
from ..types import AffordanceQuery

DEFAULT_VOCAB = Path(__file__).resolve().parents[2] / "config" / "affordance_vocabulary.yaml"
_NEGATION = re.compile(r"\b(?:don'?t|do not|never|without|avoid|not)\b(?:\s+\w+){0,3}?\s+(?:touch(?:ing)?\s+)?(?:the\s+|its\s+)?$")


@dataclass
class Vocabulary:
    objects: Dict[str, List[str]]
    affordances: Dict[str, List[str]]
    parts: Dict[str, List[str]]
    part_map: Dict[str, Dict[str, str]]
    grasp_affordances: Tuple[str, ...]

    @classmethod
    def load(cls, path=DEFAULT_VOCAB) -> "Vocabulary":
        try:
            raw = yaml.safe_load(Path(path).read_text())
            v = cls(raw["objects"], raw["affordances"], raw["parts"], raw["part_map"],
                    tuple(raw.get("grasp_affordances", ["grasp", "hold"])))
        except (OSError, yaml.YAMLError, KeyError, TypeError) as e:
            raise ConfigError(f"cannot read vocabulary {path}: {e}") from None
        for obj, m in v.part_map.items():
            if obj not in v.objects:
                raise ConfigError(f"{path}: part_map names unknown object {obj!r}")
            if "grasp" not in m:
                raise ConfigError(f"{path}: part_map[{obj}] needs a 'grasp' entry (where the fingers go)")
        return v

    def describe(self) -> str:
        return (f"objects: {', '.join(sorted(self.objects))}; actions: {', '.join(sorted(self.affordances))}; "
                f"parts: {', '.join(sorted(self.parts))}")


def _find(text: str, table: Dict[str, List[str]]) -> List[Tuple[int, int, str]]:
    """All (start, end, canonical) whole-word matches, longest phrases first, non-overlapping."""
    phrases = sorted(((p.lower(), c) for c, ps in table.items() for p in ps), key=lambda x: -len(x[0]))
    taken, out = [], []
    for phrase, canon in phrases:
        for m in re.finditer(rf"(?<![\w-]){re.escape(phrase)}(?:'s|s)?(?![\w-])", text):
            if all(m.end() <= a or m.start() >= b for a, b in taken):
                taken.append((m.start(), m.end()))
                out.append((m.start(), m.end(), canon))
    return sorted(out)


class QueryParser:
    def __init__(self, vocab: Optional[Vocabulary] = None):
        self.vocab = vocab or Vocabulary.load()

    def parse(self, text: str) -> AffordanceQuery:
        if not isinstance(text, str) or not text.strip():
            raise QueryError(f"empty query; I understand {self.vocab.describe()}")
        t = " ".join(text.lower().replace("’", "'").split())
        objs = _find(t, self.vocab.objects)
        if not objs:
            raise QueryError(f"no known object in {text!r}; I understand {self.vocab.describe()}")
        names = {o[2] for o in objs}
        if len(names) > 1:
            raise QueryError(f"{text!r} names several objects ({', '.join(sorted(names))}); ask for one")
        o_start, o_end, obj = objs[0]
        mapping = self.vocab.part_map.get(obj, {})
        verbs = _find(t, self.vocab.affordances)
        # A verb spelled like the object ("hammer") is the object unless nothing else is a verb.
        other = [v for v in verbs if v[1] <= o_start or v[0] >= o_end]
        verbs = other or verbs
        parts, avoid = [], []
        for s, e, p in _find(t, self.vocab.parts):
            (avoid if _NEGATION.search(t[:s]) else parts).append(p)
        known = set(mapping.values())
        for p in parts + avoid:
            if p not in known:
                raise QueryError(f"a {obj} has no {p!r}; its parts are {', '.join(sorted(known))}")
        functional = [v[2] for v in verbs if v[2] not in self.vocab.grasp_affordances and v[2] in mapping]
        grasping = [v[2] for v in verbs if v[2] in self.vocab.grasp_affordances]
        if functional:  # "hand me the knife so I can cut": use the blade, hold the handle
            aff = functional[0]
            part = parts[0] if parts and parts[0] == mapping[aff] else mapping[aff]
            grasp_part = mapping["grasp"]
        elif parts:     # "grasp the mug by its handle"
            aff = grasping[0] if grasping else "grasp"
            part = grasp_part = parts[0]
        elif verbs:     # "hold the pan"
            aff = grasping[0] if grasping else verbs[0][2]
            if aff not in mapping:
                raise QueryError(f"I don't know how to {aff} a {obj}; known: {', '.join(sorted(mapping))}")
            part = grasp_part = mapping[aff]
        else:
            raise QueryError(f"no action in {text!r}; I understand {self.vocab.describe()}")
        if grasp_part in avoid:
            raise QueryError(f"{text!r} asks to grasp the {grasp_part} and to avoid it")
        return AffordanceQuery(text, obj, aff, part, grasp_part, tuple(avoid))
