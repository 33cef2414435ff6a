# The two commands of the README. Both set everything up first (idempotent, skips what is done).
VENV ?= .venv
OUT ?= out

.PHONY: setup demo test test-fast sim-check clean

setup:
	bash scripts/setup.sh

# The main job: the simulated ROS 2 graph and a task-planner client calling grasp_object.
demo: setup
	$(VENV)/bin/affordance-grasp demo --trials 40 --seed 0 --out $(OUT)/demo

sim-check: setup
	$(VENV)/bin/affordance-grasp sim-check --trials 300 --seed 0 --out $(OUT)/sim-check

test: setup
	$(VENV)/bin/python -m pytest -q

# The unit tests alone: no ROS processes, no long twin or model runs (make test runs everything).
test-fast: setup
	$(VENV)/bin/python -m pytest -q -m "not ros and not slow"

clean:
	rm -rf $(OUT) build install log
