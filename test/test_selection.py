from dataclasses import replace

import numpy as np
import pytest

from affordance_grasp.errors import InvalidInputError
from affordance_grasp.execution.base import ExecutionConfig, Executor
from affordance_grasp.execution.fallback import execute_with_fallback
from affordance_grasp.selection.scoring import ScoringConfig, project_grasps, score_grasps
from affordance_grasp.selection.strategies import heatmap_from_mask, rank
from affordance_grasp.types import (AffordanceMap, AffordanceQuery, CameraIntrinsics, FailureReason, Grasp,
                                    GraspOutcome, RGBDFrame)

K = CameraIntrinsics(500.0, 500.0, 320.0, 240.0, 640, 480)
Q = AffordanceQuery("grasp the mug by its handle", "mug", "grasp", "handle")


def down_camera():
    """Camera 1 m above the base origin looking straight down: base (x, y) -> pixel
    (u, v) = (320 - 500 y, 240 - 500 x) at depth 1 - z."""
    T = np.eye(4)
    T[:3, :3] = np.array([[0, -1, 0], [-1, 0, 0], [0, 0, -1.0]])
    T[:3, 3] = [0, 0, 1.0]
    return T


def frame(depth=None):
    d = np.full((480, 640), 1.0, np.float32) if depth is None else depth
    return RGBDFrame(np.zeros((480, 640, 3), np.uint8), d, K, down_camera())


def grasp_at(x, y, z=0.02, width=0.02, quality=0.5):
    T = np.eye(4)
    T[:3, :3] = np.diag([1.0, -1.0, -1.0])  # approach straight down, closing along -y
    T[:3, 3] = [x, y, z]
    c = np.array([[x, y - width / 2, z], [x, y + width / 2, z]])
    return Grasp(T, width, quality=quality, contacts=c)


def test_projection_of_known_points():
    p = project_grasps([grasp_at(0.1, 0.0, z=0.0, width=0.04)], frame())
    # contacts at y = -0.02 and +0.02 -> u = 330 and 310; x = 0.1 -> v = 190; depth 1 m
    assert np.allclose(p.uv[0, 0], [330, 190]) and np.allclose(p.uv[0, 1], [310, 190])
    assert np.allclose(p.uv[0, 2], [320, 190]) and np.allclose(p.depth[0], 1.0)
    assert p.visible.all() and p.inside.all()


def test_scorer_picks_the_hot_region():
    hot = np.zeros((480, 640), np.float32)
    hot[180:200, 300:340] = 1  # around base (0.1, 0)
    amap = AffordanceMap.from_unnormalised(hot, Q)
    cold, warm = grasp_at(-0.1, 0.1, quality=0.9), grasp_at(0.1, 0.0, quality=0.3)
    ranked = score_grasps([cold, warm], amap, frame(np.full((480, 640), 0.98, np.float32)))
    assert np.allclose(ranked[0].position, warm.position)
    assert ranked[0].affordance_score > 0.8 and ranked[1].affordance_score < 0.05
    # Quality-only ranking prefers the other one: the heatmap is what changed the choice.
    assert np.allclose(rank("quality", [cold, warm], frame())[0].position, cold.position)


def test_a_grasp_on_the_part_that_will_slip_ranks_below_one_that_holds():
    """Both on the hot part; the hotter one is predicted to turn in the fingers (hold 0.05). The
    score is the part and the quality times the chance of holding, so the one that holds wins,
    by the factor the hold floor sets."""
    hot = np.zeros((480, 640), np.float32)
    hot[180:200, 300:340] = 1.0
    hot[180:200, 340:360] = 0.8
    amap = AffordanceMap.from_unnormalised(hot, Q)
    slips = replace(grasp_at(0.1, 0.0, quality=0.5), hold=0.05)
    holds = replace(grasp_at(0.1, -0.025, quality=0.5), hold=0.95)
    view = frame(np.full((480, 640), 0.98, np.float32))
    ranked = score_grasps([slips, holds], amap, view)
    assert np.allclose(ranked[0].position, holds.position)
    assert ranked[1].affordance_score > ranked[0].affordance_score      # the hotter one ranked second
    cfg = ScoringConfig()
    plain = score_grasps([replace(slips, hold=1.0)], amap, view)[0].score
    assert ranked[1].score == pytest.approx(plain * (cfg.hold_floor + (1 - cfg.hold_floor) * 0.05))
    with pytest.raises(InvalidInputError, match="hold_floor"):
        ScoringConfig(hold_floor=1.5).validate()
    # Below min_hold (0.1) a grasp ranks after every one that may hold, whatever its score: a
    # far hotter, better grasp at hold 0.05 still comes after a cold, poor one at 0.3.
    cold = replace(grasp_at(-0.1, 0.1, quality=0.1), hold=0.3)
    ranked = score_grasps([replace(slips, quality=1.0), cold], amap, view)
    assert np.allclose(ranked[0].position, cold.position) and ranked[0].score < ranked[1].score
    ranked = score_grasps([replace(slips, quality=1.0), cold], amap, view, ScoringConfig(min_hold=0.0))
    assert np.allclose(ranked[0].position, slips.position)


