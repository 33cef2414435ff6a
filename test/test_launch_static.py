"""Issue 5: launch files checked statically (`ros2 launch` is not installable here): executables
exist as entry points and node scripts, params files exist and parse with every node's parameters
known, remaps name real topics; plus the RViz config and the params <-> twin camera pose."""
import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml

from affordance_grasp.apps.bringup import NODES, nodes_in
from affordance_grasp.ros.common import NODE_TOPICS

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = sorted((ROOT / "launch").glob("*.launch.xml"))
EXTERNAL = {("tf2_ros", "static_transform_publisher"), ("rviz2", "rviz2")}  # from a ROS install


def _entry_points():
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and " = " in node.value:
            name, target = node.value.split(" = ")
            yield name.strip(), target.strip()


def _subst(value: str, args: dict) -> str:
    value = re.sub(r"\$\(var (\w+)\)", lambda m: args[m.group(1)], value)
    return value.replace("$(find-pkg-share affordance_grasp)", str(ROOT))


def _node_params():
    """Parameter names each node declares, read from its module's PARAMS (and CAMERA_PARAMS)."""
    import importlib

    out = {}
    for node, module in NODES.items():
        mod = importlib.import_module(module)
        out[node] = {p.name for p in mod.PARAMS}
    return out


def test_there_are_launch_files_for_sim_and_realsense():
    assert {p.name for p in LAUNCH} >= {"sim.launch.xml", "realsense_panda.launch.xml"}


@pytest.mark.parametrize("launch", LAUNCH, ids=lambda p: p.name)
def test_launch_file_is_consistent(launch):
    root = ET.parse(launch).getroot()
    args = {a.get("name"): a.get("default") for a in root.iter("arg")}
    eps = dict(_entry_points())
    params = _node_params()
    scripts = {p.name for p in (ROOT / "scripts" / "nodes").iterdir()}
    nodes = list(root.iter("node"))
    assert nodes
    for n in nodes:
        pkg, exe = n.get("pkg"), n.get("exec")
        if (pkg, exe) in EXTERNAL:
            continue
        assert pkg == "affordance_grasp", f"{launch.name}: unknown package {pkg}"
        assert exe in eps and eps[exe] == f"affordance_grasp.ros.entry:{exe}", f"{exe} is not a console_scripts entry point"
        assert exe in scripts, f"{exe} has no scripts/nodes/ file for `ros2 run`"
        for p in n.iter("param"):
            path = Path(_subst(p.get("from"), args))
            assert path.exists(), f"{launch.name}: params file {path} does not exist"
            data = yaml.safe_load(path.read_text())
            assert n.get("name") in nodes_in(path), f"{path.name} has no section for {n.get('name')}"
            unknown = set(data[n.get("name")]["ros__parameters"]) - params[exe]
            assert not unknown, f"{path.name}: {n.get('name')} does not declare {sorted(unknown)}"
        for r in n.iter("remap"):
            assert r.get("from") in NODE_TOPICS[exe], f"{launch.name}: {exe} has no topic {r.get('from')!r}"
            to = _subst(r.get("to"), args)
            assert to.startswith("/") and to.endswith(r.get("from").split("/", 1)[1]), to


@pytest.mark.parametrize("params", ["sim.yaml", "realsense_panda.yaml"])
def test_params_files_cover_every_parameter(params):
    path = ROOT / "config" / params
    declared = _node_params()
    for node in nodes_in(path):
        given = set(yaml.safe_load(path.read_text())[node]["ros__parameters"])
        assert given == declared[node], f"{params}: {node} misses {sorted(declared[node] - given)}"


