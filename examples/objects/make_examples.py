"""Write the example object files: seven household objects modelled by hand in trimesh (not with the
twin's procedural generator), each in one of the object-file forms the README documents.

    python examples/objects/make_examples.py      # rewrites the folders next to this file

They are the `--objects` test set: `affordance-grasp bench --objects examples/objects --split objects`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely.geometry as sg
import trimesh
from PIL import Image

HERE = Path(__file__).resolve().parent


def lathe(profile, sections=40):
    m = trimesh.creation.revolve(np.asarray(profile, float), sections=sections)
    m.fix_normals()
    return m


def ring_tube(center, radius, section, axis_normal, sides=10, segments=36, arc=(0.0, 2 * np.pi)):
    """A torus-like tube (a circle of ``radius`` around ``center`` in the plane normal to
    ``axis_normal``), cut to ``arc``."""
    n = np.asarray(axis_normal, float) / np.linalg.norm(axis_normal)
    a = np.cross(n, [1.0, 0, 0] if abs(n[0]) < 0.9 else [0, 1.0, 0])
    a /= np.linalg.norm(a)
    b = np.cross(n, a)
    t = np.linspace(arc[0], arc[1], segments)
    path = np.asarray(center) + radius * (np.cos(t)[:, None] * a + np.sin(t)[:, None] * b)
    circle = sg.Point(0, 0).buffer(section, quad_segs=max(sides // 4, 2))
    m = trimesh.creation.sweep_polygon(circle, path)
    m.fix_normals()
    return m


def write_obj_groups(path: Path, groups: dict, texture: Image.Image | None = None) -> None:
    """An OBJ with one group per part; with ``texture``, cylindrical texture coordinates and an MTL."""
    lines, v_off = [], 0
    if texture is not None:
        texture.save(path.with_suffix(".png"))
        path.with_suffix(".mtl").write_text(f"newmtl glaze\nKd 1 1 1\nmap_Kd {path.with_suffix('.png').name}\n")
        lines.append(f"mtllib {path.with_suffix('.mtl').name}")
    for name, mesh in groups.items():
        v = mesh.vertices
        lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in v]
        if texture is not None:
            ang = (np.arctan2(v[:, 1], v[:, 0]) + np.pi) / (2 * np.pi)
            h = (v[:, 2] - v[:, 2].min()) / max(np.ptp(v[:, 2]), 1e-9)
            lines += [f"vt {u:.5f} {w:.5f}" for u, w in zip(ang, h)]
            lines += [f"g {name}", "usemtl glaze"]
            lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in mesh.faces + 1 + v_off]
        else:
            lines.append(f"g {name}")
            lines += [f"f {a} {b} {c}" for a, b, c in mesh.faces + 1 + v_off]
        v_off += len(v)
    path.write_text("\n".join(lines) + "\n")


def write_ply_labels(path: Path, parts: list) -> None:
    """An ASCII PLY whose faces carry an integer property ``part``."""
    meshes = [m for m, _ in parts]
    labels = np.concatenate([np.full(len(m.faces), k) for m, k in parts])
    mesh = trimesh.util.concatenate(meshes)
    head = ["ply", "format ascii 1.0", f"element vertex {len(mesh.vertices)}", "property float x", "property float y",
            "property float z", f"element face {len(mesh.faces)}", "property list uchar int vertex_indices",
            "property int part", "end_header"]
    body = [f"{x:.6f} {y:.6f} {z:.6f}" for x, y, z in mesh.vertices]
    body += [f"3 {a} {b} {c} {k}" for (a, b, c), k in zip(mesh.faces, labels)]
    path.write_text("\n".join(head + body) + "\n")


# --------------------------------------------------------------------------- the objects
def camping_mug(folder: Path) -> None:
    """A wide enamel camping mug with a round wire-like handle: one OBJ, groups body/handle, a
    texture from its material (speckled enamel)."""
    r, h, t = 0.048, 0.075, 0.002
    body = lathe([(0, 0), (r - 0.004, 0), (r, 0.004), (r, h), (r - t, h), (r - t, 0.004 + t), (0, 0.004 + t)])
    handle = ring_tube((r + 0.018, 0, 0.042), 0.022, 0.005, (0, 1, 0), arc=(np.pi * 0.62, np.pi * 2.38))
    rng = np.random.default_rng(0)
    img = np.full((64, 64, 3), (40, 70, 140), np.uint8)
    img[rng.random((64, 64)) < 0.08] = (230, 230, 230)   # speckles
    img[-6:] = (20, 20, 20)                               # a dark rim band
    write_obj_groups(folder / "camping_mug.obj", {"body": body, "handle": handle}, Image.fromarray(img))
    (folder / "camping_mug.yaml").write_text("""\
