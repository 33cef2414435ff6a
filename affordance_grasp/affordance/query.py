"""Free text -> AffordanceQuery(object, affordance, part, grasp part, parts to avoid, selector).

Vocabulary, synonyms, the part mapping P(object, affordance) and the selector words live in
config/affordance_vocabulary.yaml. Matching is on whole words, longest phrase first, so
"hammer the nail" reads "hammer" as the object and, having no other verb, as the action too.

The grammar, roughly::

    [verb] [the] [ordinal] [size] [colour] OBJECT [position] [by its PART] [so I can VERB]
                                                  [without touching the PART]

Any noun is accepted as the object: a known word maps to its category, another noun is kept as
the user wrote it (the model then looks for "the handle of this thing"), and a request that
names no object ("grab the handle", "something to cut with") leaves the choice to the scene. A
request is refused only when nothing in it says what to do, or it contradicts itself.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Sequence, Tuple

from ..config import load_yaml
from ..errors import ConfigError, QueryError
from ..resources import resource
from ..types import AffordanceQuery, ObjectSelector, POSITIONS, SIZES

MAX_QUERY_CHARS = 300
# How far a seen side may exceed a kind's largest: depth noise and stray edge pixels stretch a
# cluster's box (Vocabulary.size_misfit).
SIZE_SLACK = 1.1
SIZE_NOISE_CM = 1.5
# A request that says not to act ("do not pick up the mug", "don't touch anything", "never grab
# the knife"): refused, so nothing moves. Only at the start of the request and with no clause
# after it that says what to do: "pick up the knife, don't touch the blade" and "don't touch the
# blade, grab the knife" avoid a part instead.
_NEGATED_REQUEST = re.compile(r"^(?:(?:please|just|now|and|so|ok|okay|robot)\b[\s,]*)*"
                              r"(?:do\s+not|don'?t|dont|never|not|no\s+need\s+to|stop|avoid|refrain\s+from)\b")
# A request that names the object *not* to take ("anything but the knife", "pick up something
# other than the mug", "grab everything except the pan"): the named object is the one thing it
# must not move to, so it is refused rather than read as a request for that object. (Excluding a
# part, "by the handle, not the blade", is an avoided part, read elsewhere.)
_EXCLUSION = re.compile(r"\b(?:(?:anything|everything|something|all|any\s+\w+|every\s+\w+)\s+but|but\s+not|"
                        r"except(?:\s+for)?|besides|apart\s+from|aside\s+from|other\s+than|rather\s+than|"
                        r"instead\s+of|save\s+for)\s+(?:(?:the|a|an|my|that|this|your|those|these)\s+)?")
_NEGATION = re.compile(r"\b(?:don'?t|do not|never|without|avoid|not|no)\b(?:\s+\w+){0,3}?\s+(?:touch(?:ing)?\s+|"
                       r"holding\s+|grabbing\s+)?(?:the\s+|its\s+|it'?s\s+|their\s+)?$")
_DETERMINERS = {"the", "a", "an", "my", "your", "that", "this", "those", "these", "some", "any", "his", "her",
                "our", "their"}
_STOPS = {"by", "with", "without", "from", "to", "so", "and", "or", "in", "on", "at", "near", "next", "of", "for",
          "using", "which", "who", "but", "then", "please", "into", "onto", "off", "up", "out", "over", "under",
          "i", "me", "you", "we", "could", "would", "will", "is", "are", "be", "it", "its", "there", "here",
          "because", "since", "if", "while", "when", "not", "don't", "do", "just", "now", "gently", "carefully",
          "quickly", "slowly", "again", "one", "ones", "via", "through", "around", "behind", "beside", "between"}
_TOKEN = re.compile(r"[a-z0-9][a-z0-9'\-]*")
# After an -ing word, these start that verb's own object: the noun phrase before it has ended.
_ING_OBJECTS = _DETERMINERS | {"it", "its", "it's", "one", "them", "both", "either"}


def default_vocabulary_path():
    return resource("config", "affordance_vocabulary.yaml")


@dataclass
class Vocabulary:
    objects: Dict[str, List[str]]
    affordances: Dict[str, List[str]]
    parts: Dict[str, List[str]]
    part_map: Dict[str, Dict[str, str]]
    grasp_affordances: Tuple[str, ...] = ("grasp", "hold", "wrap-grasp")
    object_parts: Dict[str, List[str]] = field(default_factory=dict)
    default_parts: Dict[str, str] = field(default_factory=dict)
    default_grasp_part: str = "handle"
    colours: Dict[str, list] = field(default_factory=dict)   # name -> sRGB [r, g, b], or a list of them
    colour_synonyms: Dict[str, str] = field(default_factory=dict)
    positions: Dict[str, List[str]] = field(default_factory=dict)
    sizes: Dict[str, List[str]] = field(default_factory=dict)
    ordinals: Dict[str, int] = field(default_factory=dict)
    generic_objects: List[str] = field(default_factory=list)
    masses: Dict[str, List[float]] = field(default_factory=dict)   # kind -> typical [low, high] kg
    # kind -> typical [[low, high] longest, middle, shortest side] in cm, resting on a table
    dimensions: Dict[str, List[List[float]]] = field(default_factory=dict)

    @classmethod
    def load(cls, path=None) -> "Vocabulary":
        path = path or default_vocabulary_path()
        raw = load_yaml(path, "vocabulary")
        known = set(cls.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise ConfigError(f"{path}: unknown vocabulary keys {sorted(unknown)}; known: {sorted(known)}")
        try:
            v = cls(**{k: raw[k] for k in raw})
        except TypeError as e:
            raise ConfigError(f"cannot read vocabulary {path}: {e}") from None
        v.grasp_affordances = tuple(v.grasp_affordances)
        v.validate(str(path))
        return v

    def validate(self, where: str = "vocabulary") -> None:
        for key in ("objects", "affordances", "parts", "part_map"):
            if not isinstance(getattr(self, key), dict) or not getattr(self, key):
                raise ConfigError(f"{where}: needs a non-empty {key!r} mapping")
        for obj, m in self.part_map.items():
            if obj not in self.objects:
                raise ConfigError(f"{where}: part_map names unknown object {obj!r}")
            if "grasp" not in m:
                raise ConfigError(f"{where}: part_map[{obj}] needs a 'grasp' entry (where the fingers go)")
            bad = {a for a in m if a not in self.affordances} | {p for p in m.values() if p and p not in self.parts}
            if bad:
                raise ConfigError(f"{where}: part_map[{obj}] names unknown affordances or parts {sorted(bad)}")
        for obj, ps in self.object_parts.items():
            if obj not in self.objects or any(p not in self.parts for p in ps):
                raise ConfigError(f"{where}: object_parts[{obj}] names an unknown object or part")
        for name, rgb in self.colours.items():
            rows = rgb if isinstance(rgb, list) and rgb and isinstance(rgb[0], list) else [rgb]
            ok = all(isinstance(r, list) and len(r) == 3 and all(isinstance(x, int) and 0 <= x <= 255 for x in r)
                     for r in rows)
            if not ok:
                raise ConfigError(f"{where}: colours[{name}] must be an sRGB [r, g, b] (0-255) or a list of them")
        for c in self.colour_synonyms.values():
            if c not in self.colours:
                raise ConfigError(f"{where}: colour synonym for unknown colour {c!r}")
        for obj, rng in self.masses.items():
            ok = (obj in self.objects and isinstance(rng, (list, tuple)) and len(rng) == 2
                  and all(isinstance(x, (int, float)) for x in rng) and 0 < rng[0] <= rng[1])
            if not ok:
                raise ConfigError(f"{where}: masses[{obj}] must be a known object with [low, high] kg, 0 < low <= high")
        for obj, sides in self.dimensions.items():
            ok = (obj in self.objects and isinstance(sides, (list, tuple)) and len(sides) == 3
                  and all(isinstance(r, (list, tuple)) and len(r) == 2 and all(isinstance(x, (int, float)) for x in r)
                          and 0 < r[0] <= r[1] for r in sides))
            if not ok:
                raise ConfigError(f"{where}: dimensions[{obj}] must be a known object with three [low, high] cm "
                                  f"ranges (longest, middle, shortest side), 0 < low <= high")
        if set(self.positions) - set(POSITIONS) or set(self.sizes) - set(SIZES):
            raise ConfigError(f"{where}: positions must be among {POSITIONS}, sizes among {SIZES}")

    @property
    def categories(self) -> List[str]:
        return list(self.objects)

    def parts_of(self, obj: str) -> List[str]:
        """Every part a known object has (its part_map parts when object_parts does not list it)."""
        listed = self.object_parts.get(obj)
        return sorted(set(listed) if listed else set(self.part_map.get(obj, {}).values()) - {""})

    def traits(self, obj: str) -> frozenset:
        """What an object is made of and is for: its parts and the actions it serves beyond being
        held (every object can be grasped, so grasping says nothing about what it is)."""
        acts = {f"to {a}" for a in self.part_map.get(obj, {}) if a not in self.grasp_affordances}
        return frozenset(self.parts_of(obj)) | frozenset(acts)

    def kinship(self, a: str, b: str) -> float:
        """How alike two known objects are by their traits (Jaccard, 0..1): a spoon is much like a
        ladle (handle, bowl, scoops), somewhat like a whisk (handle, stirs), not like a bottle.
        It is how an object the model was never shown is looked for among what it was shown."""
        if a == b:
            return 1.0
        ta, tb = self.traits(a), self.traits(b)
        return len(ta & tb) / len(ta | tb) if ta and tb else 0.0

    def mass_range(self, obj: str) -> Optional[Tuple[float, float]]:
        """A known kind's typical mass (low, high) in kg, or None."""
        rng = self.masses.get(obj)
        return (float(rng[0]), float(rng[1])) if rng else None

    def size_misfit(self, obj: str, seen: Sequence[float]) -> str:
        """Why an object whose sides were seen as ``seen`` (m, any order) cannot be a ``obj``, or ""
        when it may be one (or the vocabulary gives no size for it). Only upper bounds: a seen
        side exceeds the true one only by the depth noise, but may fall far short of it, since a
        camera sees part of an object and an object in several clusters shows pieces. (Seen over
        true sides of 357 clusters in 150 twin scenes, before pieces are joined: 99th percentiles
        1.04, 1.17 and 1.47 for the longest, middle and shortest side, the last a 0.8 cm knife
        seen 1.2 cm thick; 1st percentiles 0.22, 0.36 and 0.36. Lower bounds at 0.4 of the
        smallest refused a whisk and a spoon seen as 2-5 cm pieces, in 200 `choose` requests.)"""
        sides = self.dimensions.get(obj)
        if not sides or len(seen) != 3:
            return ""
        cm = sorted((100.0 * float(x) for x in seen), reverse=True)
        for name, s, (_, hi) in zip(("longest", "middle", "shortest"), cm, sides):
            if s > SIZE_SLACK * hi + SIZE_NOISE_CM:
                return f"its {name} side is {s:.0f} cm ({obj.replace('_', ' ')}: at most {hi:g})"
        return ""

    def called(self, obj: str) -> List[str]:
        """The other known kinds whose names hold ``obj``'s own word ("coffee cup" and "tea cup"
        for "cup")."""
        words = {w.lower() for w in self.objects.get(obj, [])} | {obj.replace("_", " ")}
        return [c for c, names in self.objects.items() if c != obj and any(
            re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", n.lower()) for w in words for n in names)]

    def describe(self) -> str:
        return (f"objects: {', '.join(sorted(self.objects))} (or any other noun); actions: "
                f"{', '.join(sorted(self.affordances))}; parts: {', '.join(sorted(self.parts))}")

    def resolve(self, query: AffordanceQuery, category: str) -> AffordanceQuery:
        """The query with its object fixed to a known ``category`` (after the scene chose it): the
        category's own parts for the query's affordance and for the fingers."""
        if category not in self.part_map:
            return query
        mapping = self.part_map[category]
        aff = query.affordance
        parts = set(self.parts_of(category))
        grasp_part = mapping["grasp"]
        if aff in self.grasp_affordances:
            part = query.part if query.part in parts else mapping.get(aff, grasp_part)
            grasp_part = part
        else:
            part = mapping.get(aff, query.part if query.part in parts else grasp_part)
        if query.grasp_part in parts and query.grasp_part != part and aff not in self.grasp_affordances:
            grasp_part = query.grasp_part
        avoid = tuple(p for p in query.avoid_parts if p in parts)
        return replace(query, object=category, part=part, grasp_part=grasp_part, avoid_parts=avoid, known_object=True,
                       kin=())


Phrases = List[Tuple["re.Pattern", str]]


def compile_phrases(table: Dict[str, List[str]]) -> Phrases:
    """A table's phrases as (pattern, canonical) pairs, longest first, compiled once per parser: a
    request is parsed against hundreds of phrases, more than re's own cache keeps, and compiling
    them took most of a parse. A phrase also matches with a plural or possessive ending (s, es, 's)."""
    phrases = sorted(((p.lower(), c) for c, ps in table.items() for p in ps), key=lambda x: -len(x[0]))
    return [(re.compile(rf"(?<![\w-]){re.escape(phrase)}(?:'s|es|s)?(?![\w-])"), canon) for phrase, canon in phrases]


def _find(text: str, phrases: Phrases) -> List[Tuple[int, int, str]]:
    """All (start, end, canonical) whole-word matches of compiled ``phrases``, longest first,
    non-overlapping."""
    taken, out = [], []
    for pattern, canon in phrases:
        for m in pattern.finditer(text):
            if all(m.end() <= a or m.start() >= b for a, b in taken):
                taken.append((m.start(), m.end()))
                out.append((m.start(), m.end(), canon))
    return sorted(out)


def _overlaps(a: Tuple[int, int, str], spans: List[Tuple[int, int, str]]) -> bool:
    return any(not (a[1] <= s or a[0] >= e) for s, e, _ in spans)


class QueryParser:
    def __init__(self, vocab: Optional[Vocabulary] = None):
        self.vocab = vocab or Vocabulary.load()
        v = self.vocab
        self._colour_table = {c: [c] for c in v.colours}
        for syn, c in v.colour_synonyms.items():
            self._colour_table.setdefault(c, []).append(syn)
        self._qualifier_words = ({w for ws in self._colour_table.values() for w in ws}
                                 | {w for ws in v.sizes.values() for p in ws for w in p.split()}
                                 | {w for ws in v.positions.values() for p in ws for w in p.split()}
                                 | set(v.ordinals))
        self._phrases = {name: compile_phrases(table) for name, table in (
            ("parts", v.parts), ("objects", v.objects), ("affordances", v.affordances),
            ("colours", self._colour_table), ("positions", v.positions), ("sizes", v.sizes),
            ("ordinals", {k: [k] for k in v.ordinals}))}

    # ------------------------------------------------------------------ text checks
    def _clean(self, text) -> str:
        if not isinstance(text, str):
            raise QueryError(f"a query must be text, got {type(text).__name__}")
        if not text.strip():
            raise QueryError(f"empty query; I understand {self.vocab.describe()}")
        if len(text) > MAX_QUERY_CHARS:
            raise QueryError(f"the query is {len(text)} characters long; a request is at most {MAX_QUERY_CHARS}")
        if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") and ch not in " \t\n" for ch in text):
            raise QueryError("the query contains control or invisible characters; send plain text")
        t = text.lower().replace("’", "'").replace("‘", "'")
        t = re.sub(r"[^\w\s',\-]", " ", t)
        # "handle-first": the hyphen joins a part to the order it is handed over in, not two words
        # of one name (which "x-ray" or "t-shirt" are); read as two words, the part is found.
        t = re.sub(r"\b(\w+)-(first|last)\b", r"\1 \2", t)
        return " ".join(t.split())

    # ------------------------------------------------------------------ parsing
    def parse(self, text: str) -> AffordanceQuery:
        v = self.vocab
        t = self._clean(text)
        if _NEGATED_REQUEST.match(t) and not self._positive_clause_after(t):
            raise QueryError(f"{text!r} says not to do something: nothing will move. Say what to do "
                             f"(e.g. 'pick up the mug by its handle')")
        parts_found = _find(t, self._phrases["parts"])
        objs = _find(t, self._phrases["objects"])
        excluded = self._excluded_object(t, objs, parts_found)
        if excluded:
            raise QueryError(f"{text!r} names the {excluded} as the one not to take: nothing will move. "
                             f"Name the object to take (e.g. 'pick up the mug by its handle')")
        # A word that is both an object and a part ("bowl") is the part when another object that
        # has that part is named too ("the bowl of the spoon").
        if len({o[2] for o in objs}) > 1:
            named = {o[2] for o in objs}
            keep = []
            for o in objs:
                as_part = [p for p in parts_found if p[0] == o[0] and p[1] == o[1]]
                owner = [n for n in named if n != o[2] and as_part and as_part[0][2] in v.parts_of(n)]
                if not owner:
                    keep.append(o)
            objs = keep
        # A part phrase that holds the object's name ("the bottle cap") is still the part.
        parts_found = [p for p in parts_found
                       if not _overlaps(p, objs) or any(p[0] <= o[0] and o[1] < p[1] for o in objs)]
        parts_found = self._compound_parts(t, parts_found, objs)
        names = {o[2] for o in objs}
        if len(names) > 1:
            raise QueryError(f"{text!r} names several objects ({', '.join(sorted(names))}); ask for one")
        # A word after a determiner is a noun even when it is spelled like an action: "the clamp",
        # "a scoop" name things, not pinching or scooping.
        verbs = [x for x in _find(t, self._phrases["affordances"]) if not self._after_determiner(t, x[0])]
        # "something to hammer with": a word that is both an object and an action is the action
        # right after an infinitive "to" (or "can" / "will").
        objs = [o for o in objs if not (any(x[0] == o[0] for x in verbs)
                                       and re.search(r"\b(?:to|can|will|could)\s+$", t[:o[0]]))]
        if objs:
            o_start, o_end = objs[0][0], objs[0][1]
            # A verb spelled like the object ("hammer") is the object unless nothing else is a verb.
            other = [x for x in verbs if x[1] <= o_start or x[0] >= o_end]
            verbs = other or verbs
        verbs = [x for x in verbs if not _overlaps(x, parts_found)]
        selector, qual_spans = self._selector(t, objs)
        obj, known = (objs[0][2], True) if objs else (self._unknown_noun(t, verbs, parts_found, qual_spans), False)

        parts, avoid, kin = [], [], ()
        for s, e, p in parts_found:
            (avoid if _NEGATION.search(t[:s]) else parts).append(p)
        if known:
            own = set(v.parts_of(obj))
            # A part word right after the object's name that the object does not have is part of
            # the name ("the pitcher base by its handle", "the mug tree"), not a part asked for.
            o_end = objs[0][1]
            compound = [p for s, e, p in parts_found if p not in own and re.fullmatch(r"\s*", t[o_end:s])]
            parts = [p for p in parts if p not in compound]
            missing = [p for p in parts + avoid if p not in own]
            if missing:
                # People call a kind by the name its own names contain ("the cup by its handle"
                # for a coffee cup or a tea cup): those that have the part are looked for instead,
                # and the scene decides.
                kin = tuple(c for c in v.called(obj) if all(p in v.parts_of(c) for p in parts + avoid))
                if not kin:
                    raise QueryError(f"a {obj.replace('_', ' ')} has no {missing[0]!r}; its parts are "
                                     f"{', '.join(sorted(own))}")
        if not obj and not verbs and not parts:
            raise QueryError(f"I did not understand {text!r}: no object, action or part; I understand "
                             f"{v.describe()}")
        if not verbs and not parts:
            raise QueryError(f"no action in {text!r}: say what to do with the {obj.replace('_', ' ')} "
                             f"(e.g. 'pick up the {obj.replace('_', ' ')}'); I understand {v.describe()}")
        aff, part, grasp_part = self._action(kin[0] if kin else obj, known, verbs, parts, text)
        if grasp_part and grasp_part in avoid:
            raise QueryError(f"{text!r} asks to grasp the {grasp_part} and to avoid it")
        return AffordanceQuery(text, obj, aff, part, grasp_part, tuple(avoid), known, selector, kin)

    def _compound_parts(self, t: str, found: List[Tuple[int, int, str]],
                        objs: List[Tuple[int, int, str]]) -> List[Tuple[int, int, str]]:
        """Two part words in a row name one part, as English compounds do: the last is the head
        ("a side handle" is a handle), unless the named object lacks it and has the first ("the
        knife by its handle side")."""
        own = set(self.vocab.parts_of(objs[0][2])) if objs else None
        drop = set()
        for k in range(len(found) - 1):
            a, b = found[k], found[k + 1]
            if a[2] == b[2] or not re.fullmatch(r"[\s-]*", t[a[1]:b[0]]):
                continue
            modifier = b if own is not None and b[2] not in own and a[2] in own else a
            drop.add(modifier)
        return [p for p in found if p not in drop]

    @staticmethod
    def _excluded_object(t: str, objs, parts) -> str:
        """The object a request excludes ("anything but the knife", "something other than the red
        mug"), or "" (none, or a part: "by the handle rather than the blade")."""
        for m in _EXCLUSION.finditer(t):
            words = t[m.end():].split(",")[0].split()[:3]
            if not words or words[0] in _STOPS:      # "but not by the blade": a part, said another way
                continue
            if any(a == m.end() for a, _, _ in parts):
                continue
            near = m.end() + len(" ".join(words))
            named = [name for a, _, name in objs if m.end() <= a <= near]
            return (named[0] if named else words[0]).replace("_", " ")
        return ""

    def _positive_clause_after(self, t: str) -> bool:
        """Whether a clause after the first one says what to do ("don't touch the blade, grab the
        knife"): then the leading negation only avoids a part."""
        rest = re.split(r",|;|\bbut\b|\bthen\b|\binstead\b", t, maxsplit=1)
        return len(rest) > 1 and not _NEGATED_REQUEST.match(rest[1].strip()) and bool(_find(rest[1], self._phrases["affordances"]))

    def _after_determiner(self, text: str, start: int) -> bool:
        """Whether the word at ``start`` follows a determiner, past any qualifiers ("the large ...")."""
        for w in reversed(text[:start].split()):
            if w in _DETERMINERS:
                return True
            if w not in self._qualifier_words:
                return False
        return False

    def _action(self, obj: str, known: bool, verbs, parts, text: str) -> Tuple[str, str, str]:
        """(affordance, part used, part for the fingers)."""
        v = self.vocab
        mapping = v.part_map.get(obj, {}) if known else {}
        grasping = [x[2] for x in verbs if x[2] in v.grasp_affordances]
        functional = [x[2] for x in verbs if x[2] not in v.grasp_affordances]
        if known:
            functional = [a for a in functional if a in mapping]
        if functional:  # "hand me the knife so I can cut": use the blade, hold the handle
            aff = functional[0]
            used = mapping[aff] if known else v.default_parts.get(aff, "")
            if known:
                part = parts[0] if parts and parts[0] == used else used
                grasp_part = mapping["grasp"]
                if parts and parts[0] != used:  # "cut with the knife, holding it by the handle"
                    grasp_part = parts[0]
            else:
                part = used
                grasp_part = next((p for p in parts if p != used), v.default_grasp_part)
            return aff, part, grasp_part
        if parts:       # "grasp the mug by its handle"
            aff = grasping[0] if grasping else "grasp"
            return aff, parts[0], parts[0]
        if grasping:    # "hold the pan"
            aff = grasping[0]
            part = mapping.get(aff, mapping.get("grasp", "")) if known else v.default_parts.get(aff, "") \
                if aff not in ("grasp", "hold") else ""
            return aff, part, part
        verb = verbs[0][2]
        raise QueryError(f"I don't know how to {verb} a {obj.replace('_', ' ')}; it supports "
                         f"{', '.join(sorted(mapping))}")

    def _selector(self, t: str, names) -> Tuple[ObjectSelector, List[Tuple[int, int, str]]]:
        """Selector words outside the object's own name ("wooden spoon" names a kind of spoon)."""
        v = self.vocab
        keep = lambda found: [x for x in found if not _overlaps(x, names)]  # noqa: E731
        colours = keep(_find(t, self._phrases["colours"]))
        positions = keep(_find(t, self._phrases["positions"]))
        sizes = keep(_find(t, self._phrases["sizes"]))
        # An ordinal counts objects only before what it counts ("the second mug", "the first
        # one"); at the end of a clause it says when ("hand it over grip end first").
        # Nor right after a part: "grip first, please" says which end comes first.
        part_ends = {e for _, e, _ in _find(t, self._phrases["parts"])}
        ordinals = [o for o in keep(_find(t, self._phrases["ordinals"])) if re.match(r"\s+\w", t[o[1]:])
                    and not any(re.fullmatch(r"\s*(?:end\s*)?", t[e:o[0]]) for e in part_ends)]
        pos = positions[0][2] if positions else ""
        ordinal = v.ordinals[ordinals[0][2]] if ordinals else 0
        if ordinal and not pos:
            pos = "left"  # "the second mug": counted from the left, as one reads
        sel = ObjectSelector(colour=colours[0][2] if colours else "", position=pos,
                             size=sizes[0][2] if sizes else "", ordinal=ordinal)
        return sel, colours + positions + sizes + ordinals

    def _unknown_noun(self, t: str, verbs, parts, qualifiers) -> str:
        """The noun phrase the request is about when it names no known object, or "" (a part-only
        or functional request: "grab the handle", "something to cut with"). It is the last words
        of a phrase that starts with a determiner ("the red spork"), leaving out selector words;
        a phrase right after an action verb other than grasping names what the action is done to
        ("cut the bread", "pour the water"), not the tool."""
        v = self.vocab
        blocking = [(s, e) for s, e, _ in verbs + parts]
        functional_ends = {e for s, e, a in verbs if a not in v.grasp_affordances}
        qual_spans = [(s, e) for s, e, _ in qualifiers]
        tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(t)]
        generic = set(v.generic_objects)

        def hits(tok, spans):
            return any(not (tok[1] <= a or tok[0] >= b) for a, b in spans)

        def word(tok):
            w = re.sub(r"'s$", "", tok[2])
            skip = hits(tok, qual_spans) or tok[2] in self._qualifier_words or w.isdigit() or w in generic
            return None if skip else w

        for i, tok in enumerate(tokens):
            if tok[2] not in _DETERMINERS or any(abs(tok[0] - 1 - e) <= 0 for e in functional_ends):
                continue
            words, end = [], tok[1]
            for j, nxt in enumerate(tokens[i + 1:], start=i + 1):
                # A noun phrase ends at a stop word, a verb or part, or punctuation ("the watering
                # can, holding it ..."), and at a verb's -ing form that takes an object of its own
                # ("the rolling pin holding one handle"; "rolling" before "pin" names the thing).
                after = tokens[j + 1][2] if j + 1 < len(tokens) else ""
                if (nxt[2] in _STOPS or nxt[2] in _DETERMINERS or hits(nxt, blocking)
                        or re.search(r"[,;:.!?]", t[end:nxt[0]])
                        or (words and nxt[2].endswith("ing") and after in _ING_OBJECTS)):
                    break
                end = nxt[1]
                w = word(nxt)
                if w:
                    words.append(w)
            if words:
                return " ".join(words[-3:])
        # No determiner ("grab spork"): the first free word after a grasping verb, before any
        # other action ("give me something to pound a nail with": the nail is what is pounded).
        grasp_ends = [e for s, e, a in verbs if a in v.grasp_affordances]
        functional = [(s, e) for s, e, a in verbs if a not in v.grasp_affordances]
        if grasp_ends:
            for tok in tokens:
                if tok[0] < grasp_ends[0]:
                    continue
                if hits(tok, functional):
                    break
                if tok[2] not in _STOPS and tok[2] not in _DETERMINERS and not hits(tok, blocking):
                    w = word(tok)
                    if w:
                        return w
        return ""
