"""Cloud building and the antipodal generator on analytic shapes rendered by the twin."""
import numpy as np
import pytest

from affordance_grasp.errors import ConfigError, EmptyCloudError, InvalidInputError
from affordance_grasp.grasping.antipodal import AntipodalConfig, AntipodalGenerator
from affordance_grasp.grasping.base import PrecomputedGrasps
from affordance_grasp.grasping.cloud import build_scene_cloud
from affordance_grasp.grasping.gripper import GripperGeometry
from affordance_grasp.sim.camera import DepthNoise, SimCamera
from affordance_grasp.sim.ground_truth import object_masks
from affordance_grasp.sim.objects import GeomSpec, ObjectSpec, PartSpec
from affordance_grasp.sim.world import PlacedObject, SimWorld
from affordance_grasp.types import CameraIntrinsics, Grasp, RGBDFrame


def shape(name, geom):
    return ObjectSpec(name, [PartSpec("all", ("grasp",), [geom], (0.3, 0.4, 0.8, 1.0))])


BOX = shape("box", GeomSpec("box", (0.06, 0.02, 0.02), (0, 0, 0.02)))           # 12 x 4 x 4 cm
CYL = shape("cyl", GeomSpec("cylinder", (0.03, 0.05), (0, 0, 0.05)))            # 6 cm across
BAR = shape("bar", GeomSpec("box", (0.08, 0.006, 0.014), (0, 0, 0.014)))        # 1.2 cm thick
WALL = shape("wall", GeomSpec("box", (0.10, 0.005, 0.08), (0, 0, 0.08)))


def scene_cloud(objects, target="obj_0", yaw=0.0):
    """Render placed shapes; return the cloud (target = the object named ``target``) and world."""
    world = SimWorld([PlacedObject(name, spec, pos, yaw) for name, spec, pos in objects])
    world.settle(0.3)
    with SimCamera(world) as cam:
        frame = cam.render()
        masks = {m.instance: m for m in object_masks(world, cam.render_geom_ids())}
    return build_scene_cloud(frame, target_mask=masks[target].object_mask), world


def inside_hand(g: Grasp, pts, gripper: GripperGeometry, sweep=0.10):
    local = (pts - g.position) @ g.pose[:3, :3]
    opening = gripper.opening_for(g.width)
    x, y, z = local.T
    fingers = (np.abs(x) <= gripper.finger_half_width) & (np.abs(y) >= opening / 2) & \
        (np.abs(y) <= opening / 2 + gripper.finger_thickness) & (z >= gripper.finger_z_min - sweep) & (z <= gripper.finger_z_max)
    return fingers.any()


@pytest.fixture(scope="module")
def gen():
    return AntipodalGenerator()


def test_box_grasps_have_the_box_width(gen):
    cloud, _ = scene_cloud([("obj_0", BOX, (0.5, 0.0, 0.0005))])
    grasps = gen.generate(cloud, seed=0)
    assert len(grasps) > 10
    widths = np.array([g.width for g in grasps])
    assert widths.max() <= gen.gripper.max_opening
    # Only the 4 cm side fits an 8 cm gripper with margin. Closing axes may be skewed across it
    # (faces seen edge-on give no normals to reject that), but the width measured along the
    # closing axis, projected on the box's y axis, is the box's 4 cm.
    # Corner chords at the hidden back corners cannot be rejected from one view; they rank low,
    # so the check is on the best ten (the ones execution will try).
    for g in grasps[:10]:
        assert abs(g.closing[1]) > 0.75, g.closing
        assert abs(g.width * abs(g.closing[1]) - 0.04) < 0.008, (g.width, g.closing)
    for g in grasps:  # the width is the part's extent between the pads, along the closing axis
        assert abs((g.contacts[1] - g.contacts[0]) @ g.closing) == pytest.approx(g.width, abs=1e-6)
    assert abs(grasps[0].closing[1]) > 0.95  # the best one squarely across


def test_cylinder_and_thin_handle(gen):
    cyl, _ = scene_cloud([("obj_0", CYL, (0.5, 0.1, 0.0005))])
    gc = gen.generate(cyl, seed=0)
    assert gc and all(g.width <= gen.gripper.max_opening for g in gc)
    assert all(abs(g.width - 0.06) < 0.01 for g in gc[:5]), [round(g.width, 3) for g in gc[:5]]
    bar, _ = scene_cloud([("obj_0", BAR, (0.5, -0.1, 0.0005))])
    gb = gen.generate(bar, seed=0)
    assert gb and all(g.width <= gen.gripper.max_opening for g in gb)
    # Grasps squarely across see the bar's 1.2 cm; those skewed within the friction cone (up to
    # atan 0.5 = 27 deg) see its section stretched across the 1.9 cm pads: 1.2 / cos + 1.9 tan.
    assert abs(gb[0].width - 0.012) < 0.005, round(gb[0].width, 4)
    assert all(g.width < 0.012 / np.cos(0.4636) + 0.019 * np.tan(0.4636) + 0.003 for g in gb[:5]), \
        [round(g.width, 3) for g in gb[:5]]
    assert gb[0].approach[2] < -0.8  # the best grasps on a thin bar come from above


