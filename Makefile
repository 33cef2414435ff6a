# The two commands of the README. Both set everything up first (idempotent, skips what is done).
VENV ?= .venv
OUT ?= out

.PHONY: setup demo test sim-check clean

setup:
	bash scripts/setup.sh

# The main job. Until the full ROS demo lands this is the twin's own check.
demo: setup
	$(VENV)/bin/affordance-grasp sim-check --trials 40 --seed 0 --out $(OUT)/sim-check

test: setup
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(OUT) build install log
