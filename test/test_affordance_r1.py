"""Issue 15, part 1: the Affordance-R1 backend, with no download.

A tiny Qwen2.5-VL (transformers' own test sizes) with a word-level tokenizer built here is
taught, in a few seconds of teacher forcing, to give one reply: the handle of a mug the twin
rendered, in think/rethink/answer form. SAM2 is the tiny Hiera config packaged with sam2, with
random weights. Through these real models the whole path runs: the processor, greedy
generation, decoding, parsing, rescaling from the model's square to the frame, SAM2 prompts,
the heatmap, choosing the object by where the heat falls, candidates and scoring. An untrained
model's reply is the malformed case.
"""
from pathlib import Path

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("sam2")

from affordance_grasp.affordance.backends import load_predictor  # noqa: E402
from affordance_grasp.affordance.backends.affordance_r1 import (AffordanceR1Config, AffordanceR1Predictor,  # noqa: E402
                                                                QwenReasoner, Sam2Segmenter, question_prompt)
from affordance_grasp.errors import CheckpointError, ConfigError, PredictionError  # noqa: E402
from affordance_grasp.pipeline import GraspPipeline  # noqa: E402
from affordance_grasp.sim.camera import SimCamera  # noqa: E402
from affordance_grasp.sim.ground_truth import object_masks  # noqa: E402
from affordance_grasp.sim.scene import SceneConfig, sample_scene  # noqa: E402

SIZE = 112        # the square the tiny model sees (the released model: 840)
SPECIAL = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
           "<|video_pad|>"]
WORDS = ["<think>", "</think>", "<rethink>", "</rethink>", "<answer>", "</answer>", "[", "]", "{", "}", ":", ",",
         '"bbox_2d"', '"point_2d"', '"affordance"', '"hold"', "the", "mug", "handle", "is", "held", "by", "its",
         "user", "assistant"] + [str(i) for i in range(1000)]
TEMPLATE = ("{% for m in messages %}<|im_start|> {{ m['role'] }} {% for c in m['content'] %}{% if c['type'] == 'image' %}"
            "<|vision_start|> <|image_pad|> <|vision_end|> {% else %}{{ c['text'] }} {% endif %}{% endfor %}<|im_end|> "
            "{% endfor %}{% if add_generation_prompt %}<|im_start|> assistant {% endif %}")


def tiny_processor():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    vocab = {w: i for i, w in enumerate(SPECIAL + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)   # joins words with spaces
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<|im_end|>",
                                   additional_special_tokens=SPECIAL[2:])
    images = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=SIZE * SIZE, patch_size=14, merge_size=1,
                                   temporal_patch_size=2)
    return Qwen2_5_VLProcessor(image_processor=images, tokenizer=fast, video_processor=Qwen2VLVideoProcessor(),
                               chat_template=TEMPLATE), vocab


def tiny_model(vocab):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    cfg = Qwen2_5_VLConfig(
        text_config=dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         intermediate_size=128, vocab_size=len(vocab), max_position_embeddings=1024,
                         rope_scaling={"type": "mrope", "mrope_section": [4, 2, 2]}, bos_token_id=None,
                         eos_token_id=vocab["<|im_end|>"], pad_token_id=vocab["<pad>"]),
        vision_config=dict(depth=1, hidden_size=32, num_heads=4, intermediate_size=42, patch_size=14,
                           spatial_merge_size=1, out_hidden_size=64, temporal_patch_size=2, fullatt_block_indexes=[0],
                           window_size=28),
        image_token_id=vocab["<|image_pad|>"], video_token_id=vocab["<|video_pad|>"],
        vision_start_token_id=vocab["<|vision_start|>"], vision_end_token_id=vocab["<|vision_end|>"])
    torch.manual_seed(0)
    return Qwen2_5_VLForConditionalGeneration(cfg)


