"""The hold model: will two pads hold an object's weight when the grasp is off its centre of mass?"""
import numpy as np
import pytest

from affordance_grasp.errors import InvalidInputError
from affordance_grasp.grasping.hold import (HoldConfig, column_volume, estimate_mass, hold_factor,
                                            lever_arms)


def top_grid(x0, x1, y0, y1, z, step=0.0025):
    xs, ys = np.meshgrid(np.arange(x0, x1, step), np.arange(y0, y1, step))
    return np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, z)], 1)


def vertical_grasps(xs, closing=(0.0, 1.0, 0.0)):
    """Top-down grasps (approach -z) at x positions along a tool lying along x, closing along ``closing``."""
    y = np.asarray(closing, float)
    z = np.array([0.0, 0.0, -1.0])
    x = np.cross(y, z)
    R = np.tile(np.stack([x, y, z], 1), (len(xs), 1, 1))
    tcp = np.stack([np.asarray(xs, float), np.zeros(len(xs)), np.full(len(xs), 0.02)], 1)
    return R, tcp


def test_column_volume_of_a_box_seen_from_above():
    # a 10 x 6 cm top face 4 cm above the table, plus side points below it that must not add
    top = top_grid(0.0, 0.10, 0.0, 0.06, 0.04)
    side = np.stack([np.linspace(0, 0.1, 50), np.zeros(50), np.linspace(0.0, 0.04, 50)], 1)
    v, c = column_volume(np.concatenate([top, side]), table_height=0.0, cell=0.005)
    assert v == pytest.approx(0.10 * 0.06 * 0.04, rel=0.1)
    np.testing.assert_allclose(c, [0.05, 0.03, 0.02], atol=0.004)
    assert column_volume(np.zeros((0, 3)), 0.0)[0] == 0.0
    # points below the table (depth noise) weigh nothing
    assert column_volume(top - [0, 0, 0.05], table_height=0.0)[0] == 0.0
    assert estimate_mass(top, 0.0).mass == pytest.approx(1000 * v, rel=0.01)


def test_the_centre_of_mass_follows_the_volume_not_the_number_of_points():
    # a hammer seen from above: a long 1.5 cm tall handle with many points, and a 4 cm tall
    # head at its end with few. The volume sits in the head, most points on the handle.
    handle = top_grid(0.0, 0.25, -0.012, 0.012, 0.015)
    head = top_grid(0.25, 0.28, -0.05, 0.05, 0.04, step=0.005)
    pts = np.concatenate([handle, head])
    com = estimate_mass(pts, 0.0).com
    v_handle, v_head = 0.25 * 0.024 * 0.015, 0.03 * 0.10 * 0.04
    expected_x = (v_handle * 0.125 + v_head * 0.265) / (v_handle + v_head)
    assert com[0] == pytest.approx(expected_x, abs=0.01)
    assert com[0] > pts.mean(0)[0] + 0.03


def test_a_grasp_at_the_centre_of_mass_holds_and_one_far_from_it_twists_out():
    R, tcp = vertical_grasps([0.0, 0.03, 0.06, 0.12])
    com = np.array([0.0, 0.0, 0.02])
    width = np.full(4, 0.02)
    torsion, bending = lever_arms(R, tcp, com)
    # a tool along x, closed across it (y) from above: the weight twists it about the closing axis
    np.testing.assert_allclose(torsion, [0.0, 0.03, 0.06, 0.12], atol=1e-9)
    np.testing.assert_allclose(bending, 0.0, atol=1e-9)
    h = hold_factor(R, tcp, width, com, mass=0.75)
    assert h[0] == pytest.approx(1.0) and np.all(np.diff(h) < 0)
    # 0.75 kg at 12 cm: 0.88 N m against ~0.23 N m of torsional friction
    assert h[-1] < 0.1 and h[1] > 0.3
    # a lighter object held at the same place holds better
    assert np.all(hold_factor(R, tcp, width, com, mass=0.1)[1:] > h[1:])