# A hand-modelled enamel camping mug: one OBJ whose groups name the parts, textured by its material.
category: camping_mug
names: [camping mug, enamel mug, tin cup]
mesh: camping_mug.obj
labels: groups
material: aluminium
parts:
  body: {affordances: [contain, pour, wrap-grasp]}
  handle: {affordances: [grasp, hold]}
queries:
  - {text: "pick up the camping mug by its handle", part: handle}
  - {text: "grab the enamel mug by the handle", part: handle}
upright: true
hollow: true
""")


def cleaver(folder: Path) -> None:
    """A meat cleaver lying flat: one STL per part (a square blade 8 cm tall, a wooden handle)."""
    blade = trimesh.creation.extrude_polygon(sg.box(0.0, -0.04, 0.17, 0.04).buffer(0.004, join_style=2), 0.004)
    blade.apply_translation((0, 0, 0.008))
    handle = trimesh.creation.capsule(height=0.11, radius=0.011, count=[10, 10])
    handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (0, 1, 0)))
    handle.apply_scale((1.0, 1.0, 0.9))
    handle.apply_translation((-0.062, 0.015, 0.010))
    blade.export(folder / "blade.stl")
    handle.export(folder / "handle.stl")
    (folder / "cleaver.yaml").write_text("""\
# A hand-modelled meat cleaver, lying on the table: one STL file per part.
category: cleaver
names: [cleaver, meat cleaver, chopper]
meshes: {blade.stl: blade, handle.stl: handle}
parts:
  blade: {affordances: [cut], material: steel}
  handle: {affordances: [grasp, hold], material: wood}
queries:
  - {text: "hand me the cleaver so I can chop", part: handle}
  - {text: "pick up the cleaver by the handle", part: handle}
upright: false
""")


def measuring_jug(folder: Path) -> None:
    """A plastic measuring jug: one PLY whose faces carry a `part` property (0 body, 1 handle, 2 spout)."""
    r0, r1, h, t = 0.045, 0.052, 0.12, 0.003
    body = lathe([(0, 0), (r0, 0), (r1, h), (r1 - t, h), (r0 - t, t), (0, t)])
    handle = trimesh.creation.box((0.012, 0.016, 0.085))
    handle.apply_translation((-(r1 + 0.03), 0, 0.065))
    arm_top = trimesh.creation.box((0.034, 0.016, 0.012))
    arm_top.apply_translation((-(r1 + 0.015), 0, 0.102))
    arm_low = trimesh.creation.box((0.034, 0.016, 0.012))
    arm_low.apply_translation((-(r0 + 0.018), 0, 0.028))
    spout = trimesh.creation.cone(radius=0.014, height=0.03)
    spout.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (0, 1, 0)))
    spout.apply_translation((r1 - 0.004, 0, h - 0.012))
    write_ply_labels(folder / "measuring_jug.ply", [(body, 0), (trimesh.util.concatenate([handle, arm_top, arm_low]), 1),
                                                    (spout, 2)])
    (folder / "measuring_jug.yaml").write_text("""\
# A hand-modelled measuring jug: one PLY mesh whose face property `part` labels the parts.
category: measuring_jug
names: [measuring jug, measuring cup]
mesh: measuring_jug.ply
labels: {attribute: part, names: {0: body, 1: handle, 2: spout}}
material: plastic
parts:
  body: [contain, pour]
  handle: [grasp, hold]
  spout: [pour]
queries:
  - {text: "pick up the measuring jug by its handle", part: handle}
  - {text: "hand me the measuring cup so I can pour", part: handle}
