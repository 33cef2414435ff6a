"""Issue 4: rendered dataset (layout, held-out categories, resume), AGD20K loader, crops, and the
predictor on a full frame with a random-init checkpoint."""
import json

import cv2
import numpy as np
import pytest
import torch

from affordance_grasp.affordance.datasets import (AGD20KData, SimAffordanceData, TorchAffordanceDataset,
                                                  UNSEEN_CATEGORIES, open_data)
from affordance_grasp.affordance.transforms import AffordanceSample, CropConfig, crop_box, crop_matrix, prepare, stitch
from affordance_grasp.apps.dataset import render_dataset
from affordance_grasp.apps.train import build_vocab
from affordance_grasp.errors import InvalidInputError


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds") / "test_unseen"
    render_dataset(root, 3, "test_unseen", seed=5)
    return root


def test_rendered_split_layout_and_held_out_categories(tiny_split):
    manifest = json.loads((tiny_split / "manifest.json").read_text())
    assert manifest["n_scenes"] == 3 and manifest["n_samples"] > 0
    assert set(manifest["per_category"]) <= set(UNSEEN_CATEGORIES)
    data = SimAffordanceData(tiny_split, load_depth=True)
    assert len(data) == manifest["n_samples"]
    s = data[0]
    assert s.rgb.shape == (480, 640, 3) and s.rgb.dtype == np.uint8
    assert s.depth.dtype == np.float32 and np.nanmax(s.depth) < 3.0
    assert s.gt.max() == 1.0 and s.object_mask.any()
    # the affordance region lies on its object
    assert (s.gt > 0.5)[~s.object_mask].sum() == 0
    meta = json.loads((tiny_split / "scenes" / "000000" / "meta.json").read_text())
    assert {"intrinsics", "T_base_camera", "objects", "samples"} <= set(meta)


def test_train_split_never_shows_unseen_categories(tmp_path):
    render_dataset(tmp_path / "train", 4, "train", seed=3)
    for meta_file in (tmp_path / "train" / "scenes").glob("*/meta.json"):
        cats = {o["category"] for o in json.loads(meta_file.read_text())["objects"]}
        assert not cats & set(UNSEEN_CATEGORIES)


def test_render_resumes_and_refuses_another_split(tiny_split, capsys):
    first = (tiny_split / "scenes" / "000001" / "rgb.png").stat().st_mtime_ns
    render_dataset(tiny_split, 4, "test_unseen", seed=5)
    assert "resuming: 3 of 4" in capsys.readouterr().out
    assert (tiny_split / "scenes" / "000001" / "rgb.png").stat().st_mtime_ns == first
    assert json.loads((tiny_split / "manifest.json").read_text())["n_scenes"] == 4
    with pytest.raises(InvalidInputError, match="holds split"):
        render_dataset(tiny_split, 4, "train", seed=5)


def test_max_targets_is_part_of_a_split_and_splits_concatenate(tmp_path, tiny_split):
    render_dataset(tmp_path / "t3", 3, "train", seed=4, max_targets=3)
    assert json.loads((tmp_path / "t3" / "manifest.json").read_text())["max_targets"] == 3
    with pytest.raises(InvalidInputError, match="max_targets 3"):
        render_dataset(tmp_path / "t3", 3, "train", seed=4)
    a, b = SimAffordanceData(tmp_path / "t3"), SimAffordanceData(tiny_split)
    both = open_data([tmp_path / "t3", tiny_split])
    assert len(both) == len(a) + len(b) and both.labels() == a.labels() + b.labels()
    assert both[len(a)].key == b[0].key and both[len(both) - 1].key == b[len(b) - 1].key
    with pytest.raises(IndexError):
        both[len(both)]
    # one sample per object: every instance exactly once, and the draw changes with the epoch
    ds = TorchAffordanceDataset(both, CropConfig(), vocab=None, train=True)
    groups = both.groups()
    picks = [ds.one_per_object(e) for e in range(4)]
    for idx in picks:
        assert sorted(groups[i] for i in idx) == sorted(set(groups))
    assert len({tuple(p) for p in picks}) > 1