def test_wall_and_table_collisions_are_rejected(gen):
    free, _ = scene_cloud([("obj_0", BOX, (0.5, 0.0, 0.0005))])
    # A wall 1.5 cm from the box's +y face: fingers on that side cannot go there.
    walled, world = scene_cloud([("obj_0", BOX, (0.5, 0.0, 0.0005)), ("wall_0", WALL, (0.5, 0.04, 0.0005))])
    a, b = gen.generate(free, seed=0), gen.generate(walled, seed=0)
    assert len(b) < len(a)
    wall_pts = walled.points[walled.objects & ~walled.target]
    assert len(wall_pts) > 50
    for g in b:
        assert not inside_hand(g, wall_pts, gen.gripper)
    for g in a:  # nothing reaches below the table
        assert (g.position + g.approach * gen.gripper.finger_z_max)[2] > 0.0


def test_same_seed_same_result_and_typed_errors(gen):
    cloud, _ = scene_cloud([("obj_0", BOX, (0.5, 0.0, 0.0005))])
    a, b = gen.generate(cloud, seed=3), gen.generate(cloud, seed=3)
    assert len(a) == len(b) and all(np.allclose(x.pose, y.pose) for x, y in zip(a, b))
    cloud.target[:] = False
    with pytest.raises(EmptyCloudError):
        gen.generate(cloud)


def test_build_scene_cloud_errors_and_mask():
    K = CameraIntrinsics(300.0, 300.0, 79.5, 59.5, 160, 120)
    T = np.eye(4)
    T[:3, :3] = np.diag([1.0, -1.0, -1.0])  # looking straight down from 1 m above the origin
    T[:3, 3] = [0.5, 0.0, 1.0]
    rgb = np.zeros((120, 160, 3), np.uint8)
    with pytest.raises(EmptyCloudError, match="no valid pixels"):
        build_scene_cloud(RGBDFrame(rgb, np.full((120, 160), np.nan, np.float32), K, T))
    with pytest.raises(EmptyCloudError, match="workspace"):
        build_scene_cloud(RGBDFrame(rgb, np.full((120, 160), 5.0, np.float32), K, T))  # 4 m below the table
    depth = np.full((120, 160), 1.0, np.float32)
    depth[50:70, 70:90] = 0.96                          # a 4 cm tall block
    mask = np.zeros((120, 160), bool)
    mask[50:70, 70:90] = True
    cloud = build_scene_cloud(RGBDFrame(rgb, depth, K, T), target_mask=mask)
    assert cloud.is_table.sum() > 0.8 * len(cloud)
    assert cloud.target.sum() > 0 and np.all(cloud.points[cloud.target, 2] > 0.03)
    with pytest.raises(InvalidInputError, match="mask"):
        build_scene_cloud(RGBDFrame(rgb, depth, K, T), target_mask=mask[:10])


def test_precomputed_source_keeps_grasps_on_target():
    cloud, _ = scene_cloud([("obj_0", BOX, (0.5, 0.0, 0.0005))])
    near, far = np.eye(4), np.eye(4)
    near[:3, 3] = [0.5, 0.0, 0.03]
    far[:3, 3] = [0.3, 0.2, 0.03]
    kept = PrecomputedGrasps([Grasp(near, 0.04), Grasp(far, 0.04)]).generate(cloud)
    assert len(kept) == 1 and np.allclose(kept[0].position, [0.5, 0, 0.03])


def test_occlusion_fragments_join_their_object_and_nothing_else():
    import open3d as o3d

    from affordance_grasp.grasping.cloud import merge_fragments
    rng = np.random.default_rng(0)
    blob = lambda centre, n, r=0.01: np.asarray(centre) + rng.uniform(-r, r, (n, 3))  # noqa: E731
    parts = [blob([0, 0, 0], 500, 0.03),          # 0: an object
             blob([0.05, 0, 0], 20, 0.005),       # 1: its cut-off handle, ~1.5 cm from it
             blob([0.30, 0, 0], 20, 0.005),       # 2: a small thing far from everything
             blob([0, 0.055, 0], 200, 0.01)]      # 3: a second object beside the first
    labels = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)] + [np.full(5, -1)])
    pts = np.concatenate(parts + [blob([1, 1, 1], 5)])
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    out = merge_fragments(cloud, labels, max_points=120, max_distance=0.035)
    assert set(out[labels == 1]) == {0}
    assert set(out[labels == 2]) == {2} and set(out[labels == 3]) == {3} and set(out[labels == -1]) == {-1}
    assert np.array_equal(merge_fragments(cloud, labels, max_points=10, max_distance=0.035), labels)