upright: true
hollow: true
""")


def dustpan_brush(folder: Path) -> None:
    """A hand brush for a dustpan: a GLB whose meshes are named after the parts."""
    stock = trimesh.creation.box((0.14, 0.05, 0.022))
    stock.apply_translation((0.07, 0, 0.024))
    bristles = trimesh.creation.box((0.13, 0.045, 0.014))
    bristles.apply_translation((0.07, 0, 0.007))
    handle = trimesh.creation.capsule(height=0.11, radius=0.011, count=[10, 10])
    handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (0, 1, 0)))
    handle.apply_translation((-0.058, 0, 0.024))
    scene = trimesh.Scene()
    for name, m in (("Stock", stock), ("Bristles", bristles), ("Grip", handle)):
        scene.add_geometry(m, geom_name=name, node_name=name)
    scene.export(folder / "dustpan_brush.glb")
    (folder / "dustpan_brush.yaml").write_text("""\
# A hand-modelled dustpan brush: a GLB whose mesh names map to parts (z up, as exported).
category: dustpan_brush
names: [hand brush, dustpan brush, sweeping brush]
mesh: dustpan_brush.glb
labels: {names: {Stock: head, Bristles: bristles, Grip: handle}}
material: plastic
parts:
  head: [scrub]
  bristles: {affordances: [scrub, brush], material: bristle}
  handle: [grasp, hold]
queries:
  - {text: "pick up the hand brush by its handle", part: handle}
  - {text: "give me the dustpan brush so I can sweep", part: handle}
upright: false
""")


def watering_can(folder: Path) -> None:
    """A small watering can with a top loop handle and a long spout; a GLB with one mesh whose
    `_PART` vertex attribute labels the parts."""
    r, h = 0.055, 0.13
    body = lathe([(0, 0), (r, 0), (r, h), (r - 0.003, h), (r - 0.003, 0.003), (0, 0.003)])
    handle = ring_tube((0, 0, h), 0.04, 0.006, (0, 1, 0), arc=(0.15, np.pi - 0.15))
    spout = trimesh.creation.cylinder(radius=0.008, height=0.14, sections=14)
    spout.apply_transform(trimesh.transformations.rotation_matrix(np.radians(55), (0, 1, 0)))
    spout.apply_translation((r + 0.045, 0, 0.07))
    parts = [(body, 0.0), (handle, 1.0), (spout, 2.0)]
    mesh = trimesh.util.concatenate([m for m, _ in parts])
    mesh.vertex_attributes["_PART"] = np.concatenate([np.full(len(m.vertices), k, np.float32) for m, k in parts])
    # glTF is y-up: export rotated, and say so in the YAML.
    mesh.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, (1, 0, 0)))
    mesh.export(folder / "watering_can.glb")
    (folder / "watering_can.yaml").write_text("""\
# A hand-modelled watering can: one glTF mesh, y up, whose vertex attribute _PART labels the parts.
category: watering_can
names: [watering can]
mesh: watering_can.glb
up: y
labels: {attribute: _PART, names: {0: body, 1: handle, 2: spout}}
material: plastic
parts:
  body: [contain]
  handle: [grasp, hold]
  spout: [pour]
queries:
  - {text: "lift the watering can by its handle", part: handle}
  - {text: "hand me the watering can so I can pour", part: handle}
upright: true
""")


def meat_tenderizer(folder: Path) -> None:
    """A meat tenderiser mallet built from MJCF primitives, lying on its side."""
    (folder / "meat_tenderizer.xml").write_text("""\
<mujoco model="meat_tenderizer">
  <worldbody>
    <body name="tool">
      <geom name="grip" type="capsule" fromto="-0.14 0 0.012 0.0 0 0.012" size="0.011"/>
      <geom name="face" type="box" pos="0.03 0 0.022" size="0.03 0.022 0.022"/>
      <geom name="hanger" type="cylinder" pos="-0.13 0 0.03" size="0.004 0.01" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
</mujoco>
""")
    (folder / "meat_tenderizer.yaml").write_text("""\
