"""Issue 15, part 2: the R1-style rewards and the reasoned-answer parser, each case checked
against values worked out by hand in the comments."""
import numpy as np
import pytest

from affordance_grasp.affordance.reasoned_answer import PartAnswer, parse_answer
from affordance_grasp.affordance.rewards import (ThresholdSchedule, box_count_reward, box_point_reward, format_reward,
                                                 match_boxes, non_repeat_reward, pairwise_giou, pairwise_iou,
                                                 physical_reward, point_in_part_reward, precision_recall_rewards,
                                                 recognition_reward)
from affordance_grasp.errors import InvalidInputError, PredictionError
from affordance_grasp.types import FailureReason, GraspOutcome

GOOD = ('<think>the mug is on the left; its handle faces the camera</think>\n'
        '<rethink>a handle is held, not the rim</rethink>\n'
        '<answer>[{"bbox_2d": [10, 100, 200, 210], "point_2d": [30, 110], "affordance": "hold"}]</answer>')


def part(box, point, aff="hold"):
    return PartAnswer(tuple(float(v) for v in box), tuple(float(v) for v in point), aff)


def test_a_well_formed_answer_is_parsed_and_rescaled():
    a = parse_answer(GOOD)
    assert a.parts == [part((10, 100, 200, 210), (30, 110))]
    assert a.think.startswith("the mug") and a.rethink == "a handle is held, not the rim"
    assert "the mug" in a.reasoning and "not the rim" in a.reasoning
    # Affordance-R1 answers in the 840 x 840 image it was shown; a 640 x 480 frame is 640/840 wide
    s = a.parts[0].scaled(640 / 840, 480 / 840)
    assert s.box == pytest.approx((10 * 640 / 840, 100 * 480 / 840, 200 * 640 / 840, 210 * 480 / 840))
    assert s.point == pytest.approx((30 * 640 / 840, 110 * 480 / 840))
    # one object instead of a list, and an empty list, are answers too
    assert len(parse_answer('<answer>{"bbox_2d": [0, 0, 2, 2], "point_2d": [1, 1]}</answer>').parts) == 1
    assert parse_answer("<answer>[]</answer>").parts == []


@pytest.mark.parametrize("reply, words", [
    ("I think it is the handle.", "no <answer>"),
    ("<answer>[{bbox_2d: [1, 2, 3, 4]}]</answer>", "not JSON"),
    ('<answer>"the handle"</answer>', "JSON list of objects"),
    ('<answer>[{"point_2d": [1, 2]}]</answer>', "needs bbox_2d and point_2d"),
    ('<answer>[{"bbox_2d": [1, 2, 3], "point_2d": [1, 2]}]</answer>', "list of 4 numbers"),
    ('<answer>[{"bbox_2d": [1, 2, 3, 4], "point_2d": ["a", 2]}]</answer>', "finite numbers"),
    ('<answer>[{"bbox_2d": [1, 2, 3, NaN], "point_2d": [1, 2]}]</answer>', "finite numbers"),
    ('<answer>[{"bbox_2d": [30, 2, 3, 40], "point_2d": [1, 2]}]</answer>', "x1 > x0"),
    (None, "must be text"),
])
def test_a_malformed_answer_is_a_prediction_error_naming_the_fault(reply, words):
    with pytest.raises(PredictionError, match=words):
        parse_answer(reply)


def test_format_reward():
    """Affordance-R1 (hq-King/Affordance-R1, verl/utils/reward_score/aff_r1.py): 1 for the structure and
    up to 3 for the fields (one each for bbox_2d of 4, point_2d of 2, affordance, averaged over the
    items), out of 4; here divided by 4."""
    assert format_reward(GOOD) == 1.0
    # no <rethink>: structure 0; item fields 3 and 1 -> mean 2 -> (0 + 2) / 4
    two = ('<think>x</think><answer>[{"bbox_2d": [1, 2, 3, 4], "point_2d": [2, 3], "affordance": "hold"},'
           ' {"bbox_2d": [1, 2, 3, 4]}]</answer>')
    assert format_reward(two) == pytest.approx(0.5)
    # the structure without a JSON answer: (1 + 0) / 4
    assert format_reward("<think>x</think><rethink>y</rethink><answer>the handle</answer>") == pytest.approx(0.25)
    # text around the stages breaks the structure; the fields still count: (0 + 3) / 4
    assert format_reward("Sure! " + GOOD) == pytest.approx(0.75)
    # an empty list has no items to score: the structure alone, (1 + 0) / 4
    assert format_reward("<think>x</think><rethink>y</rethink><answer>[]</answer>") == pytest.approx(0.25)
    assert format_reward("") == 0.0