def test_a_grasp_that_would_also_touch_another_part_ranks_below_one_on_the_part_alone():
    """Both on the hot part and both hold; the hotter one's pads would also touch another part
    (part_only 0.3, as the generator marks it). It keeps that share of its score and ranks second."""
    hot = np.zeros((480, 640), np.float32)
    hot[180:200, 300:340] = 1.0
    hot[180:200, 340:360] = 0.8
    amap = AffordanceMap.from_unnormalised(hot, Q)
    touches = replace(grasp_at(0.1, 0.0, quality=0.5), part_only=0.3)
    alone = grasp_at(0.1, -0.025, quality=0.5)
    view = frame(np.full((480, 640), 0.98, np.float32))
    ranked = score_grasps([touches, alone], amap, view)
    assert np.allclose(ranked[0].position, alone.position)
    assert ranked[1].affordance_score > ranked[0].affordance_score
    plain = score_grasps([replace(touches, part_only=1.0)], amap, view)[0].score
    assert ranked[1].score == pytest.approx(0.3 * plain)
    with pytest.raises(InvalidInputError, match="part_only"):
        replace(alone, part_only=1.5)


def test_occluded_contact_is_not_trusted():
    hot = np.ones((480, 640), np.float32)
    amap = AffordanceMap.from_unnormalised(hot, Q)
    g = grasp_at(0.1, 0.0, z=0.02)   # contacts at depth 0.98 m
    open_view = frame(np.full((480, 640), 0.98, np.float32))
    blocked = np.full((480, 640), 0.98, np.float32)
    blocked[185:196, 325:336] = 0.80  # something 18 cm in front of contact 0 (u=325, v=190)
    a = score_grasps([g], amap, open_view)[0]
    b = score_grasps([g], amap, frame(blocked))[0]
    assert a.affordance_score == pytest.approx(1.0, abs=1e-3)
    assert b.affordance_score < a.affordance_score - 0.15
    # Both contacts hidden: the heat at them cannot carry the score on its own.
    fully = np.full((480, 640), 0.5, np.float32)
    c = score_grasps([g], amap, frame(fully))[0]
    assert c.affordance_score <= (0.3 + 0.3 + 1.0) / 3 + 1e-6


def test_avoid_region_penalises_contacts():
    amap = AffordanceMap.from_unnormalised(np.ones((480, 640), np.float32), Q)
    avoid = np.zeros((480, 640), np.float32)
    avoid[180:200, 300:340] = 1
    on, off = grasp_at(0.1, 0.0), grasp_at(-0.1, 0.0)
    ranked = score_grasps([on, off], amap, frame(np.full((480, 640), 0.98, np.float32)), avoid=avoid)
    assert np.allclose(ranked[0].position, off.position) and ranked[1].score < ranked[0].score - 0.5


def test_strategies_and_config_validation():
    g = [grasp_at(0.1, 0.0), grasp_at(0.0, 0.05), grasp_at(-0.1, 0.0)]
    assert np.allclose(rank("center", g, frame(), object_centroid=[0, 0.05, 0.0])[0].position, [0, 0.05, 0.02])
    r1 = rank("random", g, frame(), rng=np.random.default_rng(1))
    r2 = rank("random", g, frame(), rng=np.random.default_rng(1))
    assert [x.position.tolist() for x in r1] == [x.position.tolist() for x in r2]
    with pytest.raises(InvalidInputError, match="unknown strategy"):
        rank("best", g, frame())
    with pytest.raises(InvalidInputError, match="needs an affordance map"):
        rank("oracle", g, frame())
    with pytest.raises(InvalidInputError):
        ScoringConfig(w_aff=-1).validate()
    mask = np.zeros((480, 640), bool)
    mask[10:20, 10:20] = True
    hm = heatmap_from_mask(mask, Q)
    assert abs(hm.heatmap.sum() - 1) < 1e-4 and hm.heatmap[15, 15] > hm.heatmap[100, 100]


class ScriptedExecutor(Executor):
    """Executes nothing: returns outcomes by grasp position so the fallback logic is observable."""

    def __init__(self, reachable, outcomes):
        self.config = ExecutionConfig()
        self.reachable, self.outcomes, self.executed = reachable, outcomes, []

    def check_reachable(self, grasp):
        return self.reachable(grasp)

    def execute(self, grasp):
        self.executed.append(grasp)
        return self.outcomes(grasp)

    def command_gripper(self, width, force=None):
        pass