def test_clusters_touching_at_a_thin_joint_are_one_object():
    """DBSCAN cuts an object at a sparse joint (a mug handle where it meets the body); clusters
    whose points come within touch_distance are joined, transitively, and no others."""
    import open3d as o3d

    from affordance_grasp.grasping.cloud import join_touching
    rng = np.random.default_rng(1)
    g = np.stack(np.meshgrid(np.linspace(-0.005, 0.005, 6), np.linspace(0.02, 0.03, 6)), -1).reshape(-1, 2)
    face = lambda x: np.c_[np.full(len(g), x), g]  # noqa: E731  a dense 1 cm patch at this x
    body = np.r_[rng.uniform([-0.03, -0.03, 0], [0.03, 0.03, 0.08], (564, 3)), face(0.03)]
    handle = np.r_[rng.uniform([0.034, -0.005, 0.02], [0.06, 0.005, 0.06], (128, 3)), face(0.034), face(0.06)]
    spoon = np.r_[rng.uniform([0.064, -0.005, 0.0], [0.14, 0.005, 0.03], (64, 3)), face(0.064)]
    other = rng.uniform([0.0, 0.07, 0.0], [0.05, 0.12, 0.05], (300, 3))           # 4 cm away
    pts = np.concatenate([body, handle, spoon, other])  # body-handle and handle-spoon 4 mm apart
    labels = np.repeat([0, 1, 2, 3], [600, 200, 100, 300])
    out = join_touching(o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts)), labels, 0.006)
    assert len(set(out[:900])) == 1 and set(out[900:]) == {3}
    assert np.array_equal(join_touching(o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts)), labels, 0.003),
                          labels)

def _visible_near_half(points, camera_dir):
    """The points whose outward horizontal normal faces the camera (a one-view cloud)."""
    return points[points[:, :2] @ camera_dir[:2] > 0]


def test_grasps_slide_onto_the_widest_chord_of_a_round_part(gen):
    """One view sees the near half of a cylinder: a run through it is a chord in front of the axis.
    Re-centring moves the TCP onto the axis and takes the diameter; a box stays where it was."""
    from types import SimpleNamespace
    r, cam = 0.015, np.array([-1.0, 0.0, 0.0])                      # camera on -x, looking along +x
    ang, z = np.meshgrid(np.linspace(0, 2 * np.pi, 180, endpoint=False), np.linspace(0.15, 0.19, 21))
    cyl = np.stack([r * np.cos(ang).ravel(), r * np.sin(ang).ravel(), z.ravel()], 1)
    pts = _visible_near_half(cyl, cam)
    cloud = SimpleNamespace(points=pts, objects=np.ones(len(pts), bool))
    R = np.array([[[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]]])  # top-down; closing y, pad width -x
    tcp = np.array([[-0.010, 0.0, 0.175]])                             # a chord 1 cm in front of the axis
    chord = 2 * np.sqrt(r ** 2 - 0.010 ** 2)
    new_tcp, new_w = gen._recentre(R, tcp, np.array([chord]), cloud)
    # the 90 %-wide chords of the seen half span [-0.44 r, 0]: their middle is within 1/3 r of the axis
    assert abs(new_tcp[0, 0]) <= 0.005 and new_tcp[0, 2] == pytest.approx(0.175)
    assert new_w[0] == pytest.approx(2 * r, abs=0.002)
    # a 3 cm box seen from the front and top: every chord is as wide; the grasp stays centred
    xs, ys = np.meshgrid(np.linspace(-0.015, 0.015, 16), np.linspace(-0.015, 0.015, 16))
    top = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, 0.19)], 1)
    yz, zz = np.meshgrid(np.linspace(-0.015, 0.015, 16), np.linspace(0.15, 0.19, 21))
    front = np.stack([np.full(yz.size, -0.015), yz.ravel(), zz.ravel()], 1)
    box = np.concatenate([top, front])
    cloud = SimpleNamespace(points=box, objects=np.ones(len(box), bool))
    new_tcp, new_w = gen._recentre(R, np.array([[0.0, 0.0, 0.175]]), np.array([0.03]), cloud)
    assert abs(new_tcp[0, 0]) < 0.003 and new_w[0] == pytest.approx(0.03, abs=0.002)


def _visible_scene(category: str, part: str, start: int = 0):
    """The first seed from ``start`` whose scene shows ``part`` of the category's first object."""
    from affordance_grasp.sim.scene import sample_scene
    for seed in range(start, start + 30):
        world = sample_scene(seed, categories=[category]).build()
        with SimCamera(world) as cam:
            frame = cam.render(DepthNoise(), np.random.default_rng(seed))
            masks = {m.instance: m for m in object_masks(world, cam.render_geom_ids())}
        m = masks[f"{category}_0"]
        if m.parts[part].sum() >= 150:
            return seed, world, frame, m
    raise AssertionError(f"no scene shows the {category}'s {part}")


@pytest.mark.parametrize("category, part", [("knife", "handle"), ("spatula", "handle"), ("mug", "handle"),
                                            ("ladle", "handle"), ("bowl", "rim"), ("cup", "rim"),
                                            ("teacup", "handle")])