def test_box_point_reward():
    truth = [part((0, 0, 100, 100), (60, 50))]
    # IoU 1, L1 0, point 10 px away and inside its box: cost 0 -> 3/3
    assert box_point_reward([part((0, 0, 100, 100), (50, 50))], truth) == 1.0
    # a second, wrong part: one match of cost 0 over max(2, 1) parts -> 3 / 6
    assert box_point_reward([part((0, 0, 100, 100), (50, 50)), part((300, 300, 400, 400), (350, 350))],
                            truth) == pytest.approx(0.5)
    # IoU 101x101 / 101x121 = 0.83 (hit, end pixels counted); L1 mean(0, 0, 0, 20) = 5 (hit); point 50 px off
    # (miss): 2/3
    assert box_point_reward([part((0, 0, 100, 100), (50, 50))],
                            [part((0, 0, 100, 120), (50, 100))]) == pytest.approx(2 / 3)
    # the right point outside its own box is no hit: 2/3
    assert box_point_reward([part((0, 0, 10, 10), (20, 20))], [part((0, 0, 10, 10), (20, 20))]) == pytest.approx(2 / 3)
    # matching is one to one: the second true part finds no partner -> 3 / 6
    assert box_point_reward([part((0, 0, 100, 100), (50, 50))],
                            truth + [part((0, 0, 100, 100), (50, 50))]) == pytest.approx(0.5)
    assert box_count_reward([1, 2], [3, 4]) == 1.0 and box_count_reward([1], [3, 4]) == 0.0


def test_box_point_reward_as_released():
    """Affordance-R1's accuracy reward (hq-King/Affordance-R1, verl/utils/reward_score/aff_r1.py,
    ``batch_iou`` and ``aff_r1_score_accuracy_reward``): box widths and heights count their end
    pixels (+1), and an empty prediction or truth scores 0, two empty lists included."""
    # inclusive pixels: [0, 9] x [0, 9] is 10 x 10 = 100 px, [0, 9] x [0, 14] is 10 x 15 = 150 px,
    # IoU 100 / 150 = 0.667 > 0.65 (continuous coordinates would give 81 / 126 = 0.643, a miss)
    assert pairwise_iou(np.array([[0, 0, 9, 9.0]]), np.array([[0, 0, 9, 14.0]]), plus_one=True)[0, 0] == \
        pytest.approx(100 / 150)
    assert pairwise_iou(np.array([[0, 0, 9, 9.0]]), np.array([[0, 0, 9, 14.0]]))[0, 0] == pytest.approx(81 / 126)
    # so the IoU term is a hit; L1 mean(0, 0, 0, 5) = 1.25 is a hit; the point 36 px off is not: 2/3
    assert box_point_reward([part((0, 0, 9, 9), (4, 4))], [part((0, 0, 9, 14), (4, 40))]) == pytest.approx(2 / 3)
    # a one-pixel box is 1 x 1 px, not empty: IoU with itself 1
    assert pairwise_iou(np.array([[5, 5, 5, 5.0]]), np.array([[5, 5, 5, 5.0]]), plus_one=True)[0, 0] == 1.0
    # nothing to match scores 0, also when nothing was to be found
    truth = [part((0, 0, 100, 100), (60, 50))]
    assert box_point_reward([], []) == 0.0
    assert box_point_reward([], truth) == 0.0 and box_point_reward(truth, []) == 0.0