def teach(model, processor, image, prompt, reply, steps=600):
    """Teacher forcing on one (image, prompt) -> reply until greedy decoding gives it back."""
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    inputs = processor(text=[processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)],
                       images=[image], return_tensors="pt")
    target = torch.tensor([processor.tokenizer.convert_tokens_to_ids(reply.split() + ["<|im_end|>"])])
    ids = torch.cat([inputs["input_ids"], target], 1)
    labels = ids.clone()
    labels[:, :inputs["input_ids"].shape[1]] = -100
    extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask", "mm_token_type_ids")}
    if "mm_token_type_ids" in inputs:   # which tokens are the image's: the positions (M-RoPE) depend on it
        extra["mm_token_type_ids"] = torch.cat([inputs["mm_token_type_ids"], torch.zeros_like(target)], 1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for step in range(1, steps + 1):
        loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels, **extra).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 25 == 0 and loss.item() < 0.05:
            model.eval()
            with torch.no_grad():
                out = model.generate(**inputs, max_new_tokens=target.shape[1] + 5, do_sample=False)
            if out[0, inputs["input_ids"].shape[1]:].tolist() == target[0].tolist():
                return model
            model.train()
    pytest.fail(f"the tiny model did not learn its one reply in {steps} steps (loss {loss.item():.4f})")


@pytest.fixture(scope="module")
def scene():
    """A mug alone, its handle in view; the frame and the handle's box in the frame's pixels."""
    for seed in range(2, 40):
        world = sample_scene(seed, SceneConfig(n_objects=(1, 1)), categories=["mug"]).build()
        with SimCamera(world) as cam:
            frame = cam.render()
            masks = object_masks(world, cam.render_geom_ids())
        handle = masks[0].parts.get("handle")
        if handle is not None and handle.sum() > 150:
            vs, us = np.nonzero(handle)
            return frame, handle, (us.min(), vs.min(), us.max(), vs.max())
    pytest.fail("no mug scene shows its handle")


