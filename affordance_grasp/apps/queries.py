"""Natural task-planner phrasings per category that name a part to grasp (bench and demo)."""
QUERIES = {
    "mug": ["grasp the mug by its handle", "pick up the cup by the handle", "hold the mug's handle"],
    "knife": ["pick up the knife by the handle", "hand me the knife so I can cut",
              "grab the knife without touching the blade"],
    "hammer": ["hold the hammer's handle", "hand me the hammer to pound a nail", "grip the hammer by its handle"],
    "spatula": ["grab the spatula by the handle", "pass me the spatula so I can flip the pancake"],
    "pan": ["take the pan by its handle", "hold the frying pan by the handle"],
    "screwdriver": ["grip the screwdriver handle", "give me the screwdriver to drive a screw"],
    "bottle": ["pick up the bottle by its neck", "grab the water bottle by the neck"],
    "brush": ["hold the brush by its handle", "hand me the brush so I can scrub"],
    "kettle": ["lift the kettle by its handle", "grab the kettle by the handle"],
}
from ..affordance.data import UNSEEN_CATEGORIES  # noqa: E402  (re-exported for the bench)
