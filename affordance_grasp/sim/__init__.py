"""The MuJoCo twin: Panda + hand, RGB-D camera, procedural part-labelled objects."""
import os

# Offscreen rendering without a display; must be set before mujoco is imported.
os.environ.setdefault("MUJOCO_GL", "egl")

# Mesa's software renderer (loaded by the first offscreen render) and Triton each bring their own
# LLVM; importing Triton after Mesa segfaults, and torchvision/open_clip import it lazily. Loading
# it first (0.3 s, only where torch ships it) avoids that.
try:
    import triton  # noqa: F401
except ImportError:
    pass
