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
            "sim_node = affordance_grasp.ros.sim_node:main",
            "affordance_node = affordance_grasp.ros.affordance_node:main",
            "grasp_planner_node = affordance_grasp.ros.grasp_planner_node:main",
            "executor_node = affordance_grasp.ros.executor_node:main",
            "grasp_server_node = affordance_grasp.ros.grasp_server_node:main",
            "realsense_node = affordance_grasp.ros.realsense_node:main",
        ],
    },
)
