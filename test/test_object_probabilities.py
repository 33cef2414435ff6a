"""Naming the objects in view in one batch, with the features of each crop kept for the frame, gives
what encoding each crop (and its mirror image) on its own gives; on a tiny random model."""
import numpy as np
import pytest
import torch

from affordance_grasp.affordance.encoders import LabelVocab
from affordance_grasp.affordance.model import AffordanceModel, ModelConfig
from affordance_grasp.affordance.predictor import AffordancePredictor, PredictorConfig
from affordance_grasp.affordance.query import QueryParser
from affordance_grasp.affordance.transforms import crop_matrix, normalise_depth, normalise_rgb, warp
from affordance_grasp.types import CameraIntrinsics, RGBDFrame

VOCAB = LabelVocab(["mug", "knife", "bowl"], ["grasp", "cut"], ["handle", "blade"], ["mug", "knife", "bowl"])
BOXES = [[40, 30, 120, 100], [150, 60, 200, 170], [210, 20, 300, 90], [5, 150, 90, 230]]


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(0)
    model = AffordanceModel(ModelConfig.load("config/model/default.yaml"), VOCAB)
    return AffordancePredictor(model, PredictorConfig(device="cpu"))


def a_frame(seed=0, h=240, w=320):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth = rng.uniform(0.6, 1.2, (h, w)).astype(np.float32)
    depth[rng.random((h, w)) < 0.05] = np.nan
    return RGBDFrame(rgb, depth, CameraIntrinsics(300.0, 300.0, (w - 1) / 2, (h - 1) / 2, w, h), np.eye(4))


def one_crop(pred, frame, box):
    """The model inputs of one crop, made directly by the transforms (no batching, no table)."""
    S = pred.crop.size
    M = crop_matrix(box, frame.rgb.shape[:2], S, pred.crop.context)
    img = torch.from_numpy(normalise_rgb(warp(frame.rgb, M, S)))[None]
    dep = torch.from_numpy(normalise_depth(warp(np.nan_to_num(frame.depth, nan=0.0), M, S, nearest=True)))[None]
    return img, dep


def per_crop_probabilities(pred, frame, boxes, flip):
    rows = []
    with torch.no_grad():
        for box in boxes:
            img, dep = one_crop(pred, frame, box)
            p = torch.softmax(pred.model.classify(img, dep), 1)[0]
            if flip:
                p = 0.5 * (p + torch.softmax(pred.model.classify(img.flip(-1), dep.flip(-1)), 1)[0])
            rows.append(p.numpy())
    return np.stack(rows)


@pytest.mark.parametrize("flip", [True, False])
def test_one_batch_names_each_crop_as_the_crop_alone_does(predictor, flip):
    frame = a_frame()
    predictor.cfg.locate_flip = flip
    try:
        predictor.forget_frame()
        batched = predictor.object_probabilities(frame, BOXES)
        # Asked again on the same frame (a box twice, in another order): from what was kept.
        again = predictor.object_probabilities(frame, [BOXES[2], BOXES[0], BOXES[2]])
    finally:
        predictor.cfg.locate_flip = True
    alone = per_crop_probabilities(predictor, frame, BOXES, flip)
    assert batched.shape == (len(BOXES), len(VOCAB.objects))
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    np.testing.assert_allclose(again, alone[[2, 0, 2]], atol=1e-5)


def test_the_class_token_alone_is_the_full_encoder_s(predictor):
    frame = a_frame(1)
    crops = [one_crop(predictor, frame, b) for b in BOXES]
    img, dep = torch.cat([c[0] for c in crops]), torch.cat([c[1] for c in crops])
    enc = predictor.model.encoder
    with torch.no_grad():
        cls, patches = enc(img, dep)
        for rows in (0, 1, 3):
            cls_k, patches_k = enc.encode(img, dep, patch_rows=rows)
            assert patches_k.shape == (rows, *patches.shape[1:])
            np.testing.assert_allclose(cls_k.numpy(), cls.numpy(), atol=1e-5)
            np.testing.assert_allclose(patches_k.numpy(), patches[:rows].numpy(), atol=1e-5)


def test_kept_features_give_the_heat_and_part_scores_of_a_fresh_encoding(predictor):
    frame = a_frame(2)
    query = QueryParser().parse("grasp the spork by its handle")
    masks = [np.zeros(frame.depth.shape, bool) for _ in BOXES]
    for m, (x0, y0, x1, y1) in zip(masks, BOXES):
        m[y0:y1, x0:x1] = True
    predictor.forget_frame()
    fresh_heat = predictor.predict(frame, query, box=BOXES[1]).heatmap
    predictor.forget_frame()
    fresh_scores = predictor.part_scores(frame, query, BOXES, masks)
    predictor.forget_frame()
    predictor.object_probabilities(frame, BOXES)           # encodes every crop, as choosing does
    kept_scores = predictor.part_scores(frame, query, BOXES, masks)
    kept_heat = predictor.predict(frame, query, box=BOXES[1]).heatmap
    np.testing.assert_allclose(kept_scores, fresh_scores, atol=1e-5)
    np.testing.assert_allclose(kept_heat, fresh_heat, rtol=1e-4, atol=1e-9)


def test_a_frame_changed_in_place_is_encoded_afresh(predictor):
    frame = a_frame(3)
    before = predictor.object_probabilities(frame, BOXES[:2])
    frame.rgb[:] = 255 - frame.rgb                          # the same arrays, new content
    after = predictor.object_probabilities(frame, BOXES[:2])
    np.testing.assert_allclose(after, per_crop_probabilities(predictor, frame, BOXES[:2], True), atol=1e-5)
    assert np.abs(after - before).max() > 1e-4
