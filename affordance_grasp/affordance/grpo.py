"""Group Relative Policy Optimisation for a heatmap policy.

The model's heatmap is a softmax over pixels: a probability distribution, so a point drawn from
it is an action with an exact log-probability. G points drawn for one query are a group of
rollouts; each is rewarded (``rewards.py``), and the group's own mean and spread stand in for a
value function, as DeepSeek's GRPO and the seed works (Affordance-R1, Reason-RFT, Vision-R1) do:

- advantage = (r - group mean) / (group std + 1e-6), std with Bessel's correction as verl computes
  it; a group whose rewards are all equal teaches nothing (advantage 0);
- surrogate = min(ratio x A, clip(ratio, 1 - eps, 1 + eps) x A), ratio = p_new / p_old, eps 0.2;
- KL to the frozen reference model with the k3 estimator exp(ref - logp) - (ref - logp) - 1
  (unbiased, always >= 0), clamped to [-10, 10] as verl's ``low_var_kl``, weighted by ``kl_coef``;
- loss = -mean(surrogate) + kl_coef x mean(k3);
- each rollout is used for ``epochs`` passes in minibatches of ``minibatch`` queries
  (:func:`update_policy`): the old log-probs are those of the weights that drew the points, so the
  ratio, and with it the clip, act from the second update of a rollout on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import Tensor

from ..errors import InvalidInputError

KL_CLAMP = 10.0   # verl's low_var_kl clamps k3 to [-10, 10]


@dataclass(frozen=True)
class GRPOConfig:
    group_size: int = 8        # points drawn per query
    clip_eps: float = 0.2
    kl_coef: float = 1e-2
    eps_std: float = 1e-6
    # Updates per rollout: ``epochs`` passes over the rollout in minibatches of ``minibatch`` queries
    # (whole groups). Only updates after the first see weights that differ from the ones that drew
    # the points, so only they give ratio != 1 and let the clip act.
    epochs: int = 2
    minibatch: int = 4
    max_grad_norm: float = 1.0   # verl's actor default, kept by Affordance-R1's config

    def __post_init__(self):
        if self.group_size < 2:
            raise InvalidInputError(f"group_size must be >= 2 (a group's spread is the baseline), got {self.group_size}")
        if not 0 < self.clip_eps < 1 or self.kl_coef < 0:
            raise InvalidInputError(f"need 0 < clip_eps < 1 and kl_coef >= 0, got {self.clip_eps}, {self.kl_coef}")
        if self.epochs < 1 or self.minibatch < 1:
            raise InvalidInputError(f"epochs and minibatch must be >= 1, got epochs {self.epochs}, "
                                    f"minibatch {self.minibatch}")
        if not self.max_grad_norm > 0:
            raise InvalidInputError(f"max_grad_norm must be > 0, got {self.max_grad_norm}")


def group_advantages(rewards: Tensor, eps: float = 1e-6) -> Tensor:
    """(B, G) rewards -> (B, G) advantages, normalised within each group."""
    if rewards.ndim != 2 or rewards.shape[1] < 2:
        raise InvalidInputError(f"rewards must be (queries, group of >= 2), got shape {tuple(rewards.shape)}")
    mean = rewards.mean(1, keepdim=True)
    std = rewards.std(1, keepdim=True, unbiased=True)
    return (rewards - mean) / (std + eps)


def k3_kl(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """Per-sample k3 estimate of KL(policy || reference) from the sampled actions' log-probs,
    exp(ref - logp) - (ref - logp) - 1, clamped to [-KL_CLAMP, KL_CLAMP].

    The clamp is verl's ``low_var_kl`` as Affordance-R1 releases it (hq-King/Affordance-R1,
    verl/trainer/core_algos.py, ``kl_penalty``): a pixel the reference all but rules out gives an
    exponentially large k3, and one such sample would otherwise swamp the batch's loss."""
    d = ref_logp - logp
    return torch.clamp(torch.exp(d) - d - 1.0, min=-KL_CLAMP, max=KL_CLAMP)


