import numpy as np
import pytest

from affordance_grasp.errors import ConfigError
from affordance_grasp.sim.camera import SimCamera
from affordance_grasp.sim.external import load_mesh_object, load_mjcf_object, load_object_config, register_object
from affordance_grasp.sim.ground_truth import object_masks
from affordance_grasp.sim.scene import sample_scene

MJCF = """<mujoco><worldbody><body name="tool">
  <geom name="grip" type="box" size="0.06 0.012 0.012" pos="-0.06 0 0.012"/>
  <geom name="tip" type="box" size="0.04 0.02 0.008" pos="0.04 0 0.008"/>
  <geom name="decor" type="sphere" size="0.005" pos="0 0 0.03" contype="0" conaffinity="0"/>
</body></worldbody></mujoco>"""



def obj_box(x0: float) -> str:
    """A 4 x 3 x 3 cm box starting at x0, as OBJ text."""
    verts = [f"v {x} {y} {z}" for x in (x0, x0 + 0.04) for y in (-0.015, 0.015) for z in (0, 0.03)]
    faces = ["f 1 2 3", "f 2 4 3", "f 5 7 6", "f 6 7 8", "f 1 5 2", "f 2 5 6", "f 3 4 7", "f 4 8 7",
             "f 1 3 5", "f 3 7 5", "f 2 6 4", "f 4 6 8"]
    return "\n".join(verts + faces) + "\n"


def test_mjcf_object_with_part_map_renders_labelled(tmp_path):
    (tmp_path / "tool.xml").write_text(MJCF)
    spec = load_mjcf_object(tmp_path / "tool.xml", {"grip": "handle", "tip": "head"},
                            {"handle": ["grasp"], "head": ["pound"]}, category="mytool")
    assert sorted(p.name for p in spec.parts) == ["handle", "head"]
    assert spec.part("handle").grasp, "a grasp hint is derived for graspable parts"
    register_object(spec)
    world = sample_scene(0, categories=["mytool"]).build()
    with SimCamera(world) as cam:
        (m,) = object_masks(world, cam.render_geom_ids())
    assert m.category == "mytool" and m.parts["handle"].sum() > 50 and m.parts["head"].sum() > 50


def test_mjcf_errors_are_clear(tmp_path):
    (tmp_path / "tool.xml").write_text(MJCF)
    with pytest.raises(ConfigError, match="not in tool.xml"):
        load_mjcf_object(tmp_path / "tool.xml", {"nope": "handle"}, {"handle": ["grasp"]})
    with pytest.raises(ConfigError, match="not found"):
        load_mjcf_object(tmp_path / "missing.xml", {}, {})
    with pytest.raises(ConfigError, match="no geom maps"):
        load_mjcf_object(tmp_path / "tool.xml", {"grip": "handle"}, {"blade": ["cut"]})


def test_mesh_object_from_yaml(tmp_path):
    (tmp_path / "a.obj").write_text(obj_box(-0.04))
    (tmp_path / "b.obj").write_text(obj_box(0.0))
    (tmp_path / "obj.yaml").write_text("category: meshthing\nmeshes: {a.obj: body, b.obj: handle}\n"
                                       "affordances: {body: [contain], handle: [grasp]}\n")
    spec = load_object_config(tmp_path / "obj.yaml")
    assert {p.name for p in spec.parts} == {"body", "handle"}
    assert all(len(m["vertices"]) >= 4 for m in spec.meshes.values())
    register_object(spec)
    world = sample_scene(1, categories=["meshthing"]).build()
    assert world.object_pose("meshthing_0")[2, 3] > -0.005  # rests on the table, not through it
    with pytest.raises(ConfigError, match="mesh file not found"):
        load_mesh_object({str(tmp_path / "none.obj"): "x"}, {}, "c")