def test_non_repeat_reward_as_released():
    """Affordance-R1's non-repeat reward (hq-King/Affordance-R1, verl/utils/reward_score/aff_r1.py,
    ``aff_r1_score_non_repeat_reward``): the reply split on '.', blank pieces dropped, each piece
    stripped; 0 once two pieces repeat earlier ones, else 1."""
    assert non_repeat_reward("The handle. The rim. The handle.") == 1.0       # one repeat is allowed
    assert non_repeat_reward("The handle. The rim. The handle. The rim.") == 0.0   # two are not
    assert non_repeat_reward("Hold it. Hold it . Hold it") == 0.0             # stripped: the same three times
    assert non_repeat_reward("") == 1.0 and non_repeat_reward("...") == 1.0   # nothing said, nothing repeated
    assert non_repeat_reward(GOOD) == 1.0


def test_recognition_reward_as_released():
    """Affordance-R1's recognition reward (hq-King/Affordance-R1, verl/utils/reward_score/aff_r1.py,
    ``aff_reward_compute_score``): 1 when the answer's affordance is more similar than 0.8 to the true
    one. The release measures word2vec cosine similarity; here the similarity is passed in
    (exact words by default)."""
    assert recognition_reward(GOOD, "hold") == 1.0
    assert recognition_reward(GOOD, " Hold ") == 1.0      # case and surrounding space do not matter
    assert recognition_reward(GOOD, "cut") == 0.0
    assert recognition_reward(GOOD, "grasp", similarity=lambda a, b: 0.85) == 1.0
    assert recognition_reward(GOOD, "grasp", similarity=lambda a, b: 0.8) == 0.0   # strictly over 0.8
    # the release compares the list of the answer's affordances with the true one: it gives a number
    # for one item; for several, an array whose truth is ambiguous, which it scores 0
    two = GOOD.replace("]</answer>", ', {"bbox_2d": [1, 2, 3, 4], "point_2d": [2, 3], "affordance": "hold"}]</answer>')
    assert recognition_reward(two, "hold") == 0.0
    assert recognition_reward('<answer>[{"bbox_2d": [1, 2, 3, 4], "point_2d": [2, 3]}]</answer>', "hold") == 0.0
    assert recognition_reward("<answer>[]</answer>", "hold") == 0.0
    assert recognition_reward("no answer", "hold") == 0.0


def test_giou_by_hand():
    a = np.array([[0, 0, 10, 10.0]])
    # disjoint, 10 apart: IoU 0, union 200, hull 30 x 10 = 300 -> 0 - 100/300
    assert pairwise_giou(a, np.array([[20, 0, 30, 10.0]]))[0, 0] == pytest.approx(-1 / 3)
    # nested: IoU 100/200, hull = union -> 0.5
    assert pairwise_giou(a, np.array([[0, 0, 10, 20.0]]))[0, 0] == pytest.approx(0.5)


def test_vision_r1_matching_cost_is_l1_plus_class_minus_giou():
    """Vision-R1's matching (jefferyZhan/Griffon, Vision-R1/vision_r1/visionr1_qwen.py,
    ``BoxPriorMatcher``): cost = L1 of the corners in pixels + class (-1 for the true class) - GIoU."""
    t = np.array([[0, 0, 10, 10.0]])
    # A (0, 0, 10, 20): GIoU 0.5, L1 10 -> cost 9.5; B (2, 2, 12, 12): IoU 64/136 = 8/17, hull 144,
    # GIoU 8/17 - 8/144 = 127/306 = 0.415, L1 8 -> cost 7.585: B is matched, though A has the higher GIoU
    rows, cols, giou = match_boxes(np.array([[0, 0, 10, 20.0], [2, 2, 12, 12.0]]), t)
    assert rows.tolist() == [1] and cols.tolist() == [0] and giou.tolist() == pytest.approx([127 / 306])
    # the class term: P (0, 0, 10, 10) 'cup' against T1 itself 'mug' (0 - 1 + 0 = -1) and T2
    # (0.25, 0, 10.25, 10) 'cup' (L1 0.5, GIoU 97.5 / 102.5 = 0.951: 0.5 - 0.951 - 1 = -1.451)
    two = np.array([[0, 0, 10, 10.0], [0.25, 0, 10.25, 10.0]])
    assert match_boxes(t, two, ["cup"], ["mug", "cup"])[1].tolist() == [1]
    assert match_boxes(t, two)[1].tolist() == [0]          # no labels: one class, the L1 and GIoU decide
    with pytest.raises(InvalidInputError, match="labels"):
        match_boxes(t, two, ["cup"], ["mug"])
    # at the reward: B's GIoU 0.415 is under 0.5, so precision and recall are 0 (A's 0.5 would score)
    assert precision_recall_rewards([[0, 0, 10, 20], [2, 2, 12, 12]], [[0, 0, 10, 10]]) == (0.0, 0.0)


