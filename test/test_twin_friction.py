"""The twin's friction holds what it should: a grip well inside its friction limit does not creep.

MuJoCo's soft constraints let contacts slip slowly under any tangential load; with the default
stiffness of friction relative to the normal constraints, a fork pinched across its handle
rolled 90 degrees about the handle in the pads during a 10 cm lift (scene seed 1), under a load
about 1 % of what 70 N a pad resists at its friction. ``WorldConfig.impratio`` (100) keeps it.
"""
import numpy as np

from affordance_grasp.sim.executor import SimExecutor
from affordance_grasp.sim.oracle import oracle_grasp
from affordance_grasp.sim.scene import SceneConfig, sample_scene


def _turn_in_pads(category: str, seed: int, ik) -> tuple:
    """(held, the largest angle in degrees the object turned relative to the hand from the start
    of the lift until it is 20 cm above the table)."""
    world = sample_scene(seed, SceneConfig(n_objects=(1, 1)), categories=[category]).build()
    inst = next(iter(world.objects))
    ex = SimExecutor(world, ik=ik)
    grasp = oracle_grasp(world, inst, "handle", executor=ex)
    state = {"start": None, "turn": 0.0}

    def in_hand() -> np.ndarray:
        return (np.linalg.inv(world.tcp_pose()) @ world.object_pose(inst))[:3, :3]

    probe = ex._probe_slips

    def lift_starts(*args):
        state["start"] = in_hand()
        return probe(*args)

    step = world.step

    def watched(n=1):
        step(n)
        if state["start"] is not None and world.tcp_pose()[2, 3] < 0.2:
            R = in_hand() @ state["start"].T
            state["turn"] = max(state["turn"], float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1)))))

    ex._probe_slips, world.step = lift_starts, watched
    outcome = ex.execute(grasp)
    return outcome.success, state["turn"]


def test_a_fork_pinched_across_its_handle_does_not_roll_out_of_the_pads(ik):
    held, turn = _turn_in_pads("fork", 1, ik)
    assert held and turn < 5.0, f"the fork turned {turn:.1f} degrees in the pads (held: {held})"


def test_a_knife_pinched_across_its_handle_is_held(ik):
    held, turn = _turn_in_pads("knife", 2, ik)
    assert held and turn < 5.0, f"the knife turned {turn:.1f} degrees in the pads (held: {held})"
