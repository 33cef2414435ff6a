"""GRPO for the heatmap policy (affordance/grpo.py, apps/train_rl.py): the update path, the config,
and that a tiny policy learns through it."""
import pytest

torch = pytest.importorskip("torch")

from affordance_grasp.affordance.grpo import group_advantages  # noqa: E402
from affordance_grasp.apps.train_rl import REWARDS, RLConfig, rewards_for  # noqa: E402
from affordance_grasp.errors import ConfigError, InvalidInputError  # noqa: E402


def test_every_reward_can_differ_within_a_group():
    """A reward that is the same for a whole group is cancelled by the group normalisation (its
    advantage is 0), so it cannot be configured: the heatmap peak's reward was one."""
    assert REWARDS == ("point", "held")
    with pytest.raises(ConfigError, match="same for the whole group"):
        RLConfig(rewards={"point": 1.0, "peak": 1.0})
    # the point reward differs within a group: one drawn pixel on the part, one off it
    masks = torch.tensor([[True, False, False, False]])
    r = rewards_for(torch.tensor([[0, 3]]), masks, {"point": 1.0})
    assert r.tolist() == [[1.0, 0.0]] and group_advantages(r).abs().sum() > 0


class TablePolicy(torch.nn.Module):
    """A policy with a free logit per query and pixel of a 1 x W image: policy(idx) -> (k, 1, W)."""

    def __init__(self, queries: int, width: int):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(queries, 1, width))

    def forward(self, idx):
        return torch.log_softmax(self.logits[idx].flatten(1), 1).view(len(idx), 1, -1)


def test_several_minibatch_epochs_per_rollout_make_the_ratio_and_the_clip_act():
    """One update per rollout leaves ratio = 1 (old and new log-probs from the same weights), so the
    clip never acts. With epochs x minibatches updates per rollout, every update after the first
    sees moved weights: the ratio leaves 1 and the clip takes over."""
    from affordance_grasp.affordance.grpo import GRPOConfig, collect_rollout, update_policy

    policy = TablePolicy(4, 4)
    reference = TablePolicy(4, 4).requires_grad_(False)
    opt = torch.optim.SGD(policy.parameters(), lr=2.0)
    cfg = GRPOConfig(group_size=4, epochs=3, minibatch=2, kl_coef=0.0)
    gen = torch.Generator().manual_seed(0)
    on_pixel_0 = lambda pixels: (pixels == 0).float()   # noqa: E731
    rollout = collect_rollout(policy, reference, 4, on_pixel_0, cfg, gen)
    assert rollout.pixels.shape == (4, 4) and rollout.rewards.tolist() == on_pixel_0(rollout.pixels).tolist()
    stats = update_policy(policy, opt, rollout, cfg, gen)
    assert stats["updates"] == 3 * 2                     # 3 epochs of 2 minibatches of 2 queries
    assert stats["ratio_dev"] > 0.05 and stats["clip_fraction"] > 0
    # one update of the whole rollout: the ratio is exactly 1 and nothing is clipped
    one = GRPOConfig(group_size=4, epochs=1, minibatch=4, kl_coef=0.0)
    stats1 = update_policy(policy, opt, collect_rollout(policy, reference, 4, on_pixel_0, one, gen), one, gen)
    assert stats1["updates"] == 1 and stats1["ratio_dev"] == 0.0 and stats1["clip_fraction"] == 0.0
    with pytest.raises(InvalidInputError, match="epochs"):
        GRPOConfig(epochs=0)
    with pytest.raises(InvalidInputError, match="minibatch"):
        GRPOConfig(minibatch=0)


