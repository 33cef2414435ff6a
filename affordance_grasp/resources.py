"""Where the package's resources live: config, vocabulary, gripper, checkpoints, object files.

One helper for every module. Installed with colcon, the resources are in the ament index's
``share/affordance_grasp``; in a source checkout or the venv's editable install they are in the
source tree. Nothing else builds paths from ``__file__``.
"""
from __future__ import annotations

import functools
from pathlib import Path

PACKAGE = "affordance_grasp"
_RESOURCE_DIRS = ("config", "models")


def _source_tree() -> Path:
    # The one place that knows the package folder sits in the repository root.
    return Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def share_dir() -> Path:
    """The folder holding ``config/`` and ``models/``.

    The ament index wins when it knows an installed package that carries the resources (a
    colcon install). The venv set-up also registers the package in the index (for the generated
    interfaces) but installs no resources there, so the source tree is the fallback."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return _source_tree()
    try:
        share = Path(get_package_share_directory(PACKAGE))
    except (PackageNotFoundError, ValueError, LookupError, OSError):  # OSError: no AMENT_PREFIX_PATH
        return _source_tree()
    if all((share / d).is_dir() for d in _RESOURCE_DIRS):
        return share
    return _source_tree()


def resource(*parts: str) -> Path:
    """``resource("config", "sim.yaml")`` -> the file's path (it may not exist)."""
    return share_dir().joinpath(*parts)


def resolve(path, *base: str) -> Path:
    """A user path as given when absolute or existing, else relative to ``resource(*base)``."""
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p
    return resource(*base, str(p))
