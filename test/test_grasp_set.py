"""GraspSet: N grasps as arrays (graspnetAPI's GraspGroup): indexing gives one Grasp or another
set, ordering by score, non-maximum suppression, round trips with Grasps, and bad arrays refused."""
import numpy as np
import pytest

from affordance_grasp.errors import InvalidInputError
from affordance_grasp.types import Grasp, GraspSet


def top_down(xs, yaw=0.0):
    """Top-down grasps (approach -z) at x positions, closing axis turned by ``yaw`` about z."""
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.diag([1.0, -1.0, -1.0])
    T = np.tile(np.eye(4), (len(xs), 1, 1))
    T[:, :3, :3] = R
    T[:, :3, 3] = np.stack([np.asarray(xs, float), np.zeros(len(xs)), np.full(len(xs), 0.05)], 1)
    return T


def make(xs, quality, yaw=0.0, **kw):
    n = len(xs)
    return GraspSet(top_down(xs, yaw), np.full(n, 0.03), quality, np.zeros((n, 2, 3)), **kw)


def test_an_index_gives_a_grasp_and_a_slice_or_mask_another_set():
    gs = make([0.0, 0.1, 0.2], [0.5, 0.9, 0.7], hold=[1.0, 0.5, 0.2])
    g = gs[1]
    assert isinstance(g, Grasp) and g.quality == 0.9 and g.score == 0.9 and g.hold == 0.5
    np.testing.assert_array_equal(g.position, [0.1, 0.0, 0.05])
    assert gs[-1].quality == 0.7
    assert isinstance(gs[1:], GraspSet) and list(gs[1:].quality) == [0.9, 0.7]
    assert list(gs[gs.hold >= 0.5].quality) == [0.5, 0.9]
    assert list(gs[np.array([2, 0])].quality) == [0.7, 0.5]
    assert [x.quality for x in gs] == [0.5, 0.9, 0.7] and len(gs) == 3
    with pytest.raises(IndexError):
        gs[3]


def test_sorting_rescoring_and_the_round_trip_through_grasps():
    gs = make([0.0, 0.1, 0.2], [0.5, 0.9, 0.7])
    assert list(gs.sort_by_score().quality) == [0.9, 0.7, 0.5]
    rescored = gs.rescored([0.1, 0.2, 0.3], [3.0, 1.0, 2.0]).sort_by_score()
    assert list(rescored.score) == [3.0, 2.0, 1.0] and list(rescored.affordance) == [0.1, 0.3, 0.2]
    back = GraspSet.from_grasps(rescored.grasps())
    for name in GraspSet.ARRAYS:
        np.testing.assert_array_equal(getattr(back, name), getattr(rescored, name))
    assert Grasp.many(top_down([0.0]), [0.03], [0.4], np.zeros((1, 2, 3)))[0].score == 0.4
    assert len(GraspSet()) == 0 and GraspSet.from_grasps([]).poses.shape == (0, 4, 4)


def test_nms_keeps_the_best_of_grasps_alike_in_place_and_turn():
    """Within 1 cm and 30 degrees of a better grasp, a grasp goes; a half turn about the approach
    swaps the fingers only and is the same grasp; 2 cm away or turned 90 degrees it stays."""
    near = make([0.0, 0.005], [0.5, 0.9])
    assert list(near.nms().quality) == [0.9]
    half_turn = GraspSet(np.concatenate([top_down([0.0]), top_down([0.004], np.pi)]), [0.03, 0.03],
                         [0.8, 0.6], np.zeros((2, 2, 3)))
    assert list(half_turn.nms().quality) == [0.8]
    apart = make([0.0, 0.02], [0.5, 0.9])
    assert list(apart.nms().quality) == [0.9, 0.5]
    crossed = GraspSet(np.concatenate([top_down([0.0]), top_down([0.0], np.pi / 2)]), [0.03, 0.03],
                       [0.8, 0.6], np.zeros((2, 2, 3)))
    assert list(crossed.nms().quality) == [0.8, 0.6]
    with pytest.raises(InvalidInputError):
        near.nms(translation=-1)


def test_bad_arrays_are_refused_with_what_is_wrong():
    T = top_down([0.0, 0.1])
    with pytest.raises(InvalidInputError, match="widths"):
        GraspSet(T, [0.03], [0.5, 0.5], np.zeros((2, 2, 3)))
    with pytest.raises(InvalidInputError, match="finite"):
        GraspSet(T, [0.03, np.nan], [0.5, 0.5], np.zeros((2, 2, 3)))
    with pytest.raises(InvalidInputError, match=">= 0"):
        GraspSet(T, [0.03, -0.01], [0.5, 0.5], np.zeros((2, 2, 3)))
    with pytest.raises(InvalidInputError, match="hold"):
        GraspSet(T, [0.03, 0.03], [0.5, 0.5], np.zeros((2, 2, 3)), hold=[0.5, 1.5])
    with pytest.raises(InvalidInputError):
        GraspSet(T * 2, [0.03, 0.03], [0.5, 0.5], np.zeros((2, 2, 3)))     # not rigid transforms
    with pytest.raises(InvalidInputError, match="one frame"):
        GraspSet.from_grasps([Grasp(np.eye(4), 0.03), Grasp(np.eye(4), 0.03, frame_id="other")])
    with pytest.raises(InvalidInputError, match="finite affordance scores"):
        make([0.0], [0.5]).rescored([0.1, 0.2], [1.0, 2.0])
    with pytest.raises(InvalidInputError, match="made from Grasps"):
        GraspSet.from_grasps([make([0.0], [0.5])])
