"""The part model: per-point shape numbers in metres that do not depend on where an object lies
or which way it points, a tiny model that learns them, its checkpoint, and its fusion with the
predictor's heat."""
import numpy as np
import pytest
import torch

from affordance_grasp.affordance.part_geometry import (N_PART_FEATURES, PART_FEATURE_NAMES, PartGeometry,
                                                       PartGeometryConfig, PartGeometryModel, fuse_heat,
                                                       point_features, splat)
from affordance_grasp.apps.train_part_geometry import _auc, _fit, targets
from affordance_grasp.errors import ConfigError, InvalidInputError


def hammer(handle=0.25, step=0.004):
    """A handle 1.5 cm tall along x and a head 4 cm tall across it at one end; normals up."""
    xs, ys = np.meshgrid(np.arange(0, handle, step), np.arange(-0.012, 0.012, step))
    h = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, 0.015)], 1)
    xs, ys = np.meshgrid(np.arange(handle, handle + 0.03, step), np.arange(-0.05, 0.05, step))
    head = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, 0.04)], 1)
    # A sensor's points are never on a perfect grid (ties would make neighbourhoods arbitrary).
    pts = np.concatenate([h, head]) + np.random.default_rng(0).normal(0, 3e-4, (len(h) + len(head), 3))
    on_handle = np.r_[np.ones(len(h), bool), np.zeros(len(head), bool)]
    return pts, np.tile([0.0, 0.0, 1.0], (len(pts), 1)), on_handle


def place(points, yaw, offset):
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return points @ R.T + offset, R


def test_features_measure_metres_and_ignore_pose_and_which_end_is_first():
    pts, nrm, on_handle = hammer()
    a = point_features(pts, nrm, 0.0)
    assert a.shape == (len(pts), N_PART_FEATURES) == (len(pts), len(PART_FEATURE_NAMES)) and a.dtype == np.float32
    f = {k: a[:, i] for i, k in enumerate(PART_FEATURE_NAMES)}
    assert f["length"][0] == pytest.approx(0.28, abs=0.01) and f["height"][0] == pytest.approx(0.04, abs=0.001)
    # the head is the tallest end, the + end; a slice across the handle is 2.4 cm wide, the head's 10 cm
    assert f["along"][~on_handle].min() > 0.7 and f["along"][on_handle].mean() < 0
    assert np.median(f["slice width"][on_handle]) == pytest.approx(0.02, abs=0.005)
    assert np.median(f["slice width"][~on_handle]) == pytest.approx(0.096, abs=0.005)
    for yaw, offset in ((2.3, [0.5, -0.1, 0.0]), (np.pi + 0.4, [0.4, 0.2, 0.0])):
        moved, R = place(pts, yaw, offset)
        b = point_features(moved, nrm @ R.T, 0.0)
        # slices may fall a centimetre apart at their edges: compare the typical point
        assert np.median(np.abs(a - b), axis=0).max() < 0.01
    np.testing.assert_allclose(point_features(pts + [0, 0, 0.7], nrm, 0.7), a, atol=1e-3)


def test_features_reject_bad_input():
    with pytest.raises(InvalidInputError, match=r"\(N, 3\)"):
        point_features(np.zeros((10, 2)), np.zeros((10, 2)), 0.0)
    with pytest.raises(InvalidInputError, match="at least 5"):
        point_features(np.zeros((3, 3)), np.zeros((3, 3)), 0.0)