def test_precision_recall_as_released():
    """Vision-R1's precision and recall (jefferyZhan/Griffon, Vision-R1/vision_r1/visionr1_qwen.py,
    ``precision_reward``, ``recall_reward``, ``modify_tensor``, ``modify_list``). Precision: each
    matched GIoU under the low threshold 0, over the high one 1, else itself, averaged over the matched
    pairs. Recall: matched GIoUs over the low threshold count 1 (at it, itself), over the true count;
    that recall is then thresholded again at (0.5, 0.75). Thresholds (0.5, 0.75) become (0.75, 0.9)
    at step 1500."""
    sched = ThresholdSchedule(early=(0.5, 0.75), late=(0.75, 0.9), switch_step=100)
    pred = [[0, 0, 10, 10]]
    # GIoU exactly 0.5: early, precision itself 0.5, recall 0.5 / 1 = 0.5, in [0.5, 0.75]: itself
    assert precision_recall_rewards(pred, [[0, 0, 10, 20]], 0, sched) == pytest.approx((0.5, 0.5))
    # late: 0.5 is under 0.75: 0 and 0
    assert precision_recall_rewards(pred, [[0, 0, 10, 20]], 100, sched) == pytest.approx((0.0, 0.0))
    # GIoU 100/120 = 0.833: over 0.75 early (1), between 0.75 and 0.9 late (itself); recall 1 both
    assert precision_recall_rewards(pred, [[0, 0, 10, 12]], 99, sched) == pytest.approx((1.0, 1.0))
    assert precision_recall_rewards(pred, [[0, 0, 10, 12]], 100, sched) == pytest.approx((100 / 120, 1.0))
    # precision averages over the matched pairs: an extra prediction costs nothing there
    far = [[50, 50, 60, 60]]
    assert precision_recall_rewards(pred + far, pred) == pytest.approx((1.0, 1.0))
    # recall thresholded again: 1 of 2 found = 0.5 (kept), 2 of 3 = 0.667 (kept), 1 of 3 = 0.333 -> 0,
    # 4 of 5 = 0.8 -> 1
    boxes = [[100 * i, 0, 100 * i + 10, 10] for i in range(5)]
    assert precision_recall_rewards(boxes[:1], boxes[:2]) == pytest.approx((1.0, 0.5))
    assert precision_recall_rewards(boxes[:2], boxes[:3]) == pytest.approx((1.0, 2 / 3))
    assert precision_recall_rewards(boxes[:1], boxes[:3]) == pytest.approx((1.0, 0.0))
    assert precision_recall_rewards(boxes[:4], boxes) == pytest.approx((1.0, 1.0))
    # nothing predicted: 1 and 1 when nothing was there, else 0 and 0; boxes where none are: 0 and 0
    assert precision_recall_rewards([], []) == (1.0, 1.0) and precision_recall_rewards([], [[0, 0, 1, 1]]) == (0.0, 0.0)
    assert precision_recall_rewards([[0, 0, 1, 1]], []) == (0.0, 0.0)
    with pytest.raises(InvalidInputError, match="x1 >= x0"):
        precision_recall_rewards([[10, 0, 0, 10]], [[0, 0, 10, 10]])
    with pytest.raises(InvalidInputError, match="thresholds"):
        ThresholdSchedule(early=(0.8, 0.5))