def test_a_grasp_closing_along_the_lever_is_held_by_the_pads_couple():
    # closing along the tool (x): the gravity torque is across the closing axis, held by
    # the friction couple of two contacts a grasp width apart, far more than torsion holds
    R_t, tcp = vertical_grasps([0.06])
    R_b, _ = vertical_grasps([0.06], closing=(1.0, 0.0, 0.0))
    com = np.array([0.0, 0.0, 0.02])
    t, b = lever_arms(R_b, tcp, com)
    assert t[0] == pytest.approx(0.0, abs=1e-9) and b[0] == pytest.approx(0.06)
    across = hold_factor(R_t, tcp, [0.03], com, 0.75)[0]
    along = hold_factor(R_b, tcp, [0.03], com, 0.75)[0]
    assert along > across


def test_hold_rejects_bad_input():
    R, tcp = vertical_grasps([0.0])
    with pytest.raises(InvalidInputError, match="mass"):
        hold_factor(R, tcp, [0.02], np.zeros(3), mass=-1.0)
    with pytest.raises(InvalidInputError, match="mass"):
        hold_factor(R, tcp, [0.02], np.zeros(3), mass=float("nan"))
    with pytest.raises(InvalidInputError, match="grip_force"):
        hold_factor(R, tcp, [0.02], np.zeros(3), mass=0.2, cfg=HoldConfig(grip_force=0.0))
    with pytest.raises(InvalidInputError, match=r"\(N, 3\)"):
        column_volume(np.zeros((4, 2)), 0.0)
    # no weight seen: nothing to twist
    np.testing.assert_allclose(hold_factor(R, tcp, [0.02], np.zeros(3), mass=0.0), 1.0)


def test_hold_probability_is_robust_to_friction_mass_and_centre_of_mass():
    from affordance_grasp.grasping.hold import MassEstimate, hold_probability
    R, tcp = vertical_grasps([0.0, 0.02, 0.05, 0.15])
    width = np.full(4, 0.02)
    est = MassEstimate(0.6, np.array([0.0, 0.0, 0.02]))
    p = hold_probability(R, tcp, width, est)
    assert p.shape == (4,) and np.all((0 <= p) & (p <= 1))
    # at the centre of mass it holds in (nearly) every draw; 15 cm out it holds in none
    assert p[0] >= 0.95 and p[-1] == 0.0 and np.all(np.diff(p) <= 0)
    # a grasp at the torsional limit at the worst draw holds in some draws, not all
    assert 0.0 < p[1] < 1.0 or 0.0 < p[2] < 1.0
    np.testing.assert_allclose(hold_probability(R, tcp, width, MassEstimate(0.0, est.com)), 1.0)
    assert np.array_equal(p, hold_probability(R, tcp, width, est))        # seeded: same answer


def test_a_bar_held_at_its_end_by_hand_computed_numbers():
    """A 0.5 kg bar, its centre of mass 10 cm from the grasp along the bar, closed across it:
    gravity's torque 0.5 x 9.81 x 0.10 = 0.49 N m about the closing axis; the pads' torsional
    friction at 70 N, mu 0.5, 5 mm patches: 2 x 2/3 x 0.5 x 70 x 0.005 = 0.233 N m."""
    from affordance_grasp.grasping.hold import hold_load
    R, tcp = vertical_grasps([0.10])
    needed, resisted = hold_load(R, tcp, [0.02], np.array([0.0, 0.0, 0.02]), 0.5 * 9.81, 0.5, HoldConfig())
    assert needed[0] == pytest.approx(0.4905, abs=1e-4) and resisted[0] == pytest.approx(0.2333, abs=1e-4)