def test_grasps_on_flat_tools_handle_loops_rims_and_necks_succeed(gen, ik, category, part):
    """Flat tools lying on the table, handles next to a body, the rims of a bowl and a cup:
    candidates land on the part, and the best one on it lifts the object."""
    from affordance_grasp.sim.executor import SimExecutor
    from affordance_grasp.execution.fallback import execute_with_fallback
    from affordance_grasp.selection.strategies import heatmap_from_mask, rank
    from affordance_grasp.types import AffordanceQuery
    from affordance_grasp.selection.scoring import heat_at_points
    # The first teacup scene's handle faces away from the robot: its handle grasps (affordance
    # 0.85) are out of the arm's reach, and the reachable ones also touch the body, below the
    # fallback's floor. The generator does not know the arm's reach (docs/grasping.md); this test
    # is about grasps on the part, so the teacup starts from the next scene.
    seed, world, frame, m = _visible_scene(category, part, start=3 if category == "teacup" else 0)
    cloud = build_scene_cloud(frame, target_mask=m.object_mask)
    q = AffordanceQuery("test", category, "grasp", part)
    amap = heatmap_from_mask(m.parts[part], q)
    # Half the seeds where the part is, as the pipeline draws them: a teacup's handle is a few
    # percent of its points.
    grasps = gen.generate(cloud, seed=seed, seed_weights=heat_at_points(amap.heatmap, cloud.pixels))
    ranked = rank("oracle", grasps, frame, amap=amap)
    assert ranked and ranked[0].affordance_score > 0.5, grasps.report.summary()
    out = execute_with_fallback(SimExecutor(world, ik=ik), ranked, max_attempts=3, min_affordance_ratio=0.75)
    assert out.success, (out.failure_reason, out.attempts)
    assert f"{category}_0/{part}" in out.parts_touched


@pytest.mark.parametrize("category, part", [("mug", "handle"), ("wine_glass", "stem")])
def test_seed_weights_put_candidates_on_a_narrow_part(gen, category, part):
    """A mug's handle or a glass's stem holds a few percent of the object's points: uniform
    seeds give it few candidates. Seeds weighted by the part's heat, read as the scorer reads
    it, give several times more."""
    from affordance_grasp.apps.bench import candidates_on
    from affordance_grasp.selection.scoring import heat_at_points
    from affordance_grasp.selection.strategies import heatmap_from_mask
    from affordance_grasp.types import AffordanceQuery
    seed, world, frame, m = _visible_scene(category, part)
    cloud = build_scene_cloud(frame, target_mask=m.object_mask)
    handle = m.parts[part]
    heat = heatmap_from_mask(handle, AffordanceQuery("test", category, "grasp", part)).heatmap
    weights = heat_at_points(heat, cloud.pixels)
    assert weights.shape == (len(cloud.points),) and 0.5 < weights.max() <= 1.0 + 1e-6
    on_uniform = candidates_on(gen.generate(cloud, seed=seed), frame, handle)
    on_weighted = candidates_on(gen.generate(cloud, seed=seed, seed_weights=weights), frame, handle)
    assert on_weighted >= max(3 * on_uniform, 20), (on_uniform, on_weighted)
    with pytest.raises(InvalidInputError, match="one weight per cloud point"):
        gen.generate(cloud, seed=seed, seed_weights=weights[:-1])
    with pytest.raises(InvalidInputError, match="outside"):
        heat_at_points(heat[:100], cloud.pixels)


def test_no_grasp_says_which_filter_removed_the_candidates(gen):
    cloud, _ = scene_cloud([("obj_0", BOX, (0.5, 0.0, 0.0005))])
    wide = AntipodalGenerator(config=AntipodalConfig(min_width=0.2))
    none = wide.generate(cloud, seed=0)
    assert len(none) == 0
    rep = none.report
    assert rep.made["seeds"] > 0 and rep.removed["width outside the stroke"] > 0
    assert "width outside the stroke" in rep.summary()


