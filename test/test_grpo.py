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
    assert REWARDS == ("point",)
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