def test_train_rl_defaults_are_the_papers_and_live_in_one_config_file(tmp_path):
    """config/train_rl.yaml holds train-rl's defaults, read the one way configs are read (unknown
    keys refused); the command line overrides them. lr 1e-6 and weight decay 1e-2 as Affordance-R1's
    training_scripts/aff_r1.yaml, G = 8 as there and in Reason-RFT's stage-2 scripts, KL 1e-2."""
    from affordance_grasp.affordance.grpo import GRPOConfig
    from affordance_grasp.apps.train_rl import make_optimizer
    from affordance_grasp.cli import build_parser

    cfg = RLConfig.load()
    assert cfg == RLConfig()
    assert (cfg.lr, cfg.weight_decay, cfg.grpo.kl_coef, cfg.grpo.group_size) == (1e-6, 1e-2, 1e-2, 8)
    opt = make_optimizer(torch.nn.Linear(2, 2), cfg)
    assert isinstance(opt, torch.optim.AdamW) and (opt.defaults["lr"], opt.defaults["weight_decay"]) == (1e-6, 1e-2)
    # a file sets what it names and keeps the rest
    f = tmp_path / "rl.yaml"
    f.write_text("steps: 7\ngrpo: {kl_coef: 0.05, epochs: 3}\n")
    mine = RLConfig.load(f)
    assert (mine.steps, mine.grpo.kl_coef, mine.grpo.epochs, mine.grpo.group_size, mine.lr) == (7, 0.05, 3, 8, 1e-6)
    f.write_text("klcoef: 0.05\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        RLConfig.load(f)
    f.write_text("grpo: {kl: 0.05}\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        RLConfig.load(f)
    # the command line: nothing given is the file's; what is given wins
    from affordance_grasp.apps.train_rl import config_from_args
    base = ["train-rl", "--data", "D", "--out", "o.pt"]
    assert config_from_args(build_parser().parse_args(base)) == RLConfig()
    over = config_from_args(build_parser().parse_args(base + ["--lr", "2e-5", "--kl-coef", "0.05", "--epochs", "4",
                                                              "--minibatch", "2", "--reward", "point=2"]))
    assert over == RLConfig(lr=2e-5, rewards={"point": 2.0},
                            grpo=GRPOConfig(kl_coef=0.05, epochs=4, minibatch=2))
    f.write_text("steps: 7\n")
    assert config_from_args(build_parser().parse_args(base + ["--config", str(f)])).steps == 7


def test_the_held_reward_options_and_their_errors(tmp_path, capsys):
    """``--reward held=1`` selects the physical reward (the command line replaces the config's
    weights; a weight of 0 leaves a reward out); the twin's settings live in the config file; bad
    settings and options that cannot apply are refused with what to do."""
    from affordance_grasp.apps.rollouts import TwinConfig
    from affordance_grasp.apps.train_rl import config_from_args, train_rl
    from affordance_grasp.cli import build_parser, main

    base = ["train-rl", "--out", str(tmp_path / "o.pt")]
    held = config_from_args(build_parser().parse_args(base + ["--reward", "held=1"]))
    assert held.rewards == {"held": 1.0} and held.uses_twin and held.twin == TwinConfig()
    both = config_from_args(build_parser().parse_args(base + ["--reward", "held=1", "--reward", "point=0.5"]))
    assert both.rewards == {"held": 1.0, "point": 0.5}
    assert RLConfig(rewards={"point": 1.0, "held": 0.0}) == RLConfig() and not RLConfig().uses_twin
    with pytest.raises(ConfigError, match="positive weight"):
        RLConfig(rewards={"held": 0.0})
    with pytest.raises(ConfigError, match="non-negative"):
        RLConfig(rewards={"held": -1.0})
    f = tmp_path / "rl.yaml"
    f.write_text("rewards: {held: 1.0}\ntwin: {split: unseen, reach: 0.03}\n")
    mine = RLConfig.load(f)
    assert mine.twin == TwinConfig(split="unseen", reach=0.03) and mine.uses_twin
    for bad, match in (("twin: {split: train}\n", "twin.split"), ("twin: {reach: 0.5}\n", "twin.reach"),
                       ("twin: {reech: 0.01}\n", "unknown keys")):
        f.write_text(bad)
        with pytest.raises(ConfigError, match=match):
            RLConfig.load(f)
    # what cannot apply is refused before any work: --data with the held reward, no --data without it,
    # workers with nothing for them to run
    for args, match in ((["--reward", "held=1", "--data", "D"], "leave --data out"),
                        ([], "--data is needed"),
                        (["--data", "D", "--workers", "2"], "need the held reward")):
        assert main(base + args) == 2
        assert match in capsys.readouterr().err
    with pytest.raises(ConfigError, match="--workers must be at least 1"):
        train_rl(None, tmp_path / "none.pt", tmp_path / "o.pt", cfg=held, workers=0)


def test_a_drawn_point_takes_the_grasp_whose_contacts_close_on_it():
    """The point-to-grasp rule of the held reward (apps/rollouts.py): the candidate whose contact
    segment passes nearest the point, within reach; none for a point off every segment or without
    a position; ties to the better (lower) index. Crop pixels map back to the frame pixels they
    were warped from, and the seed blobs weigh the cloud around the drawn points."""
    import numpy as np

    from affordance_grasp.affordance.transforms import crop_matrix
    from affordance_grasp.apps.rollouts import crop_to_frame, nearest_grasps, seed_blobs, segment_distances

    contacts = np.array([[[0.0, -0.02, 0.0], [0.0, 0.02, 0.0]],      # closes across x = 0
                         [[0.1, -0.02, 0.0], [0.1, 0.02, 0.0]],      # ... across x = 0.1
                         [[0.0, -0.03, 0.0], [0.0, 0.03, 0.0]]])     # the same line as 0, wider
    points = np.array([[0.0, 0.0, 0.005], [0.09, 0.03, 0.0], [0.05, 0.0, 0.0], [np.nan] * 3])
    d = segment_distances(np.nan_to_num(points[:3]), contacts)
    assert d[0].tolist() == pytest.approx([0.005, np.hypot(0.1, 0.005), 0.005])   # 0 and 2 tie
    assert d[1, 1] == pytest.approx(np.hypot(0.01, 0.01))            # past the segment's end: to the end
    ok = np.array([True, True, True, False])
    assert nearest_grasps(contacts, points, ok, reach=0.02).tolist() == [0, 1, -1, -1]
    assert nearest_grasps(np.zeros((0, 2, 3)), points, ok, 0.02).tolist() == [-1] * 4
    w = seed_blobs(np.array([[0.0, 0.0, 0.0], [0.01, 0.0, 0.0], [0.2, 0.0, 0.0]]), points[:1], 0.01)
    assert w[0] > w[1] > 0 and w[2] == 0 and seed_blobs(np.zeros((3, 3)), np.zeros((0, 3)), 0.01).tolist() == [0] * 3
    M = crop_matrix([100, 50, 179, 149], (480, 640), 224, 1.5)
    frame_uv = np.array([[120.0, 60.0], [170.0, 140.0]])
    crop_uv = frame_uv @ M[:, :2].T + M[:, 2]
    flat = torch.tensor([[int(round(v)) * 224 + int(round(u)) for u, v in crop_uv]])
    back = crop_to_frame(flat, M[None], 224)[0]
    assert np.abs(back - frame_uv).max() <= 0.5 / M[0, 0] + 1e-6   # within the crop pixel's rounding


# ---------------------------------------------------------------- a policy that must learn
SIZE, OBJECTS = 8, 4


class TinyHeatmapModel(torch.nn.Module):
    """The affordance model's interface at toy size (vocab; forward(image, object, affordance, part,
    depth, texts) -> {"log_heatmap": (B, H, W)}): an object embedding -> logits over an 8 x 8 grid."""

    def __init__(self):
        super().__init__()
        from types import SimpleNamespace

        self.vocab = SimpleNamespace(objects=[f"thing{i}" for i in range(OBJECTS)], affordances=["grasp"],
                                     parts=["handle"])
        self.embed = torch.nn.Embedding(OBJECTS, 16)
        self.head = torch.nn.Linear(16, SIZE * SIZE)

    def forward(self, image, obj, affordance, part, depth, texts=None):
        logits = self.head(self.embed(obj))
        return {"log_heatmap": torch.log_softmax(logits, 1).view(-1, SIZE, SIZE)}


def tiny_batch(gen: torch.Generator, n: int = 8) -> dict:
    """n queries; object k's part is a 2 x 2 block in its own corner of the grid: 4 of 64 pixels."""
    obj = torch.randint(0, OBJECTS, (n,), generator=gen)
    heat = torch.zeros(n, SIZE, SIZE)
    for i, k in enumerate(obj.tolist()):
        r, c = (k // 2) * (SIZE - 2), (k % 2) * (SIZE - 2)
        heat[i, r:r + 2, c:c + 2] = 1.0
    zeros = torch.zeros(n, dtype=torch.long)
    return {"image": torch.zeros(n, 3, SIZE, SIZE), "depth": torch.zeros(n, 1, SIZE, SIZE), "heatmap": heat,
            "object": obj, "affordance": zeros, "part": zeros}


def learn(lr: float, steps: int = 40) -> list:
    """The per-step logs of ``steps`` train-rl steps (``grpo_step``, the function train-rl runs) of a
    fresh tiny model; ``lr`` 0 switches the update off."""
    import copy
    from dataclasses import replace

    from affordance_grasp.affordance.grpo import GRPOConfig
    from affordance_grasp.apps.train_rl import grpo_step, make_optimizer

    torch.manual_seed(0)
    model = TinyHeatmapModel()
    reference = copy.deepcopy(model).requires_grad_(False)
    cfg = RLConfig(lr=0.005, weight_decay=0.0, grpo=GRPOConfig(group_size=8, epochs=2, minibatch=4, kl_coef=1e-2))
    opt = make_optimizer(model, replace(cfg, lr=lr) if lr > 0 else cfg)
    for group in opt.param_groups:
        group["lr"] = lr
    gen, data_gen = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    return [grpo_step(model, reference, tiny_batch(data_gen), opt, cfg, gen, "cpu") for _ in range(steps)]


MARGIN = 0.5   # the mean reward of the last 5 steps must beat that of the first 5 by this much


def rise(logs: list) -> float:
    rewards = [log["reward"] for log in logs]
    return sum(rewards[-5:]) / 5 - sum(rewards[:5]) / 5


def test_a_tiny_policy_learns_through_the_train_rl_step():
    """Within 40 steps (seconds on a CPU) the reward of a tiny random policy rises by at least 0.5
    (it starts near 4/64), through the same step train-rl runs; with the update switched off (lr 0)
    it does not, so this test fails on a run that learns nothing."""
    logs = learn(lr=0.005)
    assert sum(log["reward"] for log in logs[:5]) / 5 < 0.15
    assert rise(logs) >= MARGIN
    assert max(log["clip_fraction"] for log in logs) > 0 and all(log["updates"] == 4 for log in logs)
    assert abs(rise(learn(lr=0.0))) < MARGIN