def test_registered_topics_appear_in_the_node_code():
    import importlib
    import inspect

    helpers = inspect.getsource(importlib.import_module("affordance_grasp.ros.camera_input"))
    for node, topics in NODE_TOPICS.items():
        src = inspect.getsource(importlib.import_module(NODES[node])) + helpers
        for t in topics:
            const = {"camera/color/image_raw": "COLOR_TOPIC", "camera/aligned_depth_to_color/image_raw": "DEPTH_TOPIC",
                     "camera/color/camera_info": "INFO_TOPIC"}.get(t)
            assert f'"{t}"' in src or (const and const in src), f"{node}: {t} not found in its code"


def default_camera_pose():
    from affordance_grasp.geometry import quat_from_pose
    from affordance_grasp.sim.world import CameraConfig
    T = CameraConfig().T_base_camera()
    return [float(x) for x in np.r_[T[:3, 3], quat_from_pose(T)]]


def test_sim_params_camera_pose_matches_the_twin():
    data = yaml.safe_load((ROOT / "config" / "sim.yaml").read_text())
    for node in ("grasp_planner_node", "affordance_node"):
        np.testing.assert_allclose(data[node]["ros__parameters"]["camera_pose"], default_camera_pose(), atol=1e-5)
    # The launch file holds no copy of the pose: sim_node broadcasts the twin's own.
    assert "static_transform_publisher" not in (ROOT / "launch" / "sim.launch.xml").read_text()


def test_rviz_config_shows_overlay_markers_and_cloud():
    cfg = yaml.safe_load((ROOT / "config" / "affordance_grasp.rviz").read_text())
    displays = {d["Class"]: d for d in cfg["Visualization Manager"]["Displays"]}
    topics = {d.get("Topic", {}).get("Value") for d in cfg["Visualization Manager"]["Displays"]}
    assert {"/grasp_planner_node/overlay", "/grasp_planner_node/markers", "/grasp_planner_node/scene_cloud"} <= topics
    assert "rviz_default_plugins/PointCloud2" in displays and "rviz_default_plugins/MarkerArray" in displays
    assert cfg["Visualization Manager"]["Global Options"]["Fixed Frame"] == "base_link"