@pytest.fixture(scope="module")
def models(scene, tmp_path_factory):
    """The taught tiny Qwen2.5-VL saved as a checkpoint folder, and a random tiny SAM2 saved as a
    checkpoint file: both load through the backend's own local-path loaders."""
    import cv2
    from sam2.build_sam import build_sam2

    frame, _, (x0, y0, x1, y1) = scene
    h, w = frame.rgb.shape[:2]
    sx, sy = SIZE / w, SIZE / h
    box = [int(np.floor(x0 * sx)), int(np.floor(y0 * sy)), int(np.ceil(x1 * sx)), int(np.ceil(y1 * sy))]
    point = [(box[0] + box[2]) // 2, (box[1] + box[3]) // 2]
    reply = ("<think> the handle is held </think> <rethink> the mug handle </rethink> <answer> [ { \"bbox_2d\" : [ "
             + " , ".join(map(str, box)) + " ] , \"point_2d\" : [ " + " , ".join(map(str, point))
             + " ] , \"affordance\" : \"hold\" } ] </answer>")
    processor, vocab = tiny_processor()
    image = cv2.resize(frame.rgb, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    folder = tmp_path_factory.mktemp("qwen_tiny")
    untaught = tmp_path_factory.mktemp("qwen_untaught")
    tiny_model(vocab).save_pretrained(untaught)
    processor.save_pretrained(untaught)
    model = teach(tiny_model(vocab), processor, image, question_prompt("grasp the mug by its handle"), reply)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    sam_file = tmp_path_factory.mktemp("sam2") / "sam2_tiny_random.pt"
    torch.manual_seed(0)
    torch.save({"model": build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu").state_dict()}, sam_file)
    return {"qwen": folder, "untaught": untaught, "sam2": sam_file, "box": box, "point": point}


def write_config(path, **kw):
    cfg = {"backend": "affordance_r1", "sam2_config": "configs/sam2.1/sam2.1_hiera_t.yaml", "device": "cpu",
           "image_size": SIZE, "max_new_tokens": 80, **kw}
    path.write_text(yaml.safe_dump({k: str(v) if hasattr(v, "parent") else v for k, v in cfg.items()}))
    return path


def test_the_prompt_is_the_released_one():
    p = question_prompt("Grasp the Mug by its handle.")
    assert p.startswith('Please answer "grasp the mug by its handle" with bboxs and points.')
    assert "<think> </think>" in p and "<rethink> </rethink>" in p and '"affordance": "hold"' in p


def test_detect_runs_end_to_end_through_the_reasoning_backend(scene, models, tmp_path):
    frame, handle, _ = scene
    predictor = load_predictor(write_config(tmp_path / "r1.yaml", model_path=models["qwen"],
                                            sam2_checkpoint=models["sam2"]))
    assert isinstance(predictor, AffordanceR1Predictor) and predictor.model_id.startswith("affordance_r1:")
    det = GraspPipeline(predictor).detect(frame, "grasp the mug by its handle", seed=0)
    h, w = frame.rgb.shape[:2]
    # the answer, rescaled from the 112-pixel square to the frame
    x0, y0, x1, y1 = models["box"]
    assert det.amap.boxes[0] == pytest.approx([x0 * w / SIZE, y0 * h / SIZE, x1 * w / SIZE, y1 * h / SIZE], abs=1e-3)
    assert det.amap.points[0] == pytest.approx([models["point"][0] * w / SIZE, models["point"][1] * h / SIZE], abs=1e-3)
    assert "the handle is held" in det.amap.reasoning and "pointed at it" in det.choice.reason
    assert {"reason", "segment", "heatmap"} <= set(det.amap.times)   # what it found, returned with the map
    # SAM2's (random) masks are kept inside the answer's box: nearly all the heat is there, once
    # the blur's reach (3 sigma) is allowed for, and a good share of it is on the handle
    reach = 3 * predictor.cfg.heat_sigma * np.hypot(h, w)
    inside = np.zeros((h, w), bool)
    inside[max(0, int(y0 * h / SIZE - reach)):int(y1 * h / SIZE + reach) + 1,
           max(0, int(x0 * w / SIZE - reach)):int(x1 * w / SIZE + reach) + 1] = True
    assert det.amap.heatmap[inside].sum() > 0.95
    assert det.amap.heatmap[handle].sum() > 0.15
    # grasps were generated and scored on that heat: the best one closes where the heat is
    assert det.grasps and det.best.affordance_score > 0.5, det.best


def test_a_malformed_reply_is_a_prediction_error_and_nothing_is_chosen(scene, models):
    frame, _, _ = scene
    from sam2.build_sam import build_sam2

    predictor = AffordanceR1Predictor(QwenReasoner.from_pretrained(models["untaught"], "cpu", max_new_tokens=30),
                                      Sam2Segmenter(build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu")),
                                      AffordanceR1Config(image_size=SIZE, device="cpu"))
    with pytest.raises(PredictionError, match="no <answer>"):
        GraspPipeline(predictor).detect(frame, "grasp the mug by its handle")


def test_missing_or_wrong_paths_are_clear_errors(models, tmp_path):
    with pytest.raises(ConfigError, match="set model_path"):
        load_predictor(write_config(tmp_path / "a.yaml"))
    with pytest.raises(CheckpointError, match="no Qwen2.5-VL checkpoint folder"):
        load_predictor(write_config(tmp_path / "b.yaml", model_path=tmp_path / "nowhere", sam2_checkpoint=models["sam2"]))
    with pytest.raises(CheckpointError, match="SAM2 checkpoint .* does not exist"):
        load_predictor(write_config(tmp_path / "c.yaml", model_path=models["qwen"], sam2_checkpoint=tmp_path / "no.pt"))
    with pytest.raises(CheckpointError, match="cannot build SAM2"):
        load_predictor(write_config(tmp_path / "d.yaml", model_path=models["qwen"], sam2_checkpoint=models["sam2"],
                                    sam2_config="configs/sam2.1/sam2.1_hiera_l.yaml"))   # tiny weights, large config
    with pytest.raises(ConfigError, match="unknown backend"):
        (tmp_path / "e.yaml").write_text("backend: gpt\n")
        load_predictor(tmp_path / "e.yaml")
    with pytest.raises(ConfigError, match="unknown keys"):
        load_predictor(write_config(tmp_path / "f.yaml", model_path=models["qwen"], temperature=0.7))


def test_the_detect_grasps_service_answers_through_the_reasoning_backend(tmp_path, ros_domain):
    """grasp_planner_node with ``predictor_config`` naming the backend, beside sim_node: the tiny
    model is taught on a frame sim_node published (the part's box: the mug, found in the depth
    image as what stands out of the table), then the planner loads it from the config and answers
    detect_grasps with it."""
    import cv2
    from rclpy.qos import qos_profile_sensor_data
    from sam2.build_sam import build_sam2
    from sensor_msgs.msg import Image

    from affordance_grasp.apps.bringup import Graph
    from affordance_grasp.ros.image_conversions import depth_from_image, rgb_from_image
    from affordance_grasp.srv import DetectGrasps
    from waiting import spinning_node, wait_for

    root = Path(__file__).resolve().parents[1]
    with ros_domain(tmp_path / "ros_log"):
        graph = Graph(root / "config" / "sim.yaml", ["sim_node"], log_dir=tmp_path / "logs",
                      extra_args={"sim_node": ["-p", "categories:=['mug']", "-p", "seed:=2", "-p", "depth_noise:=false"],
                                  "grasp_planner_node": ["-p", f"predictor_config:={tmp_path / 'r1.yaml'}", "-p",
                                                         "device:=cpu"]}).start()
        try:
            with spinning_node("r1_client") as node:
                frames, depths = [], []
                node.create_subscription(Image, "/camera/color/image_raw", frames.append, qos_profile_sensor_data)
                node.create_subscription(Image, "/camera/aligned_depth_to_color/image_raw", depths.append,
                                         qos_profile_sensor_data)
                wait_for(lambda: frames and depths, 300, "camera frames from sim_node")
                rgb, depth = rgb_from_image(frames[-1]), depth_from_image(depths[-1])
                # The table's depth changes smoothly down the image; the mug is nearer than its row's table.
                table = np.nanmedian(np.where(depth > 0, depth, np.nan), axis=1, keepdims=True)
                vs, us = np.nonzero((depth > 0) & (depth < table - 0.02))
                h, w = rgb.shape[:2]
                box = [int(us.min() * SIZE / w), int(vs.min() * SIZE / h), int(np.ceil(us.max() * SIZE / w)),
                       int(np.ceil(vs.max() * SIZE / h))]
                point = [(box[0] + box[2]) // 2, (box[1] + box[3]) // 2]
                reply = ('<think> the handle is held </think> <rethink> the mug handle </rethink> <answer> [ { "bbox_2d" : [ '
                         + " , ".join(map(str, box)) + ' ] , "point_2d" : [ ' + " , ".join(map(str, point))
                         + ' ] , "affordance" : "hold" } ] </answer>')
                processor, vocab = tiny_processor()
                image = cv2.resize(rgb, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
                model = teach(tiny_model(vocab), processor, image, question_prompt("grasp the mug by its handle"), reply)
                model.save_pretrained(tmp_path / "qwen")
                processor.save_pretrained(tmp_path / "qwen")
                torch.manual_seed(0)
                torch.save({"model": build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu").state_dict()},
                           tmp_path / "sam2.pt")
                write_config(tmp_path / "r1.yaml", model_path=tmp_path / "qwen", sam2_checkpoint=tmp_path / "sam2.pt")
                graph.start_node("grasp_planner_node")
                client = node.create_client(DetectGrasps, "detect_grasps")
                wait_for(lambda: client.wait_for_service(timeout_sec=1.0) or graph.exited(), 600, "detect_grasps")
                assert not graph.exited(), f"a node died: {graph.exited()}; logs in {tmp_path / 'logs'}"
                resp = client.call(DetectGrasps.Request(query="grasp the mug by its handle", top_k=5), timeout_sec=120)
                assert resp is not None and resp.success, getattr(resp, "message", "no answer")
                assert resp.grasps and resp.chosen_object == "mug" and "pointed at it" in resp.choice_reason
                assert "the handle is held" in resp.choice_reason
        finally:
            codes = graph.stop()
        assert all(c == 0 for c in codes.values()), codes
