"""Python packaging for the venv install (the colcon build uses CMakeLists.txt)."""
from setuptools import find_packages, setup

setup(
    name="affordance_grasp",
    version="0.1.0",
    description="Affordance-guided 6-DoF grasping with ROS 2, MuJoCo twin and MoveIt",
    packages=find_packages(include=["affordance_grasp", "affordance_grasp.*"]),
    python_requires=">=3.11",
    include_package_data=True,
    entry_points={
        "console_scripts": [
            "affordance-grasp = affordance_grasp.cli:main",
            # ROS nodes (also in scripts/nodes/ for `ros2 run` after colcon build)
            "sim_node = affordance_grasp.ros.entry:sim_node",
            "affordance_node = affordance_grasp.ros.entry:affordance_node",
            "grasp_planner_node = affordance_grasp.ros.entry:grasp_planner_node",
            "executor_node = affordance_grasp.ros.entry:executor_node",
            "grasp_server_node = affordance_grasp.ros.entry:grasp_server_node",
            "realsense_node = affordance_grasp.ros.entry:realsense_node",
        ],
    },
)
