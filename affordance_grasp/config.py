"""The one way to read a YAML config: a size-limited ``yaml.safe_load`` into a mapping, and
dataclasses built from mappings with unknown keys refused."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Type, TypeVar

import yaml

from .errors import ConfigError

T = TypeVar("T")
MAX_YAML_BYTES = 1 << 20   # 1 MiB: a config is text a person writes


def load_yaml(path, what: str = "config", max_bytes: int = MAX_YAML_BYTES, allow_empty: bool = False) -> dict:
    """The mapping in a YAML file, or ConfigError naming the file and the problem."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"{what} {p} does not exist")
    size = p.stat().st_size
    if size > max_bytes:
        raise ConfigError(f"{what} {p} is {size} bytes; a {what} is at most {max_bytes} bytes")
    try:
        raw = yaml.safe_load(p.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read {what} {p}: {str(e).splitlines()[0]}") from None
    if raw is None and allow_empty:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} {p} must be a YAML mapping (key: value lines), got {type(raw).__name__}")
    return raw


def from_mapping(cls: Type[T], raw: Mapping[str, Any], where: str) -> T:
    """``cls(**raw)`` for a dataclass, refusing keys it does not have (a typo is an error, not a
    silently ignored setting)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    try:
        return cls(**raw)
    except TypeError as e:
        raise ConfigError(f"{where}: {e}") from None


def with_overrides(cfg: T, overrides: Mapping[str, Any], where: str) -> T:
    """A copy of the dataclass ``cfg`` with ``overrides`` applied (``dataclasses.replace``), refusing
    keys it does not have, as :func:`from_mapping` does."""
    known = {f.name for f in dataclasses.fields(cfg)}
    unknown = set(overrides) - known
    if unknown:
        raise ConfigError(f"{where}: unknown overrides {sorted(unknown)}; known: {sorted(known)}")
    return dataclasses.replace(cfg, **overrides)


def node_params(paths, node_name: str, namespace: str = "/") -> dict:
    """The parameters ROS params files give one node: the ``/**`` section, then the node's own (by
    name, fully qualified, or ``/**/name``), later files and sections winning, as ROS applies them."""
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    keys = ("/**", f"/**/{node_name}", node_name, f"{ns}/{node_name}")
    out: dict = {}
    for path in paths:
        raw = load_yaml(path, "params file", allow_empty=True) or {}
        for key in keys:
            section = raw.get(key)
            if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
                out.update(section["ros__parameters"])
    return out