def test_point_in_part_reward():
    mask = np.zeros((10, 10), bool)
    mask[:, 5:] = True
    # on, off, outside the image: 1 of 3
    assert point_in_part_reward([[7, 3], [2, 3], [50, 50]], mask) == pytest.approx(1 / 3)
    assert point_in_part_reward([[9.4, 9.4]], mask) == 1.0 and point_in_part_reward([], mask) == 0.0
    with pytest.raises(InvalidInputError, match="H x W"):
        point_in_part_reward([[1, 1]], np.zeros(10, bool))


@pytest.mark.parametrize("success, touched, reward", [
    (True, ("mug_0/handle",), 1.0),                       # lifted by the handle alone
    (True, ("mug_0/body", "mug_0/handle"), 0.5),          # lifted, but the body was touched too
    (False, ("mug_0/handle",), 0.5),                      # the right part, dropped
    (True, ("bowl_1/body",), 0.0),                        # lifted the wrong object
    (False, (), 0.0),
])
def test_physical_reward(success, touched, reward):
    out = GraspOutcome(success, 0.1 if success else 0.0, touched,
                       FailureReason.NONE if success else FailureReason.SLIPPED)
    assert physical_reward(out, "mug_0", "handle") == reward


@pytest.mark.parametrize("success, touched, reward", [
    (True, ("mug_0/handle",), 1.0),                       # lifted by the handle alone
    (True, ("mug_0/body", "mug_0/handle"), 0.0),          # lifted, but the body was touched too
    (True, ("mug_0/body",), 0.0),                         # lifted by another part
    (False, ("mug_0/handle",), 0.0),                      # the right part, dropped
    (True, ("bowl_1/body",), 0.0),                        # lifted the wrong object
    (False, (), 0.0),
])
def test_held_reward_is_the_benchmarks_task_success(success, touched, reward):
    from affordance_grasp.affordance.rewards import held_reward

    out = GraspOutcome(success, 0.1 if success else 0.0, touched,
                       FailureReason.NONE if success else FailureReason.SLIPPED)
    assert held_reward(out, "mug_0", "handle") == reward
    with pytest.raises(InvalidInputError, match="GraspOutcome"):
        held_reward((success, touched), "mug_0", "handle")


def test_held_reward_of_a_known_grasp_in_a_known_scene():
    """train-rl's twin worker executes a known grasp on a mug's handle (seed 11, the oracle's
    handle grasp, which test_execution shows is lifted by the handle alone) in a fresh build of
    the scene each time: 1 when the handle was asked for, 0 when the body was (held, but by
    another part; the half-credit physical reward gives it 0.5), and 0 for the same grasp 10 cm
    higher (the fingers close on air)."""
    from affordance_grasp.apps.rollouts import TwinConfig, TwinWorker
    from affordance_grasp.sim.oracle import oracle_grasp
    from affordance_grasp.sim.scene import sample_scene
    from affordance_grasp.types import Grasp

    scene = sample_scene(11, categories=["mug"])
    handle = oracle_grasp(scene.build(), "mug_0", "handle")
    worker = TwinWorker(TwinConfig())
    on_part = worker.execute(scene, handle, "mug_0", "handle")
    assert on_part["held"] == 1.0 and on_part["success"] and on_part["parts_touched"] == ["mug_0/handle"]
    other = worker.execute(scene, handle, "mug_0", "body")
    assert other["held"] == 0.0 and other["success"]          # held, by a part not asked for
    pose = handle.pose.copy()
    pose[2, 3] += 0.10
    above = worker.execute(scene, Grasp(pose, handle.width, contacts=handle.contacts + [0, 0, 0.10]), "mug_0", "handle")
    assert above["held"] == 0.0 and above["failure_reason"] == FailureReason.EMPTY_GRASP.value


# ---------------------------------------------------------------- GRPO (issue 15, part 3)
torch = pytest.importorskip("torch")
from affordance_grasp.affordance.grpo import (GRPOConfig, group_advantages, grpo_loss, k3_kl,  # noqa: E402
                                              log_prob_of, sample_pixels)


