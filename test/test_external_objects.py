"""Users' own objects: every loader path of the object file format, its checks and errors, and
the objects working in scenes (labelled masks, resting on the table, grasped by the oracle)."""
from pathlib import Path

import numpy as np
import pytest
import trimesh

from affordance_grasp.errors import ConfigError, InvalidInputError
from affordance_grasp.sim.camera import SimCamera
from affordance_grasp.sim.external import load_object_file, load_objects, register_object
from affordance_grasp.sim.ground_truth import object_masks
from affordance_grasp.sim.objects.check import check_physics
from affordance_grasp.sim.objects.spec import material_mass
from affordance_grasp.sim.scene import sample_scene

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "objects"


def box_obj(x0: float, name: str = "") -> str:
    """A 4 x 3 x 3 cm box starting at x0, as OBJ text (optionally as a named group)."""
    verts = [f"v {x} {y} {z}" for x in (x0, x0 + 0.04) for y in (-0.015, 0.015) for z in (0, 0.03)]
    faces = ["f 1 3 2", "f 2 3 4", "f 5 6 7", "f 6 8 7", "f 1 2 5", "f 2 6 5", "f 3 7 4", "f 4 7 8",
             "f 1 5 3", "f 3 5 7", "f 2 4 6", "f 4 8 6"]
    return "\n".join(verts + faces) + "\n"


def write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("name, form", [("camping_mug", "OBJ groups + texture"), ("cleaver", "one STL per part"),
                                        ("measuring_jug", "PLY face property"), ("dustpan_brush", "GLB mesh names"),
                                        ("watering_can", "GLB vertex attribute, y up"),
                                        ("meat_tenderizer", "MJCF geoms"),
                                        ("rolling_pin", "STL per piece, two files one part")])
def test_every_loader_path_on_the_examples(name, form):
    obj = load_object_file(EXAMPLES / name / f"{name}.yaml")
    spec = obj.spec
    assert spec.queries and all(q.part in [p.name for p in spec.parts] for q in spec.queries)
    assert obj.names
    rep = check_physics(spec, obj.upright, obj.hollow)
    assert rep.ok, (form, rep.problems)
    assert 0.03 < rep.mass < 1.0, (form, rep.mass)


def test_texture_from_the_obj_material_and_hollow_from_convex_pieces():
    spec = load_object_file(EXAMPLES / "camping_mug" / "camping_mug.yaml").spec
    body = spec.part("body")
    assert body.appearance is not None and body.appearance.texture is not None
    assert body.meshes[0].texcoords is not None and len(body.meshes[0].pieces) > 3  # CoACD, not one hull
    y_up = load_object_file(EXAMPLES / "watering_can" / "watering_can.yaml").spec
    lo, hi = y_up.trimesh().bounds
    assert hi[2] - lo[2] > 0.15  # the y-up glTF stands up


def test_user_objects_in_scenes_have_labelled_parts():
    names = [o.spec.category for o in load_objects([EXAMPLES])]
    assert sorted(names) == sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    world = sample_scene(2, categories=["measuring_jug", "cleaver"]).build()
    with SimCamera(world) as cam:
        masks = {m.instance: m for m in object_masks(world, cam.render_geom_ids())}
    assert masks["measuring_jug_0"].parts["handle"].sum() + masks["measuring_jug_0"].parts["body"].sum() > 300
    assert masks["cleaver_0"].parts["blade"].sum() > 100
    for inst in world.objects:
        assert world.object_pose(inst)[2, 3] > -0.005


def test_older_mjcf_form_still_loads(tmp_path):
    (tmp_path / "t.xml").write_text('<mujoco><worldbody><body><geom name="g" type="box" size="0.05 0.012 0.012" '
                                    'pos="0 0 0.012"/><geom name="h" type="box" size="0.03 0.02 0.01" '
                                    'pos="0.08 0 0.01"/></body></worldbody></mujoco>')
    write(tmp_path, "t.yaml", "category: oldtool\nmjcf: t.xml\nparts: {g: handle, h: head}\n"
                              "affordances: {handle: [grasp], head: [pound]}\n")
    spec = load_object_file(tmp_path / "t.yaml").spec
    assert sorted(p.name for p in spec.parts) == ["handle", "head"]
    assert register_object(load_object_file(tmp_path / "t.yaml")) == "oldtool"