# A hand-modelled meat tenderiser from MJCF primitives: `geoms` maps geom names to parts
# (geoms it does not name, like the decorative hanger, are left out).
category: meat_tenderizer
names: [meat tenderizer, meat tenderiser, meat mallet]
mjcf: meat_tenderizer.xml
geoms: {grip: handle, face: head}
parts:
  handle: {affordances: [grasp, hold], material: plastic}
  head: {affordances: [pound], material: aluminium}
queries:
  - {text: "hand me the meat tenderizer so I can pound the steak", part: handle}
  - {text: "pick up the meat mallet by the handle", part: handle}
upright: false
""")


def rolling_pin(folder: Path) -> None:
    """A classic wooden rolling pin lying on its barrel: one STL per piece, lathe-turned (a barrel
    with eased edges; two handles with a short neck at the barrel and a rounded end), both handle
    files mapped to the part `handle`. Sizes of a turned maple pin: roller 2.25" x 10.75", 17.75"
    overall (russwood.ca/Rolling Pin); handles 2.8 cm across."""
    L, r, e = 0.273, 0.0285, 0.003
    barrel = lathe([(0, 0), (r - e, 0), (r, e), (r, L - e), (r - e, L), (0, L)], sections=48)
    barrel.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 48, (0, 0, 1)))  # a facet, not an edge, down
    barrel.apply_translation((0, 0, -L / 2))
    barrel.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (0, 1, 0)))   # axis along x
    profile = [(0, 0), (0.0115, 0), (0.0115, 0.006), (0.0135, 0.016), (0.014, 0.030), (0.014, 0.068),
               (0.0132, 0.078), (0.0115, 0.084), (0.008, 0.0875), (0, 0.089)]            # from the barrel's face out
    handles = {}
    for side, sign in (("left", -1.0), ("right", 1.0)):
        h = lathe(profile, sections=32)
        h.apply_translation((0, 0, L / 2))
        h.apply_transform(trimesh.transformations.rotation_matrix(sign * np.pi / 2, (0, 1, 0)))
        handles[side] = h
    for m in (barrel, *handles.values()):
        m.apply_translation((0, 0, r))      # the barrel rests on the table; the handles clear it
    barrel.export(folder / "barrel.stl")
    for side, h in handles.items():
        h.export(folder / f"handle_{side}.stl")
    (folder / "rolling_pin.yaml").write_text("""\
# A hand-modelled wooden rolling pin with two handles, lying on its barrel: one STL file per piece
# (both handle files are the part `handle`). A 5.7 cm barrel 27.3 cm long and 2.8 cm handles
# 8.9 cm long, 45 cm in all, as a turned maple pin (russwood.ca/Rolling%20Pin/rollingpin.htm:
# roller 2.25" x 10.75", 17.75" overall).
# Mass: no shop listing with a weight for a handled pin of this size turned up; the published
# weights found bracket 0.6 kg: Cook's Illustrated, "Testing Rolling Pins"
# (cooksillustrated.com/articles/1395-testing-rolling-pins), a handled pin "just under 2 pounds"
# (0.9 kg); Milk Street's 20" Earlywood French pin without handles, "a perfect one pound" (0.45 kg,
# store.177milkstreet.com/products/french-rolling-pin). 0.6 kg is this pin's 790 cm3 of hard maple
# (about 705 kg/m3: 0.56 kg) with a 3/16" steel axle through it (0.06 kg).
category: rolling_pin
names: [rolling pin, wooden rolling pin, dough roller]
meshes: {barrel.stl: body, handle_left.stl: handle, handle_right.stl: handle}
material: wood
mass: 0.6
parts:
  body: {affordances: [roll]}             # it rolls the dough (the vocabulary has no closer verb)
  handle: {affordances: [grasp, hold]}
queries:
  - {text: "pick up the rolling pin by its handle", part: handle}
  - {text: "hand me the rolling pin so I can roll out the dough", part: handle}
  - {text: "grab the rolling pin by one of its handles", part: handle}
upright: false
""")


MAKERS = (camping_mug, cleaver, measuring_jug, dustpan_brush, watering_can, meat_tenderizer, rolling_pin)

if __name__ == "__main__":
    for make in MAKERS:
        folder = HERE / make.__name__
        folder.mkdir(exist_ok=True)
        make(folder)
        print(f"wrote {folder}")
