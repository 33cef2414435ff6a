import pytest

from affordance_grasp.affordance.query import QueryParser, Vocabulary
from affordance_grasp.errors import ConfigError, QueryError


@pytest.fixture(scope="module")
def parser():
    return QueryParser()


@pytest.mark.parametrize("text, obj, aff, part, grasp_part", [
    ("grasp the mug by its handle", "mug", "grasp", "handle", "handle"),
    ("hand me the knife so I can cut", "knife", "cut", "blade", "handle"),
    ("pour from the bottle", "bottle", "pour", "body", "neck"),
    ("hammer the nail", "hammer", "pound", "head", "handle"),
    ("hold the pan", "pan", "hold", "handle", "handle"),
    ("pick up the knife by the handle", "knife", "grasp", "handle", "handle"),
    ("hold the hammer's handle", "hammer", "hold", "handle", "handle"),
    ("take the pan by its handle", "pan", "grasp", "handle", "handle"),
    ("grip the screwdriver handle", "screwdriver", "grasp", "handle", "handle"),
    ("Grab the CUP", "mug", "grasp", "handle", "handle"),
    ("open the bottle", "bottle", "open", "cap", "neck"),
    ("give me the screwdriver to drive a screw", "screwdriver", "screw", "shaft", "handle"),
    ("pass me the spatula so I can flip the pancake", "spatula", "flip", "blade", "handle"),
    ("I need to scrub the sink, hand me the brush", "brush", "scrub", "head", "handle"),
    ("pour tea from the kettle", "kettle", "pour", "spout", "handle"),
    ("lift the teapot by its handle", "kettle", "grasp", "handle", "handle"),
    ("pick up the bottle by its neck", "bottle", "grasp", "neck", "neck"),
    ("fill the mug", "mug", "contain", "body", "handle"),
    ("slice bread with the knife", "knife", "cut", "blade", "handle"),
    ("carry the frying pan", "pan", "hold", "handle", "handle"),
    ("wrap-grasp the bottle", "bottle", "wrap-grasp", "body", "body"),
    ("  pick   up the hammer  ", "hammer", "grasp", "handle", "handle"),
])
def test_phrasings(parser, text, obj, aff, part, grasp_part):
    q = parser.parse(text)
    assert (q.object, q.affordance, q.part, q.grasp_part) == (obj, aff, part, grasp_part)
    assert q.text == text


def test_avoid_parts(parser):
    q = parser.parse("pick up the knife without touching the blade")
    assert q.avoid_parts == ("blade",) and q.grasp_part == "handle"
    assert parser.parse("don't touch the blade, grab the knife").avoid_parts == ("blade",)


@pytest.mark.parametrize("text, msg", [
    ("", "empty query"),
    ("   ", "empty query"),
    ("grasp the unicorn", "no known object"),
    ("grasp the mug by its blade", "has no 'blade'"),
    ("grasp the mug and the knife", "several objects"),
    ("the mug", "no action"),
    ("grab the knife by the handle but do not touch the handle", "avoid"),
])
def test_errors_list_what_is_understood(parser, text, msg):
    with pytest.raises(QueryError, match=msg) as e:
        parser.parse(text)
    if "known object" in msg or "empty" in msg:
        assert "mug" in str(e.value) and "grasp" in str(e.value)  # says what it understands


def test_vocabulary_is_user_extensible(tmp_path):
    base = (Vocabulary.load().__dict__)
    import yaml
    raw = {"objects": {**base["objects"], "ladle": ["ladle"]}, "affordances": base["affordances"],
           "parts": {**base["parts"], "bowl": ["bowl"]}, "grasp_affordances": list(base["grasp_affordances"]),
           "part_map": {**base["part_map"], "ladle": {"grasp": "handle", "scoop": "bowl"}}}
    p = tmp_path / "vocab.yaml"
    p.write_text(yaml.safe_dump(raw))
    q = QueryParser(Vocabulary.load(p)).parse("scoop soup with the ladle")
    assert (q.object, q.part, q.grasp_part) == ("ladle", "bowl", "handle")
    raw["part_map"]["ladle"] = {"scoop": "bowl"}
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="grasp"):
        Vocabulary.load(p)
