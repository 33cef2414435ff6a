"""The grasp pipeline's settings in one file: how the scene cloud is built (``cloud``), how
candidates are made and judged, with the hold model (``candidates``, ``candidates.hold``), and
how they are ranked against the affordance (``scoring``). ``config/grasp_pipeline.yaml`` lists
every setting with its default; a file may set any subset, and an unknown key is an error.
``grasp_planner_node`` reads the file its ``pipeline_config`` parameter names."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Type, TypeVar

from .config import from_mapping, load_yaml
from .errors import ConfigError, InvalidInputError
from .grasping.antipodal import AntipodalConfig
from .grasping.cloud import CloudConfig
from .grasping.hold import HoldConfig
from .resources import resource
from .selection.scoring import ScoringConfig

T = TypeVar("T")
SECTIONS = ("cloud", "candidates", "scoring")


def default_pipeline_config():
    return resource("config", "grasp_pipeline.yaml")


def _section(cls: Type[T], raw: Optional[Mapping[str, Any]], where: str) -> T:
    """A config dataclass from a YAML mapping: lists where it holds tuples become tuples, and a
    value its ``validate`` refuses is a ConfigError naming the file and section."""
    raw = dict(raw or {})
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    for k, v in raw.items():
        if isinstance(defaults.get(k), tuple) and isinstance(v, list):
            raw[k] = tuple(v)
    try:
        return from_mapping(cls, raw, where).validate()
    except (InvalidInputError, TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


@dataclass
class PipelineConfig:
    cloud: CloudConfig = field(default_factory=CloudConfig)
    candidates: AntipodalConfig = field(default_factory=AntipodalConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)

    @classmethod
    def load(cls, path=None) -> "PipelineConfig":
        """The settings a YAML file gives (none: the shipped ``config/grasp_pipeline.yaml``),
        the defaults for what it leaves out."""
        where = str(path or default_pipeline_config())
        raw = load_yaml(where, "grasp pipeline config", allow_empty=True)
        unknown = set(raw) - set(SECTIONS)
        if unknown:
            raise ConfigError(f"{where}: unknown sections {sorted(unknown)}; known: {list(SECTIONS)}")
        cand = raw.get("candidates") or {}
        if not isinstance(cand, Mapping):
            raise ConfigError(f"{where}: candidates must be a mapping")
        cand = dict(cand)
        hold = _section(HoldConfig, cand.pop("hold", None), f"{where}: candidates.hold")
        return cls(cloud=_section(CloudConfig, raw.get("cloud"), f"{where}: cloud"),
                   candidates=_section(AntipodalConfig, {**cand, "hold": hold}, f"{where}: candidates"),
                   scoring=_section(ScoringConfig, raw.get("scoring"), f"{where}: scoring"))
