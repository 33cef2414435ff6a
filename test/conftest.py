import itertools
import os
import random
from contextlib import contextmanager

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("ROS_LOG_DIR", "/tmp/affordance_grasp_test_ros_logs")
# Integration tests talk over DDS: a private domain per session keeps parallel runs (and anything
# else on the network) apart. No transport variables: the nodes must work with default peers.
# Domains 0-101 only: above that, DDS's ports reach Linux's ephemeral port range (ROS 2 docs,
# "About Domain ID"), and a graph can lose its port to any other socket.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(1, 80)))

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def ros_domain():
    """``with ros_domain(log_dir):`` gives one ROS graph a domain of its own (DDS shared-memory
    ports are per domain: nothing left over from another module's graph can reach it) and its
    logs, for as long as the block lasts; the environment is restored after, however it ends."""
    base = int(os.environ["ROS_DOMAIN_ID"]) % 80
    numbers = itertools.count(1)

    @contextmanager
    def enter(log_dir):
        number = base + next(numbers)
        if number > 101:
            raise RuntimeError(f"ROS domain {number} is past the safe range 0-101")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("ROS_DOMAIN_ID", str(number))
            mp.setenv("ROS_LOG_DIR", str(log_dir))
            yield int(os.environ["ROS_DOMAIN_ID"])
    return enter


@pytest.fixture(scope="session")
def ik():
    from affordance_grasp.sim.ik import PandaIK
    return PandaIK()


@pytest.fixture
def block_world():
    """One 6x6x4 cm block at a known spot, settled, with a camera."""
    from affordance_grasp.sim.objects import GeomSpec, ObjectSpec, PartSpec
    from affordance_grasp.sim.world import PlacedObject, SimWorld
    from affordance_grasp.sim.camera import SimCamera
    spec = ObjectSpec("block", [
        PartSpec("bottom", ("support",), [GeomSpec("box", (0.03, 0.03, 0.01), (0, 0, 0.01))], (0.8, 0.2, 0.2, 1)),
        PartSpec("top", ("grasp",), [GeomSpec("box", (0.03, 0.03, 0.01), (0, 0, 0.03))], (0.2, 0.2, 0.8, 1)),
    ])
    world = SimWorld([PlacedObject("block_0", spec, (0.5, 0.05, 0.0005), 0.0)])
    world.settle(0.5)
    cam = SimCamera(world)
    yield world, cam
    cam.close()


# Modules whose tests start ROS 2 processes (graphs over DDS, colcon builds, the launch system).
ROS_MODULES = {"test_ros_integration", "test_bag_replay", "test_node_faults", "test_colcon_install", "test_soak"}
# ... and single tests that do, in modules that otherwise do not.
ROS_TESTS = {"test_graph_usage_reports_each_running_node_cpu_and_memory",
             "test_the_detect_grasps_service_answers_through_the_reasoning_backend",
             "test_camera_input_takes_frames_on_the_owners_namespaced_and_remapped_topics"}


# Tests that train, render splits or run the twin for seconds (over 2 s each on this 2-core machine).
SLOW_TESTS = {
    "test_train_resume_fine_tune_and_eval_end_to_end", "test_train_rl_runs_resumes_and_writes_its_curves",
    "test_detect_runs_end_to_end_through_the_reasoning_backend", "test_open_clip_vit_b16_loads_from_a_local_checkpoint",
    "test_predictor_on_a_frame_with_a_random_checkpoint", "test_same_grasp_10cm_higher_is_an_empty_grasp",
    "test_a_training_step_lowers_the_loss", "test_rendered_split_layout_and_held_out_categories",
    "test_grasp_into_the_table_is_an_approach_collision", "test_known_good_grasp_succeeds_on_the_handle",
    "test_forward_shapes_and_normalisation", "test_choose_cli_reports_object_choice_per_kind_of_request",
    "test_sim_check_cli_writes_summary_and_pngs", "test_fallback_in_the_twin_when_the_first_is_unreachable",
    "test_bench_cli_writes_results_comparison_and_overlays", "test_scene_frames_and_locate_accuracy_bookkeeping",
    "test_choose_absent_asks_for_kinds_not_in_view", "test_train_split_never_shows_unseen_categories",
    "test_every_query_an_object_asks_for_itself_parses", "test_wall_and_table_collisions_are_rejected",
    "test_checkpoint_round_trip_and_bad_files", "test_the_real_robot_refuses_to_start_without_a_calibration",
    "test_box_grasps_have_the_box_width", "test_missing_or_wrong_paths_are_clear_errors",
    "test_same_seed_same_result_and_typed_errors", "test_a_malformed_reply_is_a_prediction_error_and_nothing_is_chosen",
    "test_fine_tuning_starts_from_a_checkpoint_of_the_same_model",
    "test_grasps_on_flat_tools_handle_loops_rims_and_necks_succeed",
    "test_bench_on_two_workers_writes_the_serial_rows_pngs_and_summaries",
    "test_bench_on_a_cluster_started_before_it_writes_the_serial_rows",
    "test_dataset_on_two_workers_writes_the_serial_files",
    "test_train_rl_with_the_held_reward_on_two_workers_gets_the_serial_rewards_and_weights",
    "test_train_rl_on_a_cluster_started_before_it_gets_the_serial_step",
    "test_held_reward_of_a_known_grasp_in_a_known_scene",
    "test_the_moveit_backend_lifts_a_mug_in_the_twin_and_lets_it_go",
    "test_a_target_that_comes_as_two_boxes_is_touched_and_carried_whole",
    "test_a_fork_pinched_across_its_handle_does_not_roll_out_of_the_pads",
    "test_a_knife_pinched_across_its_handle_is_held",
}


def pytest_collection_modifyitems(config, items):
    """``ros`` on every test that starts ROS 2 processes and ``slow`` on the long ones: ``make
    test-fast`` leaves both out; ``make test`` runs everything."""
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in ROS_MODULES or item.originalname in ROS_TESTS:
            item.add_marker(pytest.mark.ros)
        if item.originalname in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