def test_collision_sweep_agrees_with_a_per_candidate_check():
    """The sweep tests chunks of nearby candidates against the points inside their hands'
    bounds only: it must find what testing every candidate against every point finds (here with
    the hand's boxes as they are, no clearance around them)."""
    from scipy.spatial.transform import Rotation
    gen = AntipodalGenerator(config=AntipodalConfig(finger_clearance=0.0))
    from affordance_grasp.grasping.antipodal import _hand_boxes
    free, _ = scene_cloud([("obj_0", BOX, (0.5, 0.0, 0.0005))])
    base = gen.generate(free, seed=0)[:60]
    assert len(base) > 30, len(base)
    cloud, _ = scene_cloud([("obj_0", BOX, (0.5, 0.0, 0.0005)), ("wall_0", WALL, (0.5, 0.04, 0.0005))])
    rng = np.random.default_rng(0)
    # The generator's own grasps plus the same turned and shifted at random: a mix of free,
    # colliding and empty hands.
    R = np.concatenate([[g.pose[:3, :3] for g in base],
                        [Rotation.random(random_state=int(s)).as_matrix() @ g.pose[:3, :3]
                         for s, g in zip(rng.integers(1 << 30, size=len(base)), base)]])
    tcp = np.concatenate([[g.position for g in base], [g.position + rng.normal(0, 0.02, 3) for g in base]])
    width = np.concatenate([[g.width for g in base]] * 2)
    # Side approaches from just past the box, which then lies in the path the hand came along.
    a = rng.uniform(-np.pi, np.pi, 40)
    z_ax = np.stack([np.cos(a), np.sin(a), np.zeros_like(a)], 1)
    y_ax = np.stack([-np.sin(a), np.cos(a), np.zeros_like(a)], 1)
    R = np.concatenate([R, np.stack([np.cross(y_ax, z_ax), y_ax, z_ax], 2)])
    tcp = np.concatenate([tcp, np.array([0.5, 0.0, 0.05]) + z_ax * rng.uniform(0.08, 0.2, (40, 1))])
    width = np.concatenate([width, np.full(40, 0.02)])
    g = gen.gripper
    opening = np.minimum(g.max_opening, width + g.pregrasp_clearance)
    centres, halves = _hand_boxes(g, opening)
    outcomes = []
    # One candidate per chunk tests each hand's own bounds; the default, bounds shared by a chunk.
    for scene, chunk in ((free, 1), (cloud, 1), (free, 64), (cloud, 64)):
        hit, low, between, foreign, *_ = gen._collision_free(R, tcp, width, scene, chunk=chunk)
        pts, tgt = scene.points[scene.objects], (scene.target & scene.objects)[scene.objects]
        for n in np.nonzero(~low)[0]:
            x, y, z = ((pts - tcp[n]) @ R[n]).T

            def hits(e):   # any point in a box grown by e (shrunk for e < 0)
                return any(np.any((np.abs(x - c[0]) <= h[0] + e) & (np.abs(y - c[1]) <= h[1] + e)
                                  & (z >= c[2] - h[2] - gen.cfg.pregrasp_offset - e) & (z <= c[2] + h[2] + e))
                           for c, h in zip(centres[n], halves))

            def between_pads(e, mine=True):
                return int(((np.abs(x) <= g.finger_half_width + e) & (np.abs(y) < opening[n] / 2 + e)
                            & (z >= g.finger_z_min - e) & (z <= g.finger_z_max + e) & (tgt == mine)).sum())

            # The sweep runs in float32: a point within 10 um of a face may fall either way.
            eps = 1e-5
            assert hits(-eps) <= hit[n] <= hits(eps), n
            if not hit[n]:
                assert between_pads(-eps) <= between[n] <= between_pads(eps), n
                assert between_pads(-eps, False) <= foreign[n] <= between_pads(eps, False), n
            outcomes.append(bool(hit[n]))
    assert len(outcomes) > 200 and 20 < sum(outcomes) < len(outcomes) - 10   # both outcomes were exercised


def test_generation_reports_where_its_time_went(gen):
    cloud, _ = scene_cloud([("obj_0", BOX, (0.5, 0.0, 0.0005))])
    grasps = gen.generate(cloud, seed=0)
    assert grasps
    stages = grasps.report.times.seconds
    for name in ("seeds", "run search", "friction cone", "re-centring", "collision sweep"):
        assert stages[name] >= 0.0, name
    assert {"crop", "voxel", "plane", "normals", "cluster"} <= set(cloud.times.seconds)


def test_grasps_do_not_enclose_a_neighbour_between_the_pads(gen):
    """A 1 cm bar 8 mm beside a 4 cm box is inside the opened fingers (1.5 cm clearance a side): a grasp
    that closes on both lifts the wrong thing or jams. Such candidates are removed and said so."""
    small = shape("bar", GeomSpec("box", (0.06, 0.005, 0.01), (0, 0, 0.01)))
    cloud, _ = scene_cloud([("obj_0", BOX, (0.5, 0.0, 0.0005)), ("bar_0", small, (0.5, 0.033, 0.0005))])
    grasps = gen.generate(cloud, seed=0)
    rep = grasps.report
    assert rep.removed["another object between the pads"] > 0, rep.summary()
    assert grasps, rep.summary()
    g = gen.gripper
    neighbour = cloud.points[cloud.objects & ~cloud.target]
    assert len(neighbour) > 50
    for gr in grasps:
        x, y, z = ((neighbour - gr.position) @ gr.pose[:3, :3]).T
        inside = (np.abs(x) <= g.finger_half_width) & (np.abs(y) < g.opening_for(gr.width) / 2) \
            & (z >= g.finger_z_min) & (z <= g.finger_z_max)
        assert inside.sum() <= gen.cfg.max_foreign_between


