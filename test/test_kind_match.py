"""The kind matcher: whether an object is a vocabulary kind the recognizer was never taught,
from the recognizer's probabilities and the kind's sizes, and how grounding uses it."""
import numpy as np
import pytest

from affordance_grasp.affordance.grounding import GroundingError, SceneObject, choose
from affordance_grasp.affordance.kind_match import (FEATURE_NAMES, N_FEATURES, KindMatcher, fit_logistic,
                                                    match_features)
from affordance_grasp.affordance.query import QueryParser
from affordance_grasp.affordance.recognizer import ShapeRecognizer
from affordance_grasp.errors import InvalidInputError


@pytest.fixture(scope="module")
def vocab():
    return QueryParser().vocab


def test_features_compare_sizes_with_the_vocabulary_and_read_how_sure_the_recognizer_is(vocab):
    # Pliers: 12-28 cm long, 3-9 cm wide, 1-3 cm thick (config/affordance_vocabulary.yaml).
    assert vocab.dimensions["pliers"] == [[12, 28], [3, 9], [1, 3]]
    f = dict(zip(FEATURE_NAMES, match_features({"wrench": 1.0, "mug": 0.0}, 4.0, (0.40, 0.05, 0.005), "pliers",
                                               vocab)))
    assert f["log novelty"] == pytest.approx(np.log(4.0))
    assert f["familiarity"] == pytest.approx(1.0) and f["entropy"] == pytest.approx(0.0, abs=1e-6)
    assert f["longest side over"] == pytest.approx(np.log(40 / 28), rel=1e-5)
    assert f["middle side over"] == 0.0 and f["middle side short"] == 0.0
    assert f["shortest side short"] == pytest.approx(np.log(1 / 0.5), rel=1e-5)
    assert f["no sizes"] == 0.0
    assert f["kin likeness"] == pytest.approx(vocab.kinship("pliers", "wrench"))
    even = dict(zip(FEATURE_NAMES, match_features({"wrench": 0.5, "mug": 0.5}, 1.0, (0.2, 0.05, 0.02), "pliers", vocab)))
    assert even["entropy"] == pytest.approx(1.0) and even["familiarity"] == pytest.approx(0.5)
    # A kind without sizes says so, and no size counts against it.
    g = match_features({"mug": 1.0}, 1.0, (0.2, 0.05, 0.02), "drone", vocab)
    assert g.shape == (N_FEATURES,) and g[-1] == 1.0 and not g[5:11].any()
    with pytest.raises(InvalidInputError):
        match_features({}, 1.0, (0.2, 0.05, 0.02), "pliers", vocab)


def test_logistic_fit_separates_and_weighs_both_classes_equally():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(1.0, 0.3, (20, 2)), rng.normal(-1.0, 0.3, (400, 2))])
    y = np.r_[np.ones(20), np.zeros(400)]
    w, b = fit_logistic(X, y)
    p = 1 / (1 + np.exp(-(X @ w + b)))
    assert (p[:20] > 0.5).all() and (p[20:] < 0.5).all()
    with pytest.raises(InvalidInputError):
        fit_logistic(X, np.zeros(len(X)))
    # Standardised inside the matcher: the same separation from features of any scale.
    F = np.zeros((len(X), N_FEATURES))
    F[:, 0], F[:, 2] = 100 * X[:, 0], X[:, 1]
    km = KindMatcher.fit(F, y)
    assert (km.probability(F[:20]) > 0.5).all() and (km.probability(F[20:]) < 0.5).all()


def test_a_matcher_travels_in_the_recognizer_checkpoint(tmp_path):
    m = ShapeRecognizer(["mug", "wrench"])
    m.kind_matcher = KindMatcher(np.arange(N_FEATURES, dtype=float) / 10, -1.5, 0.42, np.zeros(N_FEATURES),
                                 np.ones(N_FEATURES))
    m.save(tmp_path / "r.pt")
    back = ShapeRecognizer.load(tmp_path / "r.pt").kind_matcher
    assert back is not None and back.threshold == 0.42 and np.allclose(back.weights, m.kind_matcher.weights)
    x = np.linspace(0, 1, N_FEATURES)
    assert back.probability(x) == pytest.approx(m.kind_matcher.probability(x))
    # One fitted on other features reads them wrong: it is not used.
    assert KindMatcher.from_dict({**m.kind_matcher.to_dict(), "features": ["other"]}) is None
    assert KindMatcher.from_dict(None) is None


def _obj(i, y, match, probs=None):
    return SceneObject(i, np.array([0, 0, 10, 10.0]), np.array([0.5, y, 0.05]), 0.1, {"grey": 0.8},
                       probs or {"wrench": 0.6, "mug": 0.4}, kind_match=match, match_threshold=0.5)


def test_grounding_takes_the_most_probable_untaught_kind_and_refuses_with_the_numbers(vocab):
    q = QueryParser().parse("hand me the pliers")
    taught = ["wrench", "mug"]
    c = choose(q, [_obj(0, 0.1, 0.55), _obj(1, -0.1, 0.8)], vocab, recognisable=taught)
    assert c.index == 1 and "probability of being a pliers" in c.reason and c.query.object == "pliers"
    with pytest.raises(GroundingError, match=r"no pliers in view .*probability 0.30, below 0.50"):
        choose(q, [_obj(0, 0.1, 0.3), _obj(1, -0.1, 0.1)], vocab, recognisable=taught)


def test_novelty_is_far_for_what_the_recognizer_never_saw():
    rng = np.random.default_rng(0)
    from affordance_grasp.affordance.shape import N_FEATURES as F
    m = ShapeRecognizer(["a", "b"], hidden=8)
    X = np.concatenate([rng.normal(0, 1, (50, F)), rng.normal(3, 1, (50, F))]).astype(np.float32)
    lab = np.r_[np.zeros(50, int), np.ones(50, int)]
    assert not m.knows_novelty
    with pytest.raises(InvalidInputError, match="no novelty"):
        m.novelty(X)
    m.mean.copy_(__import__("torch").as_tensor(X.mean(0)))
    m.fit_novelty(X, lab)
    near, far = m.novelty(X[:5]), m.novelty(np.full((5, F), 40.0, np.float32))
    assert m.knows_novelty and (far > near.max()).all()