def test_fallback_skips_unreachable_and_retries_after_empty_grasp():
    g = [grasp_at(0.1 * i, 0.0) for i in range(5)]
    ex = ScriptedExecutor(lambda gr: gr.position[0] != 0.0,  # the first is unreachable
                          lambda gr: GraspOutcome(gr.position[0] > 0.15) if gr.position[0] > 0.15 else
                          GraspOutcome(False, failure_reason=FailureReason.EMPTY_GRASP))
    out = execute_with_fallback(ex, g, max_attempts=3)
    assert out.success and out.attempts == 2 and out.checked == 3
    assert [round(x.position[0], 2) for x in ex.executed] == [0.1, 0.2]
    capped = ScriptedExecutor(lambda gr: True, lambda gr: GraspOutcome(False, failure_reason=FailureReason.EMPTY_GRASP))
    out = execute_with_fallback(capped, g, max_attempts=2)
    assert not out.success and out.attempts == 2 and len(capped.executed) == 2
    assert execute_with_fallback(capped, [], 2).failure_reason is FailureReason.NO_CANDIDATES
    none = ScriptedExecutor(lambda gr: False, lambda gr: GraspOutcome(True))
    out = execute_with_fallback(none, g, max_attempts=3, max_checked=4)
    assert out.failure_reason is FailureReason.UNREACHABLE and (out.attempts, out.checked) == (0, 4)
    assert not none.executed
    with pytest.raises(InvalidInputError):
        execute_with_fallback(capped, g, max_attempts=0)


def test_a_grasp_predicted_to_slip_is_never_tried():
    """The grasps that may hold are out of reach: nothing moves, and the outcome says why,
    rather than lifting the object where its weight turns it out of the pads."""
    weak, strong = replace(grasp_at(0.1, 0.0), hold=0.05), replace(grasp_at(0.2, 0.0), hold=0.6)
    lifts = ScriptedExecutor(lambda gr: gr.hold < 0.5, lambda gr: GraspOutcome(True))
    out = execute_with_fallback(lifts, [strong, weak], max_attempts=3, min_hold=0.1)
    assert out.failure_reason is FailureReason.WOULD_NOT_HOLD and out.attempts == 0 and not lifts.executed
    # Reachable, the one that may hold is tried; with no bound, the weak one would have been.
    anywhere = ScriptedExecutor(lambda gr: True, lambda gr: GraspOutcome(True))
    assert execute_with_fallback(anywhere, [weak, strong], 3, min_hold=0.1).success
    assert anywhere.executed == [strong]
    assert execute_with_fallback(lifts, [strong, weak], 3).success and lifts.executed == [weak]
    with pytest.raises(InvalidInputError):
        execute_with_fallback(lifts, [weak], 3, min_hold=1.5)


def test_a_caught_slip_rejudges_the_rest_by_what_it_showed_of_the_load():
    """A grasp that held in 40 % of the draws slipped: the object is beyond what it carries. One
    that held in 70 % holds in (0.7 - 0.4) / 0.6 = 50 % of what is left and is tried next; one no
    stronger (30 %) is not tried at all, however well it sits on the part."""
    from affordance_grasp.execution.fallback import hold_after_slip
    assert np.allclose(hold_after_slip([0.7, 0.4, 0.3, 1.0], 0.4, other=0.0), [0.5, 0.0, 0.0, 1.0])
    # A slip may also not be about the load (2.5 % of sure grasps slip): one no stronger keeps
    # 0.3 x 0.025 / (1 - 0.975 x 0.4) = 0.0123 of the draws, a stronger one (0.7 - 0.39) / 0.61.
    assert np.allclose(hold_after_slip([0.7, 0.3], 0.4, other=0.025), [0.31 / 0.61, 0.0075 / 0.61])
    # A slip from a grasp predicted sure to hold is not about the load: the rest stand.
    assert np.allclose(hold_after_slip([0.7, 0.3], 1.0), [0.7, 0.3])
    # Nearly sure (0.95): the slip is the load's two times in three, the rest are not given up.
    assert np.allclose(hold_after_slip([0.7, 0.3], 0.95), [0.0175 / 0.07375, 0.0075 / 0.07375])
    first, weaker, stronger = (replace(grasp_at(0.1 * i, 0.0), hold=h) for i, h in ((1, 0.4), (2, 0.3), (3, 0.7)))
    slips = ScriptedExecutor(lambda gr: True, lambda gr: GraspOutcome(
        gr.hold > 0.5, failure_reason=FailureReason.NONE if gr.hold > 0.5 else FailureReason.SLIP_CAUGHT))
    out = execute_with_fallback(slips, [first, weaker, stronger], max_attempts=3, min_hold=0.1)
    assert out.success and slips.executed == [first, stronger]
    # Nothing stronger left: one try, caught, and nothing more moves.
    again = ScriptedExecutor(lambda gr: True, lambda gr: GraspOutcome(False, failure_reason=FailureReason.SLIP_CAUGHT))
    out = execute_with_fallback(again, [first, weaker], max_attempts=3, min_hold=0.1)
    assert out.failure_reason is FailureReason.SLIP_CAUGHT and again.executed == [first] and out.attempts == 1