@pytest.mark.parametrize("category", ["hammer", "mallet"])
def test_heavy_tools_are_grasped_near_their_centre_of_mass(gen, ik, category):
    """A hammer held by the end of its handle twists out of the pads when lifted: its head
    weighs most of it. The best ranked handle grasp lies nearer the twin's true centre of mass
    than most handle grasps do, and one of the five best lifts the tool in the twin (each tried
    on the scene as it was: a slip ends a trial in the pipeline, to re-perceive)."""
    import mujoco
    from affordance_grasp.sim.executor import SimExecutor
    from affordance_grasp.grasping.hold import lever_arms
    from affordance_grasp.selection.strategies import heatmap_from_mask, rank
    from affordance_grasp.types import AffordanceQuery
    from affordance_grasp.affordance.query import Vocabulary
    from affordance_grasp.pipeline import mark_hold_inputs
    from affordance_grasp.selection.scoring import heat_at_points
    seed, world, frame, m = _visible_scene(category, "handle")
    cloud = build_scene_cloud(frame, target_mask=m.object_mask)
    q = AffordanceQuery("test", category, "grasp", "handle")
    amap = heatmap_from_mask(m.parts["handle"], q)
    # What the pipeline knows once it has named the object: its kind and where the handle is.
    heat = heat_at_points(amap.heatmap, cloud.pixels)
    mark_hold_inputs(cloud, q, heat, Vocabulary.load())
    grasps = gen.generate(cloud, seed=seed, seed_weights=heat)
    ranked = rank("oracle", grasps, frame, amap=amap)
    assert ranked and ranked[0].affordance_score > 0.5, grasps.report.summary()
    com = world.data.xipos[mujoco.mj_name2id(world.model, mujoco.mjtObj.mjOBJ_BODY, f"{category}_0")]
    on_handle = [r for r in ranked if r.affordance_score > 0.5]
    arm = lambda gr: float(lever_arms(gr.pose[None, :3, :3], gr.position[None], com)[0][0])
    assert arm(ranked[0]) < np.percentile([arm(r) for r in on_handle], 25), \
        (arm(ranked[0]), np.percentile([arm(r) for r in on_handle], [0, 25, 50]))
    from affordance_grasp.sim.scene import sample_scene
    outcomes = [SimExecutor(sample_scene(seed, categories=[category]).build(), ik=ik).execute(g) for g in ranked[:5]]
    assert any(o.success and f"{category}_0/handle" in o.parts_touched for o in outcomes), \
        [(o.failure_reason, round(o.lifted_height, 3)) for o in outcomes]


def test_pads_that_would_touch_another_part_rank_below_those_on_the_part_alone(gen):
    """A mug's handle sits beside its body: some handle grasps would press the body too. Once the
    request's heat marks where the handle is (``mark_hold_inputs``), exactly the grasps whose pads
    reach points the heat puts clearly elsewhere keep ``other_part_factor`` of their score."""
    from affordance_grasp.affordance.query import Vocabulary
    from affordance_grasp.pipeline import ELSEWHERE, mark_hold_inputs
    from affordance_grasp.selection.scoring import heat_at_points
    from affordance_grasp.selection.strategies import heatmap_from_mask
    from affordance_grasp.types import AffordanceQuery
    seed, world, frame, m = _visible_scene("mug", "handle")
    cloud = build_scene_cloud(frame, target_mask=m.object_mask)
    q = AffordanceQuery("test", "mug", "grasp", "handle")
    heat = heat_at_points(heatmap_from_mask(m.parts["handle"], q).heatmap, cloud.pixels)
    mark_hold_inputs(cloud, q, heat, Vocabulary.load())
    gen = AntipodalGenerator(config=AntipodalConfig(max_draw_back=0.0))   # the same candidates both times
    cloud.grip = None         # the heat alone says where the other part is
    elsewhere = cloud.elsewhere
    assert elsewhere is not None and 0 < elsewhere.sum() < cloud.target.sum()
    np.testing.assert_array_equal(elsewhere, cloud.target & (heat < ELSEWHERE))
    cloud.elsewhere = None
    key = lambda gr: np.round(gr.pose, 5).tobytes()   # noqa: E731
    blind = {key(gr): gr for gr in gen.generate(cloud, seed=seed, seed_weights=heat)}
    cloud.elsewhere = elsewhere
    told = gen.generate(cloud, seed=seed, seed_weights=heat)
    g = gen.gripper
    pts = cloud.points[elsewhere]
    penalised = 0

    def reaches(gr, half_opening, past_tips=0.0):
        x, y, z = ((pts - gr.position) @ gr.pose[:3, :3]).T
        return bool(((np.abs(x) <= g.finger_half_width + gen.cfg.part_margin) & (np.abs(y) < half_opening)
                     & (z >= g.finger_z_min) & (z <= g.finger_z_max + past_tips)).any())

    for gr in told:
        assert gr.quality == pytest.approx(blind[key(gr)].quality, rel=0.01)
        ratio = gr.part_only / blind[key(gr)].part_only
        # (the hold draws may differ in the last digits: the two cases are 1 and 0.3 apart)
        assert ratio == pytest.approx(1.0, rel=0.01) or ratio == pytest.approx(gen.cfg.other_part_factor, rel=0.01), ratio
        if ratio < 1:   # the pads (open wider than the part while closing) reach elsewhere ...
            # (or lie within a sample spacing past the fingertips, where the object goes on). They
            # close from the chord the generator measured plus the pre-grasp clearance, which the
            # grasp's reported width (its contacts' extent) does not give back: at most the stroke.
            assert reaches(gr, g.max_opening / 2, gen.cfg.patch_sample)
            penalised += 1
        else:           # ... and no point elsewhere lies between the pads as they close on the part
            assert not reaches(gr, gr.width / 2)
    assert 0 < penalised < len(told)