def test_a_request_whose_part_cannot_hold_is_refused_with_numbers():
    from affordance_grasp.errors import CannotHoldError
    from affordance_grasp.grasping.base import GenerationReport
    from affordance_grasp.pipeline import GraspPipeline
    from affordance_grasp.types import AffordanceQuery, Grasp
    R, tcp = vertical_grasps([0.20, 0.0])
    T = np.tile(np.eye(4), (2, 1, 1))
    T[:, :3, :3], T[:, :3, 3] = R, tcp
    on_part, elsewhere = Grasp.many(T, [0.02, 0.05], [0.8, 0.6], np.zeros((2, 2, 3)), hold=[0.05, 0.9])
    on_part.affordance_score, elsewhere.affordance_score = 0.9, 0.1
    rep = GenerationReport(physical={"mass_kg": 1.4, "centre_of_mass": [0.0, 0.0, 0.02]})
    q = AffordanceQuery("pick up the pan by its handle", "pan", "grasp", "handle")
    pipe = GraspPipeline(predictor=None)
    with pytest.raises(CannotHoldError, match=r"the pan \(about 1.40 kg seen\) cannot be held by its handle: "
                                              r"the best grasp there holds in 5%.*needs 2.75 N m.*resist 0.23 N m"
                                              r".*elsewhere on it would hold \(90%\)"):
        pipe._check_request([on_part, elsewhere], q, rep)
    on_part.hold = 0.6
    pipe._check_request([on_part, elsewhere], q, rep)           # one on the part may hold: no refusal
    # One whose pads also press another part does not serve the request: with no other grasp
    # on the part, it cannot be taken alone, and the request says so.
    on_part.part_only = 0.3
    cup = AffordanceQuery("grasp the teacup by its handle", "teacup", "grasp", "handle")
    with pytest.raises(CannotHoldError, match=r"the teacup's handle cannot be taken alone: all 1 grasps on it would "
                                              r"also press another part of the teacup"):
        pipe._check_request([on_part, elsewhere], cup, rep)
    # No grasp on the part at all (a handle facing away): taking the body would not do as asked.
    from affordance_grasp.errors import PartNotReachedError
    with pytest.raises(PartNotReachedError, match=r"no grasp takes the teacup's handle: none of the 1 candidates"):
        pipe._check_request([elsewhere], cup, rep)
    # A request whose part is not known yet (an object the vocabulary does not know) is not refused.
    pipe._check_request([elsewhere], AffordanceQuery("grab the gizmo", "gizmo", "grasp", "", known_object=False), rep)


def test_a_handle_weighs_less_than_what_it_carries():
    """A hammer seen from above with its handle marked as the part to hold: the handle and the
    head are two bodies, the head's density range reaching steel's. The centre of mass moves
    toward the head, and the grasps on the handle that hold most often are next to the head."""
    from affordance_grasp.grasping.hold import MassEstimate, hold_probability
    handle = top_grid(0.0, 0.25, -0.012, 0.012, 0.015)
    head = top_grid(0.25, 0.28, -0.05, 0.05, 0.04, step=0.005)
    pts = np.concatenate([handle, head])
    grip = np.r_[np.ones(len(handle), bool), np.zeros(len(head), bool)]
    one = estimate_mass(pts, 0.0)
    two = estimate_mass(pts, 0.0, grip=grip)
    assert len(two.bodies) == 2 and two.com[0] > one.com[0] + 0.01
    R, tcp = vertical_grasps([0.05, 0.15, 0.23])
    p = hold_probability(R, tcp, np.full(3, 0.024), two)
    assert p[2] > p[1] > p[0]
    with pytest.raises(InvalidInputError, match="grip mask"):
        estimate_mass(pts, 0.0, grip=grip[:-1])
    # too few points on either side: one body
    assert estimate_mass(pts, 0.0, grip=np.zeros(len(pts), bool)).bodies == ()
    assert isinstance(two, MassEstimate)