def _agd20k(root, setting="Seen"):
    rng = np.random.default_rng(0)
    for aff, obj in (("hold", "knife"), ("cut", "knife"), ("drink_with", "cup")):
        ego = root / setting / "testset" / "egocentric" / aff / obj
        gt = root / setting / "testset" / "GT" / aff / obj
        ego.mkdir(parents=True)
        gt.mkdir(parents=True)
        for k in range(2):
            cv2.imwrite(str(ego / f"{obj}_{k:06d}.jpg"), rng.integers(0, 255, (60, 80, 3), dtype=np.uint8))
            heat = np.zeros((60, 80), np.uint8)
            heat[10:30, 20:50] = 200
            cv2.imwrite(str(gt / f"{obj}_{k:06d}.png"), heat)
    # an image without ground truth is not a sample
    cv2.imwrite(str(root / setting / "testset" / "egocentric" / "hold" / "knife" / "extra.jpg"),
                np.zeros((60, 80, 3), np.uint8))


def test_agd20k_loader(tmp_path):
    _agd20k(tmp_path)
    data = open_data(tmp_path, part_map={"knife": {"hold": "handle", "cut": "blade"}})
    assert isinstance(data, AGD20KData) and len(data) == 6
    labels = data.labels()
    assert ("knife", "cut", "blade") in labels and ("cup", "drink_with", "<unk>") in labels
    s = data[0]
    assert s.rgb.shape == (60, 80, 3) and s.gt.max() == pytest.approx(200 / 255)
    ds = TorchAffordanceDataset(data, CropConfig(), build_vocab(data))
    item = ds[0]
    assert item["image"].shape == (3, 224, 224) and item["heatmap"].sum() == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(InvalidInputError, match="AGD20K"):
        open_data(str(tmp_path) + "::Unseen")
    with pytest.raises(InvalidInputError, match="neither"):
        open_data(tmp_path / "nothing")


def test_crop_maps_the_box_into_the_square_and_back():
    box = [100, 50, 199, 149]  # 100 px square
    M = crop_matrix(box, (480, 640), 224, context=2.0)
    corners = np.array([[100, 50, 1], [199.5, 149.5, 1]]) @ M.T
    np.testing.assert_allclose(corners[0], [56, 56], atol=1.5)
    np.testing.assert_allclose(crop_box(M, 224), [49.5, -0.5, 249.5, 199.5], atol=1e-3)


def test_prepare_and_stitch_keep_the_target_region():
    rgb = np.zeros((100, 100, 3), np.uint8)
    gt = np.zeros((100, 100), np.float32)
    gt[40:60, 40:60] = 1
    s = AffordanceSample(rgb=rgb, gt=gt, category="mug", affordance="grasp", part="handle",
                         object_mask=gt > 0, box=[30, 30, 69, 69])
    item = prepare(s, CropConfig(size=64), np.random.default_rng(0))
    assert item["heatmap"].sum() == pytest.approx(1.0, abs=1e-4) and item["mask"].any()
    st = stitch([item] * 4)
    assert st["image"].shape == item["image"].shape
    assert st["mask"][:32, :32].any() and not st["mask"][32:, :].any() and not st["mask"][:, 32:].any()