def grpo_loss(logp: Tensor, old_logp: Tensor, ref_logp: Tensor, advantages: Tensor,
              cfg: GRPOConfig = GRPOConfig()) -> Tuple[Tensor, Dict[str, float]]:
    """The clipped surrogate plus the KL penalty, and what to log about it."""
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - cfg.clip_eps, 1.0 + cfg.clip_eps) * advantages
    surrogate = torch.minimum(unclipped, clipped)
    kl = k3_kl(logp, ref_logp)
    loss = -surrogate.mean() + cfg.kl_coef * kl.mean()
    # clip fraction as verl logs it (pg_clipfrac): the share of samples whose clipped term is the
    # one the minimum takes, i.e. where the clip stops the gradient
    stats = {"surrogate": float(surrogate.mean().detach()), "kl": float(kl.mean().detach()),
             "clip_fraction": float((clipped < unclipped).float().mean().detach()),
             "ratio_dev": float((ratio - 1.0).abs().mean().detach())}
    return loss, stats


def sample_pixels(log_heatmap: Tensor, group_size: int, generator: Optional[torch.Generator] = None) -> Tensor:
    """(B, H, W) log-probabilities over pixels -> (B, G) flat pixel indices drawn from them."""
    if log_heatmap.ndim != 3:
        raise InvalidInputError(f"log_heatmap must be (B, H, W), got shape {tuple(log_heatmap.shape)}")
    probs = log_heatmap.detach().flatten(1).float().exp()
    return torch.multinomial(probs, group_size, replacement=True, generator=generator)


def log_prob_of(log_heatmap: Tensor, pixels: Tensor) -> Tensor:
    """The log-probability the (B, H, W) policy gives each of the (B, G) flat pixel indices."""
    return log_heatmap.flatten(1).gather(1, pixels)


# A policy over the queries of one rollout: (k,) indices into its queries -> (k, H, W) log-heatmaps.
Policy = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Rollout:
    """One rollout: G points drawn per query, their rewards and advantages, and the log-probs the
    drawing policy (old) and the frozen reference gave them, all (B, G)."""

    pixels: Tensor
    rewards: Tensor
    advantages: Tensor
    old_logp: Tensor
    ref_logp: Tensor

    @property
    def queries(self) -> int:
        return int(self.pixels.shape[0])


@torch.no_grad()
def collect_rollout(policy: Policy, reference: Policy, queries: int, reward_of: Callable[[Tensor], Tensor],
                    cfg: GRPOConfig, generator: Optional[torch.Generator] = None) -> Rollout:
    """Draw ``cfg.group_size`` points per query from ``policy``, reward them with ``reward_of``
    ((B, G) pixels -> (B, G) rewards), and keep the old and reference log-probs for the updates."""
    idx = torch.arange(queries)
    old_h = policy(idx).float()
    pixels = sample_pixels(old_h, cfg.group_size, generator)
    rewards = reward_of(pixels).float()
    if rewards.shape != pixels.shape:
        raise InvalidInputError(f"reward_of must give one reward per drawn point {tuple(pixels.shape)}, "
                                f"got {tuple(rewards.shape)}")
    return Rollout(pixels, rewards, group_advantages(rewards, cfg.eps_std), log_prob_of(old_h, pixels),
                   log_prob_of(reference(idx).float(), pixels))


def update_policy(policy: Policy, opt: torch.optim.Optimizer, rollout: Rollout, cfg: GRPOConfig,
                  generator: Optional[torch.Generator] = None) -> Dict[str, float]:
    """``cfg.epochs`` passes over the rollout in shuffled minibatches of ``cfg.minibatch`` queries,
    one clipped step each; the mean of each logged quantity over the steps, and their count."""
    params = [p for group in opt.param_groups for p in group["params"]]
    totals: Dict[str, float] = {}
    updates = 0
    for _ in range(cfg.epochs):
        order = torch.randperm(rollout.queries, generator=generator)
        for idx in order.split(cfg.minibatch):
            logp = log_prob_of(policy(idx).float(), rollout.pixels[idx])
            loss, stats = grpo_loss(logp, rollout.old_logp[idx], rollout.ref_logp[idx], rollout.advantages[idx], cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            opt.step()
            for k, v in {"loss": float(loss.detach()), **stats}.items():
                totals[k] = totals.get(k, 0.0) + v
            updates += 1
    return {**{k: v / updates for k, v in totals.items()}, "updates": updates}
