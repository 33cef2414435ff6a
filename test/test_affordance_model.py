"""Issue 4: metrics, model forward in both configs, a training step, checkpoints, local CLIP and
SAM weights, heatmap regions, the predictor on a frame."""
import math

import numpy as np
import pytest
import torch

from affordance_grasp.affordance import metrics
from affordance_grasp.affordance.checkpoint import load_model, save_checkpoint
from affordance_grasp.affordance.encoders import LabelVocab, build_open_clip
from affordance_grasp.affordance.model import AffordanceModel, ModelConfig
from affordance_grasp.affordance.regions import regions_from_heatmap
from affordance_grasp.apps.train import kld_loss
from affordance_grasp.errors import CheckpointError, ConfigError, InvalidInputError

VOCAB = LabelVocab(["mug", "knife"], ["grasp", "cut"], ["handle", "blade"], trained_objects=["mug", "knife"])


# ----------------------------------------------------------------------------- metrics
def test_kld_sim_nss_against_hand_computed_values():
    pred = np.array([[0.5, 0.5], [0.0, 0.0]])
    gt = np.array([[1.0, 0.0], [0.0, 0.0]])
    # gt normalised = [1,0,0,0]; KLD = 1 * log(1 / (0.5 + eps) + eps) = log 2
    assert metrics.kld(pred, gt) == pytest.approx(math.log(2), abs=1e-6)
    assert metrics.sim(pred, gt) == pytest.approx(0.5)
    # z-scored pred: mean .25, std .25 -> z = [1, 1, -1, -1]; gt >= 0.1 only at (0,0)
    assert metrics.nss(pred, gt) == pytest.approx(1.0, abs=1e-6)
    # identical maps: KLD 0, SIM 1
    assert metrics.kld(gt, gt) == pytest.approx(0.0, abs=1e-9)
    assert metrics.sim(gt * 3, gt) == pytest.approx(1.0)


def test_all_zero_ground_truth_is_uniform():
    pred = np.array([[1.0, 0.0], [0.0, 0.0]])
    gt = np.zeros((2, 2))
    # gt -> 0.25 each; KLD = 0.25*log(.25/1+eps) + 3 * 0.25*log(.25/eps + eps)
    expected = 0.25 * math.log(0.25 + 1e-12) + 0.75 * math.log(0.25 / 1e-12 + 1e-12)
    assert metrics.kld(pred, gt) == pytest.approx(expected, rel=1e-9)
    assert metrics.sim(pred, gt) == pytest.approx(0.25)


def test_iou_metrics_and_precision_at_thresholds():
    acc = metrics.MetricAccumulator()
    gt_mask = np.zeros((4, 4), bool)
    gt_mask[:2, :2] = True
    perfect = gt_mask.astype(float)
    half = np.zeros((4, 4))
    half[:2, :4] = 1.0  # 4 of 8 pixels right: IoU 0.5
    acc.add(perfect, perfect, gt_mask, category="a")
    acc.add(half, perfect, gt_mask, category="b")
    s = acc.summary()
    assert s["giou"] == pytest.approx(0.75)
    assert s["ciou"] == pytest.approx((4 + 4) / (4 + 8))
    assert s["p50"] == pytest.approx(1.0)
    # P@50:95 = mean over 10 thresholds of the share with IoU >= t: the IoU 1 sample passes all,
    # the IoU .5 one only the first.
    assert s["p50_95"] == pytest.approx((10 + 1) / 20)
    assert acc.by("category")["b"]["giou"] == pytest.approx(0.5)


def test_heatmap_regions_give_boxes_points_and_mask():
    h = np.zeros((40, 60), np.float32)
    h[5:10, 10:20] = 1.0
    h[7, 15] = 2.0
    h[30:35, 40:50] = 1.5
    boxes, points, mask = regions_from_heatmap(h, 0.4)
    assert len(boxes) == 2
    np.testing.assert_array_equal(boxes[0], [40, 30, 49, 34])      # more heat mass first
    np.testing.assert_array_equal(points[1], [15, 7])               # the peak of the other blob
    assert mask.sum() == 50 + 50
    with pytest.raises(InvalidInputError):
        regions_from_heatmap(np.full((3, 3), np.nan))


