"""GRPO for the heatmap policy (affordance/grpo.py, apps/train_rl.py): the update path, the config,
and that a tiny policy learns through it."""
import pytest

torch = pytest.importorskip("torch")

from affordance_grasp.affordance.grpo import group_advantages  # noqa: E402
from affordance_grasp.apps.train_rl import REWARDS, RLConfig, rewards_for  # noqa: E402
from affordance_grasp.errors import ConfigError  # noqa: E402


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
