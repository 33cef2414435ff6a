"""Decompose every variant of the twin's categories and the example objects, and copy their
convex pieces into the shipped cache (models/collision/), so no scene decomposes at run time.

Run after changing a category's geometry or sim/collision.py's DecompositionConfig:

    python scripts/build_collision_cache.py                  # everything, then export
    python scripts/build_collision_cache.py --part 0/2 &     # or in two processes ...
    python scripts/build_collision_cache.py --part 1/2 &
    python scripts/build_collision_cache.py --export-only    # ... then export what they made

Entries are written to the user cache (AG_CACHE_DIR, or ~/.cache/affordance_grasp) as they are
made, so an interrupted run resumes where it stopped. ``--prune`` removes shipped entries that
no current object uses.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from affordance_grasp.sim import collision  # noqa: E402
from affordance_grasp.sim.external import load_objects  # noqa: E402
from affordance_grasp.sim.objects import REGISTRY  # noqa: E402
from affordance_grasp.sim.objects.registry import variant  # noqa: E402


def jobs():
    """Every (category, variant) of the twin, in a fixed order."""
    return [(name, i) for name in sorted(REGISTRY) for i in range(REGISTRY[name].variants)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", default="0/1", help="k/n: build every n-th variant from the k-th")
    ap.add_argument("--export-only", action="store_true", help="build nothing; export and prune")
    ap.add_argument("--prune", action="store_true", help="remove shipped entries no object uses")
    args = ap.parse_args()
    k, n = (int(x) for x in args.part.split("/"))
    todo = jobs()
    mine = todo if args.export_only else todo[k::n]
    for name, i in tqdm(mine, desc="variants", unit="variant"):
        variant(REGISTRY[name], i)   # decomposes (or finds) each of its meshes
    load_objects([ROOT / "examples" / "objects"])
    if args.export_only or n == 1:
        folder = collision.shipped_cache_dir()
        used = set(collision.USED_KEYS)
        print(f"{collision.export_cache(used, folder)} entries in {folder}")
        if args.prune:
            stale = [f for f in folder.glob("*.npz") if f.stem not in used]
            for f in stale:
                f.unlink()
            print(f"pruned {len(stale)} unused entries")


if __name__ == "__main__":
    main()