def test_a_tiny_model_learns_the_handle_from_shape_and_round_trips(tmp_path):
    rows, labels = [], []
    for L in (0.18, 0.22, 0.26, 0.30):
        pts, nrm, on_handle = hammer(L)
        rows.append(point_features(pts, nrm, 0.0))
        labels.append(on_handle)
    X = np.concatenate(rows)
    d = {"part": np.where(np.concatenate(labels), "handle", "head"), "parts_of": np.full(len(X), "handle,head")}
    y, has = targets(d, ["handle", "head"])
    assert y.sum(1).max() == 1 and has.min() == 1
    model = PartGeometryModel(["handle", "head"], hidden=16)
    _fit(model, X, y, has, epochs=40, seed=0)
    pts, nrm, on_handle = hammer(0.24)                       # a length it was not shown
    p = model.part_probabilities(point_features(pts, nrm, 0.0), "handle")
    assert _auc(p, on_handle.astype(float)) > 0.95
    model.save(tmp_path / "pg.pt")
    again = PartGeometryModel.load(tmp_path / "pg.pt")
    np.testing.assert_allclose(again.part_probabilities(point_features(pts, nrm, 0.0), "handle"), p, atol=1e-6)
    with pytest.raises(InvalidInputError, match="not taught 'spout'"):
        model.part_probabilities(X[:5], "spout")
    (tmp_path / "pg.yaml").write_text(f"checkpoint: {tmp_path / 'pg.pt'}\nweight: 0.4\n")
    geo = PartGeometry.load(tmp_path / "pg.yaml")
    assert geo.cfg.weight == 0.4 and geo.model.parts == ["handle", "head"]
    (tmp_path / "off.yaml").write_text("checkpoint: ''\n")
    assert PartGeometry.load(tmp_path / "off.yaml") is None


def test_config_and_checkpoint_errors_name_the_problem(tmp_path):
    (tmp_path / "bad.yaml").write_text("checkpoint: x.pt\nweight: 1.5\n")
    with pytest.raises(ConfigError, match="weight must be in"):
        PartGeometry.load(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="no part-geometry checkpoint"):
        PartGeometryModel.load(tmp_path / "missing.pt")
    torch.save({"features": ["other"], "parts": ["handle"], "hidden": 8, "state_dict": {}}, tmp_path / "old.pt")
    with pytest.raises(ConfigError, match="trained on other features"):
        PartGeometryModel.load(tmp_path / "old.pt")
    assert PartGeometryConfig().validate("x").weight == 0.5


def test_splat_fills_between_sparse_points_and_stays_off_elsewhere():
    px = np.array([[10, 10], [10, 14], [14, 10], [14, 14]])
    img = splat(px, np.array([1.0, 1.0, 0.0, 0.0]), (30, 30), sigma_px=2.0)
    assert img[10, 12] > 0.8 and img[14, 12] < 0.2            # between two points of value 1, of 0
    assert img[12, 12] == pytest.approx(0.5, abs=0.01)         # halfway between them
    assert img[28, 28] == 0.0                                  # no point near


def test_fusion_is_a_product_of_experts_on_covered_pixels():
    heat = np.array([[0.0, 1.0, 0.5, 0.2]], np.float32) * 4    # any scale: the peak is made 1
    geo = np.array([[0.9, 0.1, 0.9, 0.0]], np.float32)         # the last pixel is not covered
    out = fuse_heat(heat, geo, 0.5, floor=0.02)
    assert out[0, 0] == 0.0                                    # no heat (off the object): none
    assert fuse_heat(heat, geo * 0 + 1e-4, 0.5)[0, 1] == pytest.approx(np.sqrt(0.02))   # "surely not": the floor
    assert out[0, 1] == pytest.approx(np.sqrt(1.0 * 0.1))
    assert out[0, 2] == pytest.approx(np.sqrt(0.5 * 0.9))
    assert out[0, 3] == pytest.approx(0.2)                     # uncovered: the heat's own value
    assert out[0, 2] > out[0, 1]                               # shape and looks agree beats looks alone
    np.testing.assert_allclose(fuse_heat(heat, geo, 0.0), heat / 4)
    with pytest.raises(InvalidInputError, match="weight must be in"):
        fuse_heat(heat, geo, 2.0)


@pytest.fixture(scope="module")
def hammer_model():
    rows, labels = [], []
    for L in (0.18, 0.22, 0.26, 0.30):
        pts, nrm, on_handle = hammer(L)
        rows.append(point_features(pts, nrm, 0.0))
        labels.append(on_handle)
    d = {"part": np.where(np.concatenate(labels), "handle", "head"), "parts_of": np.full(sum(map(len, rows)), "handle,head")}
    y, has = targets(d, ["handle", "head"])
    model = PartGeometryModel(["handle", "head"], hidden=16)
    _fit(model, np.concatenate(rows), y, has, epochs=40, seed=0)
    return model