def test_predictor_on_a_frame_with_a_random_checkpoint(tmp_path, block_world):
    from affordance_grasp.affordance.checkpoint import save_checkpoint
    from affordance_grasp.affordance.encoders import LabelVocab
    from affordance_grasp.affordance.model import AffordanceModel, ModelConfig
    from affordance_grasp.affordance.predictor import AffordancePredictor
    from affordance_grasp.affordance.query import QueryParser

    torch.manual_seed(0)
    vocab = LabelVocab(["knife", "mug"], ["grasp", "cut"], ["handle", "blade"], ["knife", "mug"])
    ck = save_checkpoint(tmp_path / "m.pt", AffordanceModel(ModelConfig.load("config/model/default.yaml"), vocab))
    pred = AffordancePredictor.from_config(checkpoint=str(ck), device="cpu")
    frame = block_world[1].render()
    query = QueryParser().parse("hand me the knife so I can cut")
    box = [200, 150, 400, 330]
    amap = pred.predict(frame, query, box=box)
    assert amap.heatmap.shape == frame.depth.shape
    assert amap.heatmap.sum() == pytest.approx(1.0, abs=1e-3)
    # all heat lies inside the crop around the box
    x0, y0, x1, y1 = crop_box(crop_matrix(box, frame.depth.shape, 224, 1.5), 224)
    inside = np.zeros(frame.depth.shape, bool)
    inside[max(int(y0) - 2, 0):int(y1) + 3, max(int(x0) - 2, 0):int(x1) + 3] = True  # +-2 px of interpolation
    assert amap.heatmap[~inside].sum() < 1e-6
    assert len(amap.boxes) >= 1 and len(amap.points) == len(amap.boxes) and amap.mask.any()
    avoid = pred.avoid_map(frame, query, box)  # "so I can cut": grasp the handle, avoid nothing named
    assert avoid is None or avoid.max() <= 1.0
    probs = pred.object_probabilities(frame, [box, [0, 0, 100, 100]])
    assert probs.shape == (2, len(vocab.objects)) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert pred.locate(frame, query, [box, [0, 0, 100, 100]]) in (0, 1)
    # locate_flip (default on) makes the reasoning head all but blind to mirroring the scene; what
    # is left comes from interpolating the two crops on slightly different pixel grids
    from dataclasses import replace
    W = frame.rgb.shape[1]
    mirror = replace(frame, rgb=np.ascontiguousarray(frame.rgb[:, ::-1]), depth=np.ascontiguousarray(frame.depth[:, ::-1]))
    mbox = [W - 1 - box[2], box[1], W - 1 - box[0], box[3]]
    flipped = [pred.object_probabilities(f, [b])[0] for f, b in ((frame, box), (mirror, mbox))]
    pred.cfg.locate_flip = False
    plain = [pred.object_probabilities(f, [b])[0] for f, b in ((frame, box), (mirror, mbox))]
    assert np.abs(flipped[0] - flipped[1]).max() < 0.5 * np.abs(plain[0] - plain[1]).max()
    with pytest.raises(InvalidInputError, match="outside"):
        pred.predict(frame, query, box=[700, 500, 800, 600])
    with pytest.raises(InvalidInputError, match="RGBDFrame"):
        pred.predict("not a frame", query)


def test_scene_frames_and_locate_accuracy_bookkeeping(tmp_path):
    from affordance_grasp.affordance.evaluation import locate_accuracy

    root = tmp_path / "val"
    render_dataset(root, 6, "val", seed=11)
    data = SimAffordanceData(root)
    scenes = data.scenes()
    assert len(scenes) == 6
    scene, meta = scenes[0]
    frame = data.frame(scene)
    assert frame.rgb.shape == (480, 640, 3) and frame.depth.dtype == np.float32
    assert np.isnan(frame.depth).any() or np.nanmin(frame.depth) > 0.2   # metres, not millimetres
    assert np.nanmax(frame.depth) < 3.0
    np.testing.assert_allclose(frame.T_base_camera, meta["T_base_camera"])
    multi = [m for _, m in scenes if len(m["objects"]) >= 2]
    assert multi, "seed 11 renders at least one scene with several objects"

    class Always:                       # always the first box: right when it shows the queried category
        def locate(self, frame, query, boxes):
            return 0

    class ByBox:                        # cheats with the ground truth: always right
        def __init__(self):
            self.truth = {}

        def locate(self, frame, query, boxes):
            return next(i for i, b in enumerate(boxes) if self.truth[tuple(b)] == query.object)

    first = locate_accuracy(Always(), data, progress=False)
    decisions = sum(len(m["objects"]) for m in multi)
    assert first["n"] == decisions and first["scenes"] == len(multi)
    right = sum(o["category"] == m["objects"][0]["category"] for m in multi for o in m["objects"])
    assert first["accuracy"] == pytest.approx(right / decisions, abs=1e-4) and first["accuracy"] < 1.0
    oracle = ByBox()
    oracle.truth = {tuple(o["box"]): o["category"] for m in multi for o in m["objects"]}
    assert locate_accuracy(oracle, data, progress=False)["accuracy"] == 1.0


