"""The object catalogue (config/object_catalogue.yaml): every procedural category's metadata, joined
with the builder that makes its geometry. A missing side or a mistyped key is refused by name."""
import copy

import pytest

from affordance_grasp.errors import ConfigError
from affordance_grasp.sim.objects import REGISTRY
from affordance_grasp.sim.objects.registry import ENTRY_KEYS, catalogue_categories, load_catalogue


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def one_entry(catalogue, name="bowl"):
    """A builders/catalogue pair holding just the one category."""
    return {name: REGISTRY[name].build}, {name: copy.deepcopy(catalogue[name])}


def test_catalogue_loads_with_an_entry_and_a_builder_for_every_category(catalogue):
    assert list(catalogue) and set(catalogue) == set(REGISTRY)
    for name, cat in REGISTRY.items():
        assert callable(cat.build), name
        assert set(catalogue[name]) <= set(ENTRY_KEYS), name
        assert cat.families == tuple(catalogue[name]["families"]), name
        assert cat.source == catalogue[name]["source"], name


def test_catalogue_rebuilds_the_registered_categories(catalogue):
    builders = {name: cat.build for name, cat in REGISTRY.items()}
    assert catalogue_categories(builders, catalogue) == list(REGISTRY.values())


def test_an_unknown_key_is_refused(catalogue):
    builders, entries = one_entry(catalogue)
    entries["bowl"]["colour"] = "red"
    with pytest.raises(ConfigError, match=r"bowl: unknown keys \['colour'\]"):
        catalogue_categories(builders, entries)


def test_an_entry_without_a_builder_or_a_builder_without_an_entry_is_refused(catalogue):
    builders, entries = one_entry(catalogue)
    with pytest.raises(ConfigError, match=r"entries \['mug'\] have no builder"):
        catalogue_categories(builders, {**entries, "mug": catalogue["mug"]})
    with pytest.raises(ConfigError, match=r"no entry for the categories \['mug'\]"):
        catalogue_categories({**builders, "mug": REGISTRY["mug"].build}, entries)


@pytest.mark.parametrize("key, value", [("dims", {"height": [0.1]}), ("families", "cereal"),
                                        ("upright", "yes"), ("domain", "garden"), ("queries", [["grab it"]])])
def test_a_badly_typed_value_is_refused(catalogue, key, value):
    builders, entries = one_entry(catalogue)
    entries["bowl"][key] = value
    with pytest.raises(ConfigError, match=f"bowl: {key}"):
        catalogue_categories(builders, entries)