def test_the_pipeline_moves_heat_that_fell_on_the_head_toward_the_handle(hammer_model):
    """A predictor whose heat is even over the whole hammer: with the part model, the grasp part's
    heat lies mostly on the handle; without it, or for a part it was not taught, it is unchanged."""
    from affordance_grasp.grasping.cloud import SceneCloud
    from affordance_grasp.pipeline import refine_heat
    from affordance_grasp.types import AffordanceMap, AffordanceQuery

    pts, nrm, on_handle = hammer(0.24)
    pixels = np.stack([np.round(pts[:, 1] * 250 + 40), np.round(pts[:, 0] * 250 + 10)], 1).astype(int)
    n = len(pts)
    cloud = SceneCloud(pts, nrm, pixels, np.zeros(n, bool), np.zeros(n, int), np.ones(n, bool))
    flat = np.zeros((80, 100), np.float32)
    flat[pixels[:, 0], pixels[:, 1]] = 1.0
    q = AffordanceQuery(text="pick up the hammer by its handle", object="hammer", affordance="grasp", part="handle",
                        grasp_part="handle")
    amap = AffordanceMap.from_unnormalised(flat, q)
    geo = PartGeometry(hammer_model, PartGeometryConfig(weight=0.5))
    out = refine_heat(amap, cloud, q, geo)
    assert out.model_id.endswith("+shape") and out.heatmap.sum() == pytest.approx(1.0, abs=1e-3)
    on = np.zeros(flat.shape, bool)
    on[pixels[on_handle, 0], pixels[on_handle, 1]] = True
    before, after = float(amap.heatmap[on].sum()), float(out.heatmap[on].sum())
    assert after > before + 0.2
    assert refine_heat(amap, cloud, q, None) is amap
    spout = AffordanceQuery(text="pour with the kettle", object="kettle", affordance="pour", part="spout",
                            grasp_part="spout")
    assert refine_heat(AffordanceMap.from_unnormalised(flat, spout), cloud, spout, geo).model_id == "unknown"


def test_training_data_is_collected_in_chunks_that_a_stopped_run_keeps(tmp_path):
    from affordance_grasp.apps.chunks import collect_in_chunks, load_chunks
    calls = []

    def describe(seeds):
        calls.append(list(seeds))
        return {"y": np.asarray(seeds), "X": np.ones((len(seeds), 2))}

    collect_in_chunks(tmp_path, 5, 100, 2, describe)
    assert calls == [[100, 101], [102, 103], [104]]
    (tmp_path / "chunk_0000102.npz").unlink()         # stopped before this chunk was written
    collect_in_chunks(tmp_path, 5, 100, 2, describe)
    assert calls[3:] == [[102, 103]]
    assert sorted(int(x) for p in load_chunks(tmp_path, "y", "x") for x in p["y"]) == [100, 101, 102, 103, 104]
    with pytest.raises(InvalidInputError, match="run train-x with --scenes"):
        load_chunks(tmp_path / "none", "y", "train-x")


def test_stretching_changes_proportions_along_the_objects_own_axes():
    """Training objects are also described at other proportions: stretched along the footprint's
    main axis, across it and in height above the table, wherever the object lies and points;
    normals stay unit and follow the surface (an upward normal stays upward)."""
    from affordance_grasp.apps.train_part_geometry import stretched
    pts, nrm, _ = hammer()
    placed, R = place(pts, 0.7, np.array([0.5, -0.2, 0.75]))
    same, same_n = stretched(placed, nrm, 0.75, np.ones(3))
    np.testing.assert_allclose(same, placed, atol=1e-12)
    np.testing.assert_allclose(same_n, nrm, atol=1e-12)
    out, out_n = stretched(placed, nrm, 0.75, np.array([1.3, 0.8, 1.2]))
    back = (out - [0.5, -0.2, 0.0]) @ R                         # into the hammer's own frame
    # (its footprint's main axis is the handle's to within the sensor noise)
    assert np.ptp(back[:, 0]) == pytest.approx(1.3 * np.ptp(pts[:, 0]), rel=1e-3)
    assert np.ptp(back[:, 1]) == pytest.approx(0.8 * np.ptp(pts[:, 1]), rel=1e-3)
    assert (out[:, 2] - 0.75).max() == pytest.approx(1.2 * (placed[:, 2] - 0.75).max(), rel=1e-6)
    np.testing.assert_allclose(out_n, nrm, atol=1e-12)