@pytest.mark.parametrize("category, part", [("cup", "rim"), ("bowl", "rim")])
def test_fingertips_stop_short_of_the_body_below_a_rim(gen, ik, category, part):
    """A rim is a band shorter than the pads: at the nominal depth the fingertips reach the
    cup's wall below it. Such grasps are also tried drawn back until the fingertips stop short of
    the rest of the object, and the best grasp on the rim lifts the object touching the rim alone."""
    from affordance_grasp.affordance.query import Vocabulary
    from affordance_grasp.sim.executor import SimExecutor
    from affordance_grasp.pipeline import mark_hold_inputs
    from affordance_grasp.execution.fallback import execute_with_fallback
    from affordance_grasp.selection.scoring import heat_at_points
    from affordance_grasp.selection.strategies import heatmap_from_mask, rank
    from affordance_grasp.types import AffordanceQuery
    # The first teacup scene's handle faces away from the robot: its handle grasps (affordance
    # 0.85) are out of the arm's reach, and the reachable ones also touch the body, below the
    # fallback's floor. The generator does not know the arm's reach (docs/grasping.md); this test
    # is about grasps on the part, so the teacup starts from the next scene.
    seed, world, frame, m = _visible_scene(category, part, start=3 if category == "teacup" else 0)
    cloud = build_scene_cloud(frame, target_mask=m.object_mask)
    q = AffordanceQuery("test", category, "grasp", part)
    amap = heatmap_from_mask(m.parts[part], q)
    heat = heat_at_points(amap.heatmap, cloud.pixels)
    mark_hold_inputs(cloud, q, heat, Vocabulary.load())
    grasps = gen.generate(cloud, seed=seed, seed_weights=heat)
    ranked = rank("oracle", grasps, frame, amap=amap)
    assert grasps.report.made.get("drawn back short of another part", 0) > 0, grasps.report.summary()
    out = execute_with_fallback(SimExecutor(world, ik=ik), ranked, max_attempts=3, min_affordance_ratio=0.75)
    assert out.success, (out.failure_reason, out.attempts)
    assert set(out.parts_touched) == {f"{category}_0/{part}"}, out.parts_touched


def test_a_part_resting_on_the_table_is_not_pinched_above_its_middle(gen):
    """An 8 mm slat lying flat: the fingertips keep 1.5 mm off the table and must reach
    ``below_middle`` under its middle (4.25 mm up), or the pads, touching less than ``edge_band``
    of its height, would press on its top edge and squeeze it out when lifted. With the defaults
    the best grasps reach that low and hold (the slat weighs little); asking for 4 mm below the
    middle (the fingertips would have to reach 0.25 mm) and counting contact bands under 8 mm as
    thin, every grasp keeps 0.3 of its quality (not of its probability of holding, which says how
    its friction carries its weight), and the report counts them."""
    slat = shape("slat", GeomSpec("box", (0.08, 0.012, 0.004), (0, 0, 0.004)))
    cloud, _ = scene_cloud([("obj_0", slat, (0.5, 0.0, 0.0005))])
    grasps = gen.generate(cloud, seed=0)
    assert grasps and grasps[0].hold == pytest.approx(1.0)
    strict = AntipodalGenerator(config=AntipodalConfig(below_middle=0.004, edge_band=0.008))
    edge = strict.generate(cloud, seed=0)
    assert edge and edge[0].hold == pytest.approx(1.0)
    assert max(g.quality for g in edge) <= 0.3 * max(g.quality for g in grasps) + 1e-9
    made = edge.report.made["pads above the middle of a part resting on the table (ranked down)"]
    assert made == len(edge)


def test_a_backend_written_against_the_predictor_interface_runs_the_whole_pipeline():
    """A user's backend implements ``predict`` alone and finds the object itself: the pipeline
    needs nothing else of it, and what it returns with the map (times, reasoning) reaches the
    detection."""
    from affordance_grasp.affordance.backends.base import Predictor
    from affordance_grasp.affordance.backends.affordance_r1 import AffordanceR1Predictor
    from affordance_grasp.affordance.predictor import AffordancePredictor
    from affordance_grasp.pipeline import GraspPipeline
    from affordance_grasp.ros.truth_predictor import GroundTruthPredictor
    from affordance_grasp.selection.strategies import heatmap_from_mask

    assert all(issubclass(c, Predictor) for c in (AffordancePredictor, AffordanceR1Predictor, GroundTruthPredictor))
    seed, world, frame, m = _visible_scene("mug", "handle")

    class HandleFinder(Predictor):
        model_id, grounds_itself = "handle finder", True

        def predict(self, frame, query, box=None):
            amap = heatmap_from_mask(m.parts["handle"], query, model_id=self.model_id)
            amap.times, amap.reasoning = {"look": 0.001}, "the handle is the loop on the right"
            return amap

    det = GraspPipeline(HandleFinder()).detect(frame, "pick up the mug by its handle", seed=seed)
    assert det.grasps and "pointed at it" in det.choice.reason and "loop on the right" in det.choice.reason
    assert det.timings["affordance.look"] == 0.001
    with pytest.raises(ConfigError, match="names no objects"):
        HandleFinder().category_probabilities(frame, [[0, 0, 10, 10]])