def test_a_known_kinds_typical_mass_replaces_the_seen_volume():
    """A closed vessel seen from above looks solid: its volume at any density overstates it. The
    kind's typical mass range is drawn instead; the centre of mass still comes from the shape."""
    from affordance_grasp.affordance.query import Vocabulary
    from affordance_grasp.grasping.hold import hold_probability
    box = top_grid(0.0, 0.2, -0.1, 0.1, 0.2)                 # 8 L seen as solid
    free = estimate_mass(box, 0.0)
    known = estimate_mass(box, 0.0, mass_range=Vocabulary.load().mass_range("kettle"))
    assert free.mass > 5 and known.mass_range == (0.8, 1.6) and 0.8 <= known.mass <= 1.6
    np.testing.assert_allclose(known.com, free.com)
    R, tcp = vertical_grasps([0.12])                       # 2 cm from its centre of mass
    assert hold_probability(R, tcp, [0.02], known)[0] > hold_probability(R, tcp, [0.02], free)[0]
    with pytest.raises(InvalidInputError, match="mass_range"):
        estimate_mass(box, 0.0, mass_range=(1.0, 0.5))
    assert Vocabulary.load().mass_range("not a kind") is None


def test_across_the_closing_axis_the_pads_pressure_couple_adds_to_the_friction_couple():
    """Hand-computed: a bar along x closed along itself (y = x) from above, 6 cm from its centre of
    mass. The weight's torque lies across the closing axis, about the pads' x axis; it is held by
    the friction couple mu F w = 0.5 x 70 x 0.03 = 1.05 N m plus the pads' pressure shifting along
    z within the middle third of a 2 cm patch, 70 x 0.02 / 3 = 0.467 N m."""
    from affordance_grasp.grasping.hold import hold_load
    R, tcp = vertical_grasps([0.06], closing=(1.0, 0.0, 0.0))
    com = np.array([0.0, 0.0, 0.02])
    cfg = HoldConfig()
    needed, resisted = hold_load(R, tcp, np.array([0.03]), com, 10.0, 0.5, cfg, radius=[0.005],
                                 extent=[[0.015, 0.02]])
    assert needed[0] == pytest.approx(0.6, abs=1e-9)
    assert resisted[0] == pytest.approx(1.05 + 70 * 0.02 / 3, abs=1e-6)
    # the patch's extent across x does not help about x
    _, same = hold_load(R, tcp, np.array([0.03]), com, 10.0, 0.5, cfg, radius=[0.005], extent=[[0.03, 0.02]])
    assert same[0] == pytest.approx(resisted[0])
    # no extents given: a disc of the configured radius (1 cm across)
    _, disc = hold_load(R, tcp, np.array([0.03]), com, 10.0, 0.5, cfg)
    assert disc[0] == pytest.approx(1.05 + 70 * 0.01 / 3, abs=1e-6)


def test_a_known_mass_leaves_the_rest_to_what_the_part_held_does_not_weigh():
    """A small pan seen from above: a thin wide body and a long handle. With its kind's mass known
    the body weighs that mass less the handle's, not anything from hollow plastic to steel: the
    centre of mass sits in the body, and the grasps that hold are the ones beside it."""
    from affordance_grasp.grasping.hold import hold_probability
    handle = top_grid(0.0, 0.18, -0.012, 0.012, 0.02)
    body = top_grid(0.18, 0.42, -0.12, 0.12, 0.004, step=0.005)
    pts = np.concatenate([handle, body])
    grip = np.r_[np.ones(len(handle), bool), np.zeros(len(body), bool)]
    free = estimate_mass(pts, 0.0, grip=grip)
    known = estimate_mass(pts, 0.0, grip=grip, mass_range=(0.3, 0.4))
    handle_kg = known.bodies[0].volume * np.sqrt(400 * 1200)
    expected = (handle_kg * known.bodies[0].centroid
                + (known.mass - handle_kg) * known.bodies[1].centroid) / known.mass
    np.testing.assert_allclose(known.com, expected, atol=1e-9)
    assert known.bodies[1].remainder and not known.bodies[0].remainder
    R, tcp = vertical_grasps([0.03, 0.1, 0.175])
    p = hold_probability(R, tcp, np.full(3, 0.024), known)
    assert p[0] < 0.1 and p[2] > 0.5 and p[2] > p[1] > p[0]
    # a part held that weighs the whole known mass leaves the rest nothing: the centre is the part's
    tiny = estimate_mass(pts, 0.0, grip=grip, mass_range=(0.01, 0.02))
    np.testing.assert_allclose(tiny.com, tiny.bodies[0].centroid)
    assert free.mass_range is None