# ----------------------------------------------------------------------------- model
@pytest.mark.parametrize("config", ["default", "default_anneal", "wsag_vitb16"])
def test_forward_shapes_and_normalisation(config):
    cfg = ModelConfig.load(f"config/model/{config}.yaml")
    torch.manual_seed(0)
    model = AffordanceModel(cfg, VOCAB).eval()
    x = torch.randn(2, 3, 224, 224)
    ids = torch.tensor([1, 2])
    with torch.no_grad():
        out = model(x, ids, ids, ids, torch.randn(2, 1, 224, 224))
    assert out["logits"].shape == (2, 56, 56)
    assert out["log_heatmap"].shape == (2, 224, 224)
    sums = out["log_heatmap"].exp().flatten(1).sum(1)
    torch.testing.assert_close(sums, torch.ones(2), atol=1e-4, rtol=0)
    assert out["object_logits"].shape == (2, len(VOCAB.objects))
    # naming the object needs the encoder and the head alone: the same logits, whatever the query
    depth = torch.zeros(2, 1, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model.classify(x, depth), model(x, ids, ids, ids, depth)["object_logits"])
        torch.testing.assert_close(model.classify(x, depth), model(x, ids, ids.flip(0), ids, depth)["object_logits"])
    # the query matters: a different affordance changes the map
    with torch.no_grad():
        other = model(x, ids, torch.tensor([2, 1]), ids, torch.randn(2, 1, 224, 224))
    assert not torch.allclose(out["log_heatmap"], other["log_heatmap"])


def test_config_errors_are_clear():
    with pytest.raises(ConfigError, match="clip_text"):
        ModelConfig(query="clip_text")
    with pytest.raises(ConfigError, match="unknown model config keys"):
        ModelConfig.from_dict({"dims": 3})
    with pytest.raises(ConfigError, match="power of two"):
        AffordanceModel(ModelConfig(logits_size=50), VOCAB)


def _tiny_batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    heat = torch.zeros(n, 224, 224)
    for i in range(n):
        heat[i, 40 + 20 * i:80 + 20 * i, 60:120] = 1
    heat = heat / heat.flatten(1).sum(1)[:, None, None]
    return {"image": torch.randn(n, 3, 224, 224, generator=g), "depth": torch.zeros(n, 1, 224, 224),
            "heatmap": heat, "object": torch.tensor([1, 2, 1, 2]), "affordance": torch.tensor([1, 1, 2, 2]),
            "part": torch.tensor([1, 2, 1, 2])}


def test_a_training_step_lowers_the_loss():
    from affordance_grasp.apps.train import TrainConfig, make_optimizer, training_step

    torch.manual_seed(0)
    cfg = ModelConfig.load("config/model/default.yaml")
    model = AffordanceModel(cfg, VOCAB)
    tcfg = TrainConfig(lr=1e-3, object_dropout=0.0, reasoning_weight=0.0)
    opt = make_optimizer(model, tcfg)
    batch = _tiny_batch()

    def loss_now():
        model.eval()
        with torch.no_grad():
            out = model(batch["image"], batch["object"], batch["affordance"], batch["part"], batch["depth"])
        return float(kld_loss(out["log_heatmap"], batch["heatmap"]))

    before = loss_now()
    rng = torch.Generator().manual_seed(0)
    for _ in range(5):
        training_step(model, batch, opt, tcfg, "cpu", rng)
    assert loss_now() < before - 0.05


def test_checkpoint_round_trip_and_bad_files(tmp_path):
    torch.manual_seed(1)
    model = AffordanceModel(ModelConfig.load("config/model/default.yaml"), VOCAB).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, metrics={"val_kld": 1.0})
    loaded, blob = load_model(path)
    assert blob["metrics"]["val_kld"] == 1.0
    assert loaded.vocab.to_dict() == VOCAB.to_dict()
    b = _tiny_batch()
    with torch.no_grad():
        a = model(b["image"], b["object"], b["affordance"], b["part"], b["depth"])["log_heatmap"]
        c = loaded(b["image"], b["object"], b["affordance"], b["part"], b["depth"])["log_heatmap"]
    torch.testing.assert_close(a, c)
    # weights_only loading: the file holds nothing but tensors and plain data
    torch.load(path, weights_only=True)

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="corrupt, truncated"):
        load_model(truncated)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.pt")
    blob = torch.load(path, weights_only=True)
    blob["config"]["dim"] = 64  # another architecture than its weights
    torch.save(blob, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="does not match"):
        load_model(tmp_path / "mismatch.pt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not an affordance_grasp model checkpoint"):
        load_model(tmp_path / "foreign.pt")

    from affordance_grasp.affordance import checkpoint
    size = path.stat().st_size
    checkpoint.MAX_CHECKPOINT_BYTES, limit = size - 1, checkpoint.MAX_CHECKPOINT_BYTES   # a file over the limit
    try:
        with pytest.raises(CheckpointError, match="at most"):
            load_model(path)
    finally:
        checkpoint.MAX_CHECKPOINT_BYTES = limit


