"""The real robot: a RealSense D4xx, a Franka Panda planned by MoveIt 2 and its gripper.

moveit_py runs MoveItCpp inside executor_node, so that node needs the whole MoveIt config (robot
description, SRDF, kinematics, joint limits, planning pipelines, controllers) as parameters:
MoveItConfigsBuilder builds it from your robot's MoveIt config package. Start the robot's driver
and controllers (franka_ros2's bringup, or ros2_control) and the gripper driver first.

    ros2 launch affordance_grasp realsense_panda.launch.py \
        [moveit_config_package:=moveit_resources_panda_moveit_config] [robot_name:=moveit_resources_panda] \
        [camera:=affordance_grasp|realsense2_camera] [params:=my_calibrated.yaml] [rviz:=true]

Give your hand-eye calibration (camera_pose) in the params file: the nodes refuse to start
without it. With camera:=realsense2_camera, start realsense-ros yourself with the parameters
align_depth.enable:=true and color_qos:=DEFAULT (docs/real_robot.md).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

CAMERA_TOPICS = ("camera/color/image_raw", "camera/aligned_depth_to_color/image_raw", "camera/color/camera_info")


def _setup(context):
    from ament_index_python.packages import get_package_share_directory
    from moveit_configs_utils import MoveItConfigsBuilder

    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    # MoveItCpp's options (scene monitor, pipeline names, plan defaults) are ours; an absolute
    # path replaces the builder's package-relative one.
    moveit_cpp = f"{get_package_share_directory('affordance_grasp')}/config/moveit_cpp.yaml"
    moveit_config = (MoveItConfigsBuilder(arg("robot_name"), package_name=arg("moveit_config_package"))
                     .trajectory_execution()
                     .planning_pipelines(pipelines=["ompl", "pilz_industrial_motion_planner"])
                     .moveit_cpp(file_path=moveit_cpp)
                     .to_moveit_configs())
    params = arg("params")
    # One base frame: the MoveIt settings' (config/moveit.yaml, from arm_id); every base_frame and
    # pose_base_frame in the params file must equal it, else nothing starts (ConfigError saying which).
    from affordance_grasp.execution.moveit import check_base_frames
    base_frame = check_base_frames([params]).base_frame
    camera = arg("camera")
    remaps = [(t, f"{arg('camera_prefix')}/{t.split('/', 1)[1]}") for t in CAMERA_TOPICS] \
        if camera == "realsense2_camera" else []
    nodes = []
    if camera == "affordance_grasp":
        nodes.append(Node(package="affordance_grasp", executable="realsense_node", name="realsense_node",
                          output="screen", parameters=[params]))
    for name in ("affordance_node", "grasp_planner_node"):
        nodes.append(Node(package="affordance_grasp", executable=name, name=name, output="screen",
                          parameters=[params], remappings=remaps))
    nodes.append(Node(package="affordance_grasp", executable="executor_node", name="executor_node", output="screen",
                      parameters=[moveit_config.to_dict(), params, {"backend": "moveit"}]))
    nodes.append(Node(package="affordance_grasp", executable="grasp_server_node", name="grasp_server_node",
                      output="screen", parameters=[params]))
    if arg("rviz") == "true":
        # RViz's fixed frame is the base frame checked above (the planner's base_frame, read from the
        # same params file, its own section or /**, as ROS reads it: node_params([params], "grasp_planner_node")).
        rviz = PathJoinSubstitution([FindPackageShare("affordance_grasp"), "config", "affordance_grasp.rviz"])
        nodes.append(Node(package="rviz2", executable="rviz2", name="rviz", arguments=["-d", rviz, "-f", base_frame],
                          parameters=[moveit_config.to_dict()]))
    return nodes


def generate_launch_description():
    share = FindPackageShare("affordance_grasp")
    return LaunchDescription([
        DeclareLaunchArgument("params", default_value=PathJoinSubstitution([share, "config", "realsense_panda.yaml"]),
                              description="ROS 2 params file of our nodes (camera_pose must be set)"),
        DeclareLaunchArgument("moveit_config_package", default_value="moveit_resources_panda_moveit_config",
                              description="the robot's MoveIt config package (e.g. franka_fr3_moveit_config)"),
        DeclareLaunchArgument("robot_name", default_value="moveit_resources_panda",
                              description="robot name of that package (MoveItConfigsBuilder's robot_name)"),
        DeclareLaunchArgument("camera", default_value="affordance_grasp",
                              description="affordance_grasp (our realsense_node) or realsense2_camera"),
        DeclareLaunchArgument("camera_prefix", default_value="/camera/camera",
                              description="topic prefix of realsense2_camera"),
        DeclareLaunchArgument("rviz", default_value="false"),
        OpaqueFunction(function=_setup),
    ])