def test_train_resume_fine_tune_and_eval_end_to_end(tmp_path):
    """The CLI path a user takes: render, train, resume, fine-tune from it, evaluate."""
    import yaml

    from affordance_grasp.apps.eval import run_eval
    from affordance_grasp.apps.train import train

    render_dataset(tmp_path / "train", 5, "train", seed=21)
    render_dataset(tmp_path / "train3", 4, "train", seed=23, max_targets=3)
    render_dataset(tmp_path / "val", 4, "val", seed=22)
    both = [tmp_path / "train", tmp_path / "train3"]
    cfg = yaml.safe_load(open("config/model/default.yaml"))
    cfg["train"].update(epochs=1, batch_size=8, warmup_steps=2, max_minutes=0)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "m.pt"
    s1 = train(both, tmp_path / "tiny.yaml", out, val=tmp_path / "val")
    assert out.exists() and s1["epochs_run"] == 1 and np.isfinite(s1["best_val_kld"])
    assert (tmp_path / "m.pt.last.pt").exists()
    s2 = train(both, tmp_path / "tiny.yaml", out, val=tmp_path / "val", epochs=2)
    assert s2["epochs_run"] == 2 and s2["history"][0] == s1["history"][0]        # resumed, not restarted

    # Fine-tune (two splits read as one) with one affordance sample per object instance per epoch.
    cfg["train"].update(reasoning_weight=1.0, schedule="cosine", one_sample_per_object=True)
    (tmp_path / "tune.yaml").write_text(yaml.safe_dump(cfg))
    tuned = tmp_path / "tuned.pt"
    s3 = train(both, tmp_path / "tune.yaml", tuned, val=tmp_path / "val", init=out)
    n_objects = len(set(open_data(both).groups()))
    assert s3["init"] == str(out) and s3["epochs_run"] == 1
    assert s3["history"][0]["steps"] == n_objects // 8

    result = run_eval(tmp_path / "val", tmp_path / "eval", checkpoint=tuned, grid=4)
    assert {"model", "uniform", "whole_object"} <= set(result["results"])
    assert result["locate"]["n"] > 0 and 0.0 <= result["locate"]["accuracy"] <= 1.0
    assert (tmp_path / "eval" / "grid.png").exists() and "## locate" in (tmp_path / "eval" / "metrics.md").read_text()


def test_raised_box_keeps_what_a_depth_cluster_sees():
    """A camera 1 m above the table looking down: a 2 cm tall handle and a 2 mm flat blade."""
    from affordance_grasp.affordance.transforms import raised_box
    from affordance_grasp.types import CameraIntrinsics

    K = CameraIntrinsics(500.0, 500.0, 99.5, 79.5, 200, 160)
    T = np.array([[1.0, 0, 0, 0.5], [0, -1.0, 0, 0], [0, 0, -1.0, 1.0], [0, 0, 0, 1]])  # optical z = -base z
    depth = np.full((160, 200), 1.0, np.float32)
    mask = np.zeros((160, 200), bool)
    mask[70:90, 40:100] = True           # handle, 2 cm high
    depth[70:90, 40:100] = 0.98
    mask[72:88, 100:160] = True          # blade, 2 mm: inside the table plane's tolerance
    depth[72:88, 100:160] = 0.998
    depth[0:5, :] = np.nan               # invalid pixels are ignored
    box = raised_box(depth, mask, K, T, clearance=0.006, pad=0)
    assert box.tolist() == [40, 70, 99, 89]
    assert raised_box(depth, mask, K, T, clearance=0.03) is None  # nothing is 3 cm tall
    assert raised_box(depth, np.zeros_like(mask), K, T, clearance=0.006) is None


