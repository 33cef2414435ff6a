"""Where the Franka Panda MJCF and meshes come from: the dm-robotics-panda wheel (Apache-2.0,
from franka_ros), installed with --no-deps for its assets only."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import ConfigError


def panda_assets_dir() -> Path:
    spec = importlib.util.find_spec("dm_robotics")
    roots = list(spec.submodule_search_locations) if spec and spec.submodule_search_locations else []
    for root in roots:
        d = Path(root) / "panda" / "assets" / "panda"
        if (d / "panda.xml").is_file() and (d / "panda_hand.xml").is_file():
            return d
    raise ConfigError("Panda assets not found: install them with "
                      "`pip install --no-deps dm-robotics-panda` (scripts/setup.sh does this)")