def test_group_advantages_by_hand():
    # mean 0.5, std with Bessel's correction sqrt(4 x 0.25 / 3) = 0.577 -> +-0.866
    adv = group_advantages(torch.tensor([[1.0, 0.0, 0.0, 1.0], [2.0, 2.0, 2.0, 2.0]]))
    assert adv[0].tolist() == pytest.approx([0.8660, -0.8660, -0.8660, 0.8660], abs=1e-4)
    assert adv[1].tolist() == [0.0] * 4   # all equal: nothing to learn
    with pytest.raises(InvalidInputError, match="group of >= 2"):
        group_advantages(torch.zeros(4))


def test_k3_kl_and_the_clipped_loss_by_hand():
    # p 0.5 against a reference 0.25: d = ln 0.5 = -0.693 -> 0.5 + 0.693 - 1 = 0.193
    assert float(k3_kl(torch.log(torch.tensor(0.5)), torch.log(torch.tensor(0.25)))) == pytest.approx(0.1931, abs=1e-4)
    assert float(k3_kl(torch.tensor(-1.0), torch.tensor(-1.0))) == 0.0
    # ratio 0.6 / 0.4 = 1.5: with A = +1 the clip takes 1.2, with A = -1 the min keeps -1.5
    logp = torch.log(torch.tensor([0.6, 0.6]))
    old = torch.log(torch.tensor([0.4, 0.4]))
    loss, stats = grpo_loss(logp, old, logp, torch.tensor([1.0, -1.0]), GRPOConfig(clip_eps=0.2, kl_coef=0.1))
    # the clip acts on the first sample only (verl's pg_clipfrac): 0.5
    assert float(loss) == pytest.approx(-(1.2 - 1.5) / 2) and stats["kl"] == 0.0 and stats["clip_fraction"] == 0.5
    with pytest.raises(InvalidInputError, match="group_size"):
        GRPOConfig(group_size=1)


def test_k3_kl_is_clamped_as_released():
    """verl's low_var_kl, as Affordance-R1 releases it (hq-King/Affordance-R1, verl/trainer/core_algos.py,
    ``kl_penalty``): k3 clamped to [-10, 10], so one pixel the reference all but rules out cannot
    swamp the loss."""
    # d = ref - logp = 7: exp(7) - 7 - 1 = 1088.6 -> 10; d = -20: exp(-20) + 20 - 1 = 19.0 -> 10
    assert k3_kl(torch.tensor([-10.0, -1.0]), torch.tensor([-3.0, -21.0])).tolist() == [10.0, 10.0]
    # d = 2: exp(2) - 3 = 4.389, under the clamp
    assert float(k3_kl(torch.tensor(-3.0), torch.tensor(-1.0))) == pytest.approx(4.3891, abs=1e-4)
    # and the clamped value is what the loss sees: kl_coef 0.1 x 10, no advantage
    loss, stats = grpo_loss(torch.tensor([-10.0]), torch.tensor([-10.0]), torch.tensor([-3.0]), torch.tensor([0.0]),
                            GRPOConfig(kl_coef=0.1))
    assert float(loss) == pytest.approx(1.0) and stats["kl"] == pytest.approx(10.0)


def test_a_grpo_step_moves_probability_towards_the_rewarded_pixel():
    logits = torch.zeros(1, 2, 2, requires_grad=True)
    opt = torch.optim.SGD([logits], lr=0.5)
    pixels = torch.tensor([[0, 3, 3, 0]])
    adv = group_advantages(torch.tensor([[1.0, 0.0, 0.0, 1.0]]))   # pixel 0 paid, pixel 3 did not
    log_h = torch.log_softmax(logits.flatten(1), 1).view(1, 2, 2)
    old = log_prob_of(log_h, pixels).detach()
    loss, _ = grpo_loss(log_prob_of(log_h, pixels), old, old, adv)
    opt.zero_grad()
    loss.backward()
    opt.step()
    p = torch.softmax(logits.flatten(), 0)
    assert p[0] > 0.25 > p[3]
    # and pixels are drawn from the heatmap: all its mass on pixel 2
    one_hot = torch.full((1, 2, 2), -1e9)
    one_hot[0, 1, 0] = 0.0
    assert sample_pixels(one_hot, 5).tolist() == [[2] * 5]