def test_train_rl_runs_resumes_and_writes_its_curves(tmp_path):
    """GRPO fine-tuning from a random model built from the shipped config: every step makes its
    epochs x minibatches updates and they move the weights (no weight decay, so only the gradient
    can), the later updates of a rollout see a ratio off 1 and a surrogate off 0, validation
    rewards lie in [0, 1], a longer second call resumes the first, another config is refused, the
    best checkpoint is written exactly when validation improved, and the last state loads as a
    predictor. (Whether it learns is test_grpo.py's learning test.)"""
    import json

    from affordance_grasp.affordance.checkpoint import read_checkpoint, save_checkpoint
    from affordance_grasp.affordance.grpo import GRPOConfig
    from affordance_grasp.affordance.model import AffordanceModel, ModelConfig
    from affordance_grasp.affordance.predictor import AffordancePredictor
    from affordance_grasp.apps.train import build_vocab
    from affordance_grasp.apps.train_rl import RLConfig, train_rl
    from affordance_grasp.errors import CheckpointError, ConfigError

    render_dataset(tmp_path / "train", 3, "train", seed=31)
    render_dataset(tmp_path / "val", 2, "val", seed=32)
    cfg = ModelConfig.load("config/model/default.yaml")
    source = open_data(tmp_path / "train")
    init = save_checkpoint(tmp_path / "init.pt", AffordanceModel(cfg, build_vocab(source, open_data(tmp_path / "val"))))
    rl = RLConfig(steps=2, batch_size=4, lr=1e-3, weight_decay=0.0, val_every=2, val_samples=8,
                  grpo=GRPOConfig(group_size=8, epochs=2, minibatch=2))
    out = tmp_path / "rl.pt"
    s1 = train_rl(tmp_path / "train", init, out, tmp_path / "val", rl, device="cpu")
    assert s1["steps"] == 2 and [v["step"] for v in s1["validation"]] == [0, 2]
    assert all(0.0 <= v["val_point_reward"] <= 1.0 and v["val_kld"] > 0 for v in s1["validation"])
    s2 = train_rl(tmp_path / "train", init, out, tmp_path / "val", RLConfig(**{**rl.__dict__, "steps": 4}), device="cpu")
    assert s2["steps"] == 4 and s2["validation"][:2] == s1["validation"]          # resumed, not restarted
    assert [v["step"] for v in s2["validation"]] == [0, 2, 4]
    state = read_checkpoint(tmp_path / "rl.pt.last.pt")
    history = json.loads(state["history"])
    assert [h["step"] for h in history] == [1, 2, 3, 4] and all(h["updates"] == 2 * 2 for h in history)
    assert all(0.0 <= h["clip_fraction"] <= 1.0 and h["kl"] >= 0.0 for h in history)
    assert max(h["ratio_dev"] for h in history) > 0 and max(abs(h["surrogate"]) for h in history) > 0
    start = read_checkpoint(init)["state_dict"]
    assert any(not torch.equal(v, start[k]) for k, v in state["state_dict"].items())   # the weights moved
    assert out.exists() == (s2["best_val_point_reward"] > s1["validation"][0]["val_point_reward"])
    assert isinstance(AffordancePredictor.from_config(None, checkpoint=str(tmp_path / "rl.pt.last.pt"), device="cpu"),
                      AffordancePredictor)
    with pytest.raises(CheckpointError, match="another config"):   # another learning rate: not the same run
        train_rl(tmp_path / "train", init, out, tmp_path / "val", RLConfig(**{**rl.__dict__, "lr": 1e-4}), device="cpu")
    assert (tmp_path / "rl.png").stat().st_size > 1000 and json.loads((tmp_path / "rl.json").read_text())["steps"] == 4
    with pytest.raises(ConfigError, match="rewards"):
        RLConfig(rewards={"iou": 1.0})
