"""``affordance-grasp nodes --markdown docs/nodes.md``: each node's parameter table, written from
the node's own parameter list (name, default, range or choices, description), so the manual
cannot drift from what the node declares. Only the tables change; the prose around them stays."""
from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Dict, List

from ..errors import InvalidInputError

# Each node and the module that declares its PARAMS, in the order the manual describes them.
NODES = ("sim_node", "affordance_node", "grasp_planner_node", "executor_node", "grasp_server_node",
         "realsense_node")
HEADER = "| parameter | default | range / choices | description |\n|---|---|---|---|\n"


def _cell(value) -> str:
    return str(value).replace("|", "/")        # a bar would end the cell


def parameter_table(node: str) -> str:
    """The markdown table of one node's parameters."""
    if node not in NODES:
        raise InvalidInputError(f"unknown node {node!r}; nodes: {', '.join(NODES)}")
    params = importlib.import_module(f"affordance_grasp.ros.{node}").PARAMS
    rows: List[str] = []
    for p in params:
        bounds = (f"[{p.range[0]}, {p.range[1]}]" if p.range is not None else
                  " / ".join(p.choices) if p.choices else "")
        rows.append(f"| `{p.name}` | `{_cell(p.default)}` | {bounds} | {_cell(p.description)} |")
    return HEADER + "\n".join(rows) + "\n"


def parameter_tables() -> Dict[str, str]:
    return {n: parameter_table(n) for n in NODES}


def with_tables(text: str) -> str:
    """``text`` (the manual) with the table under each node's ``## `node` `` heading replaced by
    the one its code declares."""
    for node, table in parameter_tables().items():
        heading = re.search(rf"^## `{node}`\n", text, re.M)
        if heading is None:
            raise InvalidInputError(f"the manual has no '## `{node}`' section")
        start = text.find(HEADER, heading.end())
        following = re.search(r"^## ", text[heading.end():], re.M)
        end_of_section = heading.end() + following.start() if following else len(text)
        if start < 0 or start > end_of_section:
            raise InvalidInputError(f"the '## `{node}`' section has no parameter table")
        end = start + len(HEADER)
        while end < len(text) and text.startswith("| `", end):
            end = text.index("\n", end) + 1
        text = text[:start] + table + text[end:]
    return text


def write_tables(path: Path) -> bool:
    """Rewrite the tables in the manual at ``path``; True when anything changed."""
    path = Path(path)
    old = path.read_text()
    new = with_tables(old)
    if new != old:
        path.write_text(new)
    return new != old