@pytest.mark.parametrize("yaml_text, files, message", [
    ("category: c\nmeshes: {missing.obj: body}\nparts: {body: [grasp]}\n", {}, "mesh file .*missing.obj not found"),
    ("category: c\nmeshes: {empty.obj: body}\nparts: {body: [grasp]}\n", {"empty.obj": "v 0 0 0\n"}, "no mesh with faces"),
    ("category: c\nmeshes: {a.obj: body}\nparts: {body: [grasp], lid: [open]}\n", {"a.obj": box_obj(0)},
     r"`parts` names \['lid'\], which no geometry maps to"),
    ("category: c\nmeshes: {a.obj: body, b.obj: handle}\nparts: {body: [grasp]}\n",
     {"a.obj": box_obj(0), "b.obj": box_obj(0.04)}, r"parts \['handle'\] have geometry but no entry"),
    ("category: c\nmeshes: {a.obj: body}\nparts: {body: [grasp]}\nscale: 100\n", {"a.obj": box_obj(0)},
     "over 1.0 m.*millimetres"),
    ("category: c\nmeshes: {a.obj: body}\nparts: {body: [grasp]}\nscale: 0.01\n", {"a.obj": box_obj(0)},
     "under 5 mm"),
    ("category: c\nmeshes: {a.obj: body}\nparts: {body: [contain]}\n", {"a.obj": box_obj(0)}, "nowhere to grasp"),
    ("category: c\nmesh: a.obj\nparts: {body: [grasp]}\ncolour: red\n", {"a.obj": box_obj(0)}, "unknown keys.*colour"),
    ("category: c\nmeshes: {a.obj: body}\nparts: {body: [grasp]}\nqueries: [{text: grab it, part: lid}]\n",
     {"a.obj": box_obj(0)}, "names part 'lid'"),
    ("category: c\nmesh: a.obj\nlabels: {attribute: part, names: {0: body}}\nparts: {body: [grasp]}\n",
     {"a.obj": box_obj(0)}, "no face property or vertex attribute 'part'"),
    ("category: c\nparts: {body: [grasp]}\n", {}, "exactly one of `mesh`"),
    ("category: c\nmeshes: {a.txt: body}\nparts: {body: [grasp]}\n", {"a.txt": "hello"}, "not a mesh format"),
    ("category: c\nmjcf: t.xml\ngeoms: {nope: body}\nparts: {body: [grasp]}\n",
     {"t.xml": "<mujoco><worldbody><geom name='g' type='box' size='.02 .02 .02'/></worldbody></mujoco>"},
     r"geoms not in t.xml: \['nope'\]"),
    ("category: c\nmeshes: {a.obj: body}\nparts: {body: {affordances: [grasp], material: cheese}}\n",
     {"a.obj": box_obj(0)}, "unknown material 'cheese'"),
    ("- just\n- a list\n", {}, "must be a YAML mapping"),
    ("category: c\nmeshes: {a.obj: body}\nparts: {body: [grasp]}\nmass: 3000\n", {"a.obj": box_obj(0)},
     r"`mass` of the object must be a number of kg in \(0, 50\]"),
    ("category: c\nmeshes: {a.obj: body}\nparts: {body: [grasp]}\nmass: {lid: 0.1}\n", {"a.obj": box_obj(0)},
     r"`mass` names parts \['lid'\]"),
])
def test_bad_object_files_fail_clearly_naming_the_file(tmp_path, yaml_text, files, message):
    for name, text in files.items():
        write(tmp_path, name, text)
    path = write(tmp_path, "obj.yaml", yaml_text)
    with pytest.raises((ConfigError, InvalidInputError), match=message) as e:
        load_object_file(path)
    assert "obj.yaml" in str(e.value) or "object file" in str(e.value)