def test_fallback_in_the_twin_when_the_first_is_unreachable(ik):
    from affordance_grasp.sim.executor import SimExecutor
    from affordance_grasp.sim.oracle import oracle_grasp
    from affordance_grasp.sim.scene import sample_scene
    world = sample_scene(11, categories=["mug"]).build()
    good = oracle_grasp(world, "mug_0", "handle")
    far = good.pose.copy()
    far[:3, 3] = [0.95, 0.0, 0.1]   # past what the arm can stretch to
    out = execute_with_fallback(SimExecutor(world, ik=ik), [Grasp(far, 0.02), good], max_attempts=2)
    assert out.success and out.attempts == 1 and np.allclose(out.grasp.pose, good.pose)


# ----------------------------------------------------------------------------- re-detection
def _playback(reasons):
    """Every grasp reachable; outcomes in the given order."""
    queue = [FailureReason(r) for r in reasons]
    return ScriptedExecutor(lambda g: True,
                            lambda g: (lambda r: GraspOutcome(r is FailureReason.NONE, failure_reason=r, grasp=g))(
                                queue.pop(0)))


@pytest.mark.parametrize("reasons, redetect, expect_attempts, expect_detections, expect_success", [
    (["slipped", ""], True, 2, 2, True),                     # slip -> look again -> success
    (["slipped", "slipped", "slipped"], True, 3, 3, False),  # the budget caps the rounds
    (["empty grasp", ""], True, 2, 1, True),                 # object unmoved: next candidate, same detection
    (["slip caught", ""], True, 2, 1, True),                 # set back down where it was: the same
    (["slipped"], False, 1, 1, False),                       # re-detection switched off
])
def test_redetection_after_a_slip(reasons, redetect, expect_attempts, expect_detections, expect_success):
    from affordance_grasp.execution.fallback import execute_with_redetection

    executor = _playback(reasons)
    calls = []

    def detect(after_motion):
        calls.append(after_motion)
        return [grasp_at(0.1 * i, 0.0) for i in range(3)]

    outcome, detections = execute_with_redetection(detect, executor, max_attempts=3, redetect=redetect)
    assert outcome.success == expect_success
    assert outcome.attempts == expect_attempts == len(executor.executed)
    assert detections == expect_detections and calls == [False] + [True] * (expect_detections - 1)


def test_redetection_stops_when_cancelled_and_passes_detection_errors_on():
    from affordance_grasp.errors import AffordanceGraspError
    from affordance_grasp.execution.fallback import execute_with_redetection

    executor = _playback(["slipped"] * 3)
    stop = {"now": False}

    def detect(after_motion):
        stop["now"] = True  # cancelled while the first detection ran: nothing may move
        return [grasp_at(0.1, 0.0)]

    outcome, detections = execute_with_redetection(detect, executor, 3, should_stop=lambda: stop["now"])
    assert outcome.attempts == 0 and not executor.executed and detections == 1

    def failing(after_motion):
        if after_motion:
            raise AffordanceGraspError("detection failed: no object")
        return [grasp_at(0.1, 0.0)]

    with pytest.raises(AffordanceGraspError, match="no object"):
        execute_with_redetection(failing, _playback(["slipped"] * 3), 3)


def test_the_overlay_shows_the_mass_seen_and_the_centre_of_mass():
    from affordance_grasp.visualize import draw_trial
    hot = np.zeros((480, 640), np.float32)
    hot[180:200, 300:340] = 1
    amap = AffordanceMap.from_unnormalised(hot, Q)
    g = replace(grasp_at(0.1, 0.0), hold=0.8)
    plain = draw_trial(frame(), amap, [g], g, "hold the mug")
    img = draw_trial(frame(), amap, [g], g, "hold the mug", physical={"mass_kg": 0.4, "centre_of_mass": [0.0, 0.0, 0.0]})
    assert img.shape == plain.shape == (480, 640, 3)
    # base (0, 0, 0) projects to the image centre: the orange cross is drawn there
    assert tuple(img[240, 320]) == (255, 165, 0) and tuple(plain[240, 320]) != (255, 165, 0)
    assert (img[22:40] != plain[22:40]).any()          # the line under the title
