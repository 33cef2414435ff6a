"""Part-labelled objects for the twin: the spec types, the category registry, the categories."""
from .registry import (CATEGORIES, REGISTRY, Category, builder, categories, dress, make_object,  # noqa: F401
                       register, register_catalogue, variant)
from .spec import (GeomSpec, MeshSpec, ObjectSpec, PartSpec, QuerySpec, geom_name, local_aabb,  # noqa: F401
                   mesh_spec, normalised, parse_geom_name, part, scaled)
from . import cookware, cutlery, drinkware, utensils, workshop  # noqa: F401,E402  (their builders)

register_catalogue()   # after every builder module, so that each catalogue entry finds its builder