def test_a_bad_parameter_is_refused_at_start_up(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "ROS_LOG_DIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "affordance_grasp.ros.grasp_server_node", "--ros-args", "-p",
                        "max_attempts:=0"], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2
    assert "max_attempts" in r.stderr and "[1, 20]" in r.stderr
    r = subprocess.run([sys.executable, "-m", "affordance_grasp.ros.executor_node", "--ros-args", "-p",
                        "backend:=robot"], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2 and "choose one of ['sim', 'moveit']" in r.stderr


def test_the_real_robot_launch_builds_the_moveit_config_and_uses_our_nodes():
    """launch/realsense_panda.launch.py cannot run here (launch_ros and moveit_configs_utils come with
    a ROS install): check what it starts against setup.py and the params file."""
    src = (ROOT / "launch" / "realsense_panda.launch.py").read_text()
    strings = {n.value for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    eps = dict(_entry_points())
    ours = {"realsense_node", "affordance_node", "grasp_planner_node", "executor_node", "grasp_server_node"}
    assert ours <= set(eps) and ours <= strings
    assert "MoveItConfigsBuilder" in src and "to_moveit_configs" in src and "moveit_config.to_dict()" in src
    assert '"backend": "moveit"' in src
    names = nodes_in(ROOT / "config" / "realsense_panda.yaml")
    assert "executor_node" in names


def test_the_real_robot_refuses_to_start_without_a_calibration(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "ROS_LOG_DIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "affordance_grasp.ros.grasp_planner_node", "--ros-args",
                        "--params-file", str(ROOT / "config" / "realsense_panda.yaml")],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 2 and "set camera_pose" in r.stderr, r.stderr[-500:]


def test_stop_requests_during_start_up_and_shutdown_exit_cleanly(tmp_path):
    """Ctrl-C while a node still imports torch/open3d, and the double SIGINT a terminal's Ctrl-C
    gives under ros2 launch (the terminal's, then launch's): status 0 and no traceback."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "ROS_LOG_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "affordance_grasp.ros.entry", "grasp_server_node"]
    early = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    time.sleep(0.3)
    early.send_signal(signal.SIGINT)
    out = early.communicate(timeout=60)[0]
    assert early.returncode == 0 and "Traceback" not in out, out[-2000:]

    for gap in (0.002, 0.2):   # the second one mid-shutdown, or during interpreter finalization
        node = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        line = node.stdout.readline()
        while line and "ready:" not in line:
            line = node.stdout.readline()
        assert "ready:" in line
        node.send_signal(signal.SIGINT)
        time.sleep(gap)
        node.send_signal(signal.SIGINT)
        out = node.communicate(timeout=60)[0]
        assert node.returncode == 0 and "Traceback" not in out, (gap, out[-2000:])


def test_every_package_xml_dependency_is_a_rosdep_key():
    """``rosdep install`` aborts on the first key it cannot resolve. Every dependency must be a key
    on both Jazzy and Kilted: test/data/rosdep_keys.txt is the key list of ros/rosdistro (its
    commit and date in the file's header)."""
    import re
    keys = {line.strip() for line in (ROOT / "test" / "data" / "rosdep_keys.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")}
    deps = re.findall(r"<(?:depend|exec_depend|build_depend|buildtool_depend|test_depend)>([^<]+)<",
                      (ROOT / "package.xml").read_text())
    assert len(deps) > 20 and len(keys) > 3000
    assert [d for d in deps if d not in keys] == []


def test_every_name_in_the_moveit_settings_is_in_the_default_robot_description():
    """IK, goals and attach fail for a link the robot model lacks: config/moveit.yaml once named
    panda_hand_tcp, which the launch default (moveit_resources_panda_moveit_config) does not have.
    test/data/moveit_resources_panda_names.yaml lists its links, joints and groups (with the commit)."""
    from affordance_grasp.execution.moveit import MoveItSettings
    names = yaml.safe_load((ROOT / "test" / "data" / "moveit_resources_panda_names.yaml").read_text())
    s = MoveItSettings.load(ROOT / "config" / "moveit.yaml")      # the names as arm_id resolves them
    assert s.planning_group in names["groups"]
    links = [s.end_effector_link, s.base_frame, *s.hand_links]
    assert [x for x in links if x not in names["links"]] == []
    assert [j for j in (*s.finger_joints, *s.arm_joints) if j not in names["joints"]] == []


def test_rviz_reads_the_base_frame_from_a_params_file_written_for_every_node(tmp_path):
    """``rviz:=true`` with a params file whose parameters sit under /** raised a KeyError: the launch
    file indexed the planner's own section. It now reads the parameters as ROS gives them to the node."""
    from affordance_grasp.config import node_params
    f = tmp_path / "p.yaml"
    f.write_text("/**:\n  ros__parameters:\n    base_frame: fr3_link0\n")
    assert node_params([f], "grasp_planner_node")["base_frame"] == "fr3_link0"
    f.write_text("/**:\n  ros__parameters:\n    base_frame: a\ngrasp_planner_node:\n  ros__parameters:\n    base_frame: b\n")
    assert node_params([f], "grasp_planner_node")["base_frame"] == "b"
    src = (ROOT / "launch" / "realsense_panda.launch.py").read_text()
    assert '["grasp_planner_node"]' not in src and "node_params([params], \"grasp_planner_node\")" in src


def test_the_nodes_manual_shows_every_parameter_as_the_code_declares_it():
    """docs/nodes.md's parameter tables are what `affordance-grasp nodes` writes from each node's
    PARAMS: a parameter added, renamed or re-ranged in the code without the manual fails here."""
    from affordance_grasp.apps.nodes_doc import NODES, parameter_table, with_tables
    text = (ROOT / "docs" / "nodes.md").read_text()
    assert with_tables(text) == text
    for node in NODES:
        assert parameter_table(node) in text