def test_labelled_glb_and_folder_errors(tmp_path):
    mesh = trimesh.creation.box((0.04, 0.03, 0.03))
    scene = trimesh.Scene()
    scene.add_geometry(mesh, geom_name="A", node_name="A")
    scene.export(tmp_path / "s.glb")
    write(tmp_path, "g.yaml", "category: gthing\nmesh: s.glb\nlabels: {names: {B: body}}\nparts: {body: [grasp]}\n")
    with pytest.raises(ConfigError, match=r"labels name meshes \['B'\]"):
        load_object_file(tmp_path / "g.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_objects([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no object files"):
        load_objects([tmp_path / "empty"])


def _twin_mass(spec) -> float:
    from affordance_grasp.sim.world import PlacedObject, SimWorld
    world = SimWorld([PlacedObject("obj_0", spec, (0.5, 0.0, 0.001), 0.0)])
    return float(world.model.body_subtreemass[world.object_body["obj_0"]])


def test_mass_key_sets_the_twins_mass_whole_or_per_part(tmp_path):
    """Two 4 x 3 x 3 cm boxes (36 cm^3 each): as wood (700 kg/m^3 in the material table) and steel, the
    materials give the masses; ``mass:`` overrides them, shared as the materials weigh or per part."""
    write(tmp_path, "h.obj", box_obj(0))
    write(tmp_path, "s.obj", box_obj(0.04))
    base = "category: tool\nmeshes: {h.obj: handle, s.obj: head}\n" \
           "parts: {handle: {affordances: [grasp], material: wood}, head: {affordances: [hit], material: steel}}\n"
    plain = load_object_file(write(tmp_path, "a.yaml", base))
    assert plain.mass_source == "from the materials" and not plain.warnings
    assert _twin_mass(plain.spec) == pytest.approx(plain.mass, rel=0.02)

    whole = load_object_file(write(tmp_path, "b.yaml", base + "mass: 0.5\n"))
    assert whole.mass == pytest.approx(0.5) and whole.mass_source == "from `mass:`"
    assert _twin_mass(whole.spec) == pytest.approx(0.5, rel=0.02)
    # shared as the materials weigh: steel is ten times as dense as wood, so the head carries most of it
    assert whole.spec.part("head").mass > 5 * whole.spec.part("handle").mass

    one = load_object_file(write(tmp_path, "c.yaml", base + "mass: {handle: 0.2}\n"))
    assert one.spec.part("handle").mass == 0.2 and one.spec.part("head").mass is None
    assert one.mass_source == "partly from `mass:`"
    head = material_mass(plain.spec.part("head"), plain.spec.meshes)
    assert _twin_mass(one.spec) == pytest.approx(0.2 + head, rel=0.02) == one.mass


def test_an_open_mesh_warns_that_its_mass_is_unknown_until_mass_is_given(tmp_path, capsys):
    opened = "\n".join(box_obj(0).splitlines()[:-2]) + "\n"     # the box without its last two faces
    write(tmp_path, "open.obj", opened)
    text = "category: scan\nmeshes: {open.obj: body}\nparts: {body: [grasp]}\n"
    obj = load_object_file(write(tmp_path, "scan.yaml", text))
    assert len(obj.warnings) == 1 and "not closed" in obj.warnings[0] and "`mass:`" in obj.warnings[0]
    fixed = load_object_file(write(tmp_path, "scan2.yaml", text + "mass: 0.05\n"))
    assert not fixed.warnings and _twin_mass(fixed.spec) == pytest.approx(0.05, rel=0.02)

    from affordance_grasp.apps.objects import objects_command
    objects_command([tmp_path / "scan.yaml"])
    out = capsys.readouterr().out
    assert "scan: mass" in out and "warning: part 'body': its mesh is not closed" in out
