"""The query grammar, checked on a table of phrasings (test/data/queries.yaml) and the errors."""
from pathlib import Path

import pytest
import yaml

from affordance_grasp.affordance.query import MAX_QUERY_CHARS, QueryParser, Vocabulary
from affordance_grasp.errors import ConfigError, QueryError

TABLE = yaml.safe_load((Path(__file__).parent / "data" / "queries.yaml").read_text())
FIELDS = {"object": "object", "known": "known_object", "affordance": "affordance", "part": "part",
          "grasp": "grasp_part"}


@pytest.fixture(scope="module")
def parser():
    return QueryParser()


def test_the_table_covers_every_category_and_qualifier(parser):
    assert len(TABLE) >= 100
    named = {row.get("object") for row in TABLE if row.get("known", True) and "error" not in row}
    assert set(parser.vocab.categories) <= named, set(parser.vocab.categories) - named
    for key in ("colour", "position", "size", "ordinal"):
        assert any(key in row for row in TABLE), key
    assert sum("error" in row for row in TABLE) >= 10
    assert sum(row.get("known") is False for row in TABLE) >= 10


@pytest.mark.parametrize("row", TABLE, ids=[r["text"][:40] or "<empty>" for r in TABLE])
def test_phrasing(parser, row):
    if "error" in row:
        with pytest.raises(QueryError, match=row["error"]):
            parser.parse(row["text"])
        return
    q = parser.parse(row["text"])
    assert q.text == row["text"]
    for key, attr in FIELDS.items():
        if key in row:
            assert getattr(q, attr) == row[key], (key, q)
    if "avoid" in row:
        assert q.avoid_parts == tuple(row["avoid"])
    sel = q.selector
    for key in ("colour", "position", "size", "ordinal"):
        if key in row:
            assert getattr(sel, key) == row[key], (key, sel)
    if not any(k in row for k in ("colour", "position", "size", "ordinal")):
        assert not sel, sel


def test_errors_say_what_is_understood(parser):
    with pytest.raises(QueryError) as e:
        parser.parse("hello there")
    assert "mug" in str(e.value) and "grasp" in str(e.value) and "any other noun" in str(e.value)


def test_long_and_non_text_queries_are_refused(parser):
    with pytest.raises(QueryError, match="characters"):
        parser.parse("grab the mug " * 400)
    assert len("grab the mug by the handle " * 10) <= MAX_QUERY_CHARS + 100
    with pytest.raises(QueryError, match="text"):
        parser.parse(b"grab the mug")
    with pytest.raises(QueryError, match="text"):
        parser.parse(None)


def test_vocabulary_resolves_a_request_for_the_chosen_object(parser):
    v = parser.vocab
    q = v.resolve(parser.parse("something to cut with"), "scissors")
    assert (q.object, q.known_object, q.part, q.grasp_part) == ("scissors", True, "blade", "handle")
    q = v.resolve(parser.parse("grab the handle"), "mug")
    assert (q.object, q.part, q.grasp_part) == ("mug", "handle", "handle")
    q = v.resolve(parser.parse("I want to pour water"), "kettle")
    assert (q.part, q.grasp_part) == ("spout", "handle")


def test_vocabulary_is_user_extensible(tmp_path):
    raw = yaml.safe_load(Path(Vocabulary.load().__class__.__module__ and
                              __import__("affordance_grasp.affordance.query", fromlist=["x"]).default_vocabulary_path())
                         .read_text())
    raw["objects"]["colander"] = ["colander", "strainer"]
    raw["part_map"]["colander"] = {"grasp": "handle", "contain": "body"}
    raw["object_parts"]["colander"] = ["handle", "body"]
    p = tmp_path / "vocab.yaml"
    p.write_text(yaml.safe_dump(raw))
    q = QueryParser(Vocabulary.load(p)).parse("grab the strainer")
    assert (q.object, q.known_object, q.part) == ("colander", True, "handle")
    raw["part_map"]["colander"] = {"contain": "body"}
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="grasp"):
        Vocabulary.load(p)
    raw["part_map"]["colander"] = {"grasp": "handle"}
    raw["surprise"] = 1
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="unknown vocabulary keys"):
        Vocabulary.load(p)


def test_every_query_an_object_asks_for_itself_parses(parser):
    """bench and demo ask with the objects' own queries: each must parse (no QueryError), and one
    that names an object names a known one ("pour the tea" names none; a saucepan may be "the
    small pot with the long handle")."""
    import numpy as np

    from affordance_grasp.sim.objects import CATEGORIES, make_object
    for category in sorted(set(CATEGORIES) & set(parser.vocab.categories)):  # built-in, not a test's own
        for seed in range(4):
            for q in make_object(category, np.random.default_rng(seed)).queries:
                parsed = parser.parse(q.text)
                assert parsed.known_object or not parsed.object, (category, q.text)


@pytest.mark.parametrize("text, affordance", [("give me something to pound a nail with", "pound"),
                                              ("hand me something to cut the bread with", "cut")])
def test_what_an_action_is_done_to_is_not_the_object_asked_for(parser, text, affordance):
    """"a nail" is what is pounded: the request names no object (it once parsed as the noun "a")."""
    q = parser.parse(text)
    assert q.object == "" and q.affordance == affordance


@pytest.mark.parametrize("text", ["do not pick up the mug", "don't touch anything", "never grab the knife",
                                  "please do not hand me the hammer", "Don’t pick up the mug, it is hot",
                                  "avoid the knife"])
def test_a_request_not_to_act_is_refused(parser, text):
    with pytest.raises(QueryError, match="says not to do something: nothing will move"):
        parser.parse(text)


@pytest.mark.parametrize("text, excluded", [("pick up anything but the knife", "knife"),
                                            ("grab something other than the red mug", "mug"),
                                            ("hand me everything except the pan", "pan"),
                                            ("pick up any tool but the hammer", "hammer"),
                                            ("hand me anything but the clamp", "clamp"),
                                            ("pick up the mug instead of the cup", "cup")])
def test_a_request_that_names_the_object_not_to_take_is_refused(parser, text, excluded):
    """Read by its noun, "anything but the knife" would send the arm to the knife."""
    with pytest.raises(QueryError, match=f"names the {excluded} as the one not to take: nothing will move"):
        parser.parse(text)


@pytest.mark.parametrize("text", ["grab the knife but do not touch the blade",
                                  "pick up the knife by its handle but not by the blade",
                                  "grab the knife by the handle, not the blade"])
def test_excluding_a_part_is_not_excluding_the_object(parser, text):
    q = parser.parse(text)
    assert q.object == "knife" and q.avoid_parts == ("blade",)


@pytest.mark.parametrize("text, avoid", [("don't touch the blade, grab the knife", ("blade",)),
                                         ("pick up the knife, don't touch the blade", ("blade",))])
def test_a_negated_part_beside_an_action_is_avoided_not_refused(parser, text, avoid):
    q = parser.parse(text)
    assert q.object == "knife" and q.avoid_parts == avoid


def test_a_part_the_named_kind_lacks_is_looked_for_on_kinds_called_by_its_name(parser):
    q = parser.parse("pick up the cup by the handle")
    assert (q.object, q.part) == ("cup", "handle") and set(q.kin) == {"mug", "teacup"}
    assert parser.parse("grasp the cup by its rim").kin == ()
    with pytest.raises(QueryError, match="a bottle has no 'handle'"):
        parser.parse("grab the bottle by its handle")