def test_open_clip_vit_b16_loads_from_a_local_checkpoint(tmp_path):
    """A random ViT-B-16 CLIP saved to disk is what a user's local OpenCLIP file looks like."""
    torch.manual_seed(0)
    src = build_open_clip("ViT-B-16")
    path = tmp_path / "vit_b16.pt"
    torch.save({"state_dict": {"module." + k: v for k, v in src.state_dict().items()}}, path)
    cfg = ModelConfig.load("config/model/wsag_vitb16.yaml")
    cfg.pretrained = str(path)
    cfg.query = "clip_text"
    model = AffordanceModel(cfg, VOCAB)
    torch.testing.assert_close(model.encoder.visual.proj, src.visual.proj)
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224), torch.tensor([1]), torch.tensor([1]), torch.tensor([1]))
    assert out["log_heatmap"].shape == (1, 224, 224)
    # a file of another architecture is refused, clearly
    bad = tmp_path / "tiny.pt"
    torch.save(build_open_clip("ag-vit-tiny-16", "open_clip/ag-vit-tiny-16.json").state_dict(), bad)
    cfg.pretrained = str(bad)
    with pytest.raises(CheckpointError, match="does not match the configured architecture"):
        AffordanceModel(cfg, VOCAB)


def test_sam_refinement_plumbing_with_a_random_sam():
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    from affordance_grasp.affordance.sam_refine import SamRefiner

    torch.manual_seed(0)
    sam = Sam(image_encoder=ImageEncoderViT(img_size=1024, patch_size=64, embed_dim=32, depth=1, num_heads=2,
                                            out_chans=32, global_attn_indexes=()),
              prompt_encoder=PromptEncoder(embed_dim=32, image_embedding_size=(16, 16), input_image_size=(1024, 1024),
                                           mask_in_chans=4),
              mask_decoder=MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(
                  depth=1, embedding_dim=32, mlp_dim=64, num_heads=2), transformer_dim=32,
                  iou_head_depth=1, iou_head_hidden_dim=16))
    refiner = SamRefiner(sam)
    rgb = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    mask = refiner.refine(rgb, np.array([[20, 30, 80, 90]]), np.array([[50, 60]]))
    assert mask.shape == (120, 160) and mask.dtype == bool
    with pytest.raises(InvalidInputError):
        refiner.refine(rgb.astype(np.float32), np.zeros((1, 4)), np.zeros((1, 2)))


def test_sam_checkpoint_errors(tmp_path):
    from affordance_grasp.affordance.sam_refine import SamRefiner

    with pytest.raises(CheckpointError, match="does not exist"):
        SamRefiner.from_checkpoint(tmp_path / "nope.pth")
    with pytest.raises(CheckpointError, match="unknown SAM model type"):
        SamRefiner.from_checkpoint(tmp_path / "nope.pth", "vit_x")


def test_learning_rate_schedules():
    from affordance_grasp.apps.train import TrainConfig

    const = TrainConfig(warmup_steps=10)
    assert const.lr_factor(0, 100) == pytest.approx(0.1) and const.lr_factor(50, 100) == 1.0
    cos = TrainConfig(warmup_steps=10, schedule="cosine")
    assert cos.lr_factor(4, 100) == pytest.approx(0.5)
    assert cos.lr_factor(10, 100) == pytest.approx(1.0)
    assert cos.lr_factor(55, 100) == pytest.approx(0.525)          # half way down: 0.05 + 0.95 / 2
    assert cos.lr_factor(100, 100) == pytest.approx(0.05)
    with pytest.raises(ConfigError, match="schedule"):
        TrainConfig.from_dict({"schedule": "step"})


def test_fine_tuning_starts_from_a_checkpoint_of_the_same_model(tmp_path):
    from affordance_grasp.apps.train import init_weights

    torch.manual_seed(2)
    cfg = ModelConfig.load("config/model/default.yaml")
    src = AffordanceModel(cfg, VOCAB)
    path = save_checkpoint(tmp_path / "stage1.pt", src)
    tuned_cfg = ModelConfig.load("config/model/default.yaml")
    tuned_cfg.train = {**cfg.train, "lr": 1e-5, "epochs": 1}           # another recipe, same model
    dst = AffordanceModel(tuned_cfg, VOCAB)
    init_weights(dst, tuned_cfg, VOCAB, path)
    for (k, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)
    other = ModelConfig.load("config/model/default.yaml")
    other.dim = 64
    with pytest.raises(CheckpointError, match="another architecture.*dim"):
        init_weights(AffordanceModel(other, VOCAB), other, VOCAB, path)
    # A grown label vocabulary: the label rows follow their names, new labels keep their fresh init.
    vocab2 = LabelVocab(list(VOCAB.objects[1:]) + ["teapot"], VOCAB.affordances[1:], VOCAB.parts[1:],
                        list(VOCAB.trained_objects) + ["teapot"])
    grown = AffordanceModel(cfg, vocab2)
    fresh = grown.query_embed.obj.weight[vocab2.objects.index("teapot")].detach().clone()
    kept = init_weights(grown, cfg, vocab2, path)
    assert kept["labels"]["objects"] == len(VOCAB.objects)
    for name in ("mug", "knife"):
        torch.testing.assert_close(grown.query_embed.obj.weight[vocab2.objects.index(name)],
                                   src.query_embed.obj.weight[VOCAB.objects.index(name)])
    torch.testing.assert_close(grown.query_embed.obj.weight[vocab2.objects.index("teapot")], fresh)