def test_the_fingers_keep_their_clearance_from_what_they_pass():
    """A point of another object 2 mm outside a finger's outer face, at its corner, is grazed by
    a hand with no clearance and kept clear of with the default 3 mm; the same point on the part
    the fingers take is not (it is squeezed next), nor is a point 2 mm inside the opening beside
    the pad face (what is between the pads is taken)."""
    cloud, _ = scene_cloud([("obj_0", BOX, (0.5, 0.0, 0.0005))])
    g = AntipodalGenerator().gripper
    R = np.array([[[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]]])     # top-down, closing along -y
    tcp = np.array([[0.5, 0.0, 0.2]])                             # far above the box
    width = np.array([0.02])
    o = min(g.max_opening, 0.02 + g.pregrasp_clearance) / 2
    corner = np.array([g.finger_half_width + 0.002, o + g.finger_thickness + 0.002, g.finger_z_max - 0.001])
    inside = np.array([0.0, o - 0.002, 0.0])
    k = int(np.nonzero(cloud.objects & cloud.target)[0][0])
    for local, on_part, padded in ((corner, False, True), (corner, True, False), (inside, False, False)):
        cloud.points[k] = tcp[0] + R[0] @ local
        cloud.target[k] = on_part
        for clearance, expected in ((0.0, False), (0.003, padded)):
            gen = AntipodalGenerator(config=AntipodalConfig(finger_clearance=clearance))
            hit = gen._collision_free(R, tcp, width, cloud)[0]
            assert bool(hit[0]) == expected, (local, on_part, clearance)


def test_fingers_that_meet_a_wider_body_below_a_lid_are_drawn_back_onto_the_lid(gen):
    """A 6 cm lid, 1.2 cm tall, on a 9 cm body: the open fingers (8 cm apart) come down into the
    body's shoulder at every depth that puts the pads on the lid's middle. Drawn back until their
    tips stop short of it, they take the lid alone (2 grasps were left without the draw-back, 268
    with it)."""
    jar = ObjectSpec("jar", [PartSpec("body", ("contain",), [GeomSpec("cylinder", (0.045, 0.04), (0, 0, 0.04))],
                                      (0.3, 0.4, 0.8, 1.0)),
                             PartSpec("lid", ("grasp",), [GeomSpec("cylinder", (0.03, 0.006), (0, 0, 0.086))],
                                      (0.8, 0.3, 0.2, 1.0))])
    world = SimWorld([PlacedObject("obj_0", jar, (0.5, 0.0, 0.0), 0.0)])
    world.settle(0.3)
    with SimCamera(world) as cam:
        frame = cam.render()
        m = {o.instance: o for o in object_masks(world, cam.render_geom_ids())}["obj_0"]
    cloud = build_scene_cloud(frame, target_mask=m.parts["lid"])
    cloud.body = cloud.cluster == cloud.cluster[cloud.target][0]
    grasps = gen.generate(cloud, seed=0)
    assert len(grasps) >= 50, grasps.report.summary()
    body = cloud.points[cloud.body & ~cloud.target]
    assert not any(inside_hand(g, body, gen.gripper, sweep=0.0) for g in grasps[:20])
    top_down = [g for g in grasps if g.pose[2, 2] < -np.cos(np.radians(15))]
    assert top_down and all(g.position[2] > 0.08 for g in top_down)


def test_the_table_plane_is_refitted_to_the_same_plane_from_any_nearby_ransac_answer():
    """Open3D's RANSAC returns slightly different planes from run to run; the least-squares refit
    on the inliers lands on one plane from any of them (so a benchmark's candidates repeat)."""
    from affordance_grasp.grasping.cloud import refine_plane
    rng = np.random.default_rng(0)
    table = np.c_[rng.uniform(0, 1, (2000, 2)), rng.normal(0.0, 0.001, 2000)]
    box = np.c_[rng.uniform(0.4, 0.5, (300, 2)), rng.uniform(0.01, 0.08, 300)]
    pts = np.concatenate([table, box])
    answers = [refine_plane(pts, np.array([0.0, tilt, 1.0, off]), 0.006) for tilt, off in
               ((0.0, 0.0), (0.002, -0.0008), (-0.003, 0.0011))]
    for n, d, inliers in answers:
        np.testing.assert_array_equal(n, answers[0][0])
        assert d == answers[0][1]
        np.testing.assert_array_equal(inliers, answers[0][2])
    n, d, inliers = answers[0]
    assert abs(n[2]) > 0.999 and abs(d) < 1e-3
    assert inliers[:2000].mean() > 0.99 and not inliers[2000:].any()
