#!/usr/bin/env bash
# One idempotent set-up for a fresh machine: apt packages, .venv with the ROS 2
# Kilted wheels + torch + sim stack, the interfaces built into the venv, and the
# package installed editable. Each step leaves a stamp so re-runs skip it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AG_VENV:-$ROOT/.venv}"
STAMPS="$VENV/.ag-stamps"
PY="${AG_PYTHON:-python3.11}"
log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

APT_PKGS="cmake g++ libegl1 libegl-mesa0 libgl1-mesa-dri libusb-1.0-0 libosmesa6"
missing=$(for p in $APT_PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
  log "apt: installing $missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

command -v "$PY" >/dev/null || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required: the ROS 2 Kilted wheels are cp311 only"'
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
mkdir -p "$STAMPS"
VPY="$VENV/bin/python"
export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH"

REQ="$ROOT/requirements.txt"
req_hash=$(sha1sum "$REQ" | cut -c1-12)
if [ ! -f "$STAMPS/pip-$req_hash" ]; then
  log "pip: installing requirements (torch is large: a few minutes on first run)"
  "$VPY" -m pip install -q --upgrade pip setuptools wheel
  "$VPY" -m pip install -q -r "$REQ"
  # dm-robotics-panda only for its MJCF/OBJ assets; its dependencies pull a large stack.
  "$VPY" -m pip install -q --no-deps dm-robotics-panda
  # SAM2 for the Affordance-R1 backend: an sdist whose build needs torch; built against the venv's
  # torch (no isolation) and without its CUDA extension (an optional post-processing step).
  SAM2_BUILD_CUDA=0 "$VPY" -m pip install -q --no-deps --no-build-isolation "sam2==1.1.0"
  touch "$STAMPS/pip-$req_hash"
fi

# The wheels' CMake exports hard-code the build machine's include folders.
if [ ! -f "$STAMPS/cmake-paths" ]; then
  log "rewriting include paths in the ROS wheels' CMake exports"
  PYINC=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  NPINC=$("$VPY" -c 'import numpy; print(numpy.get_include())')
  { grep -rlE '/opt/python/cp311-cp311' "$VENV/share" --include='*.cmake' 2>/dev/null || true; } | while read -r f; do
    sed -i -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$NPINC#g" \
           -e "s#/opt/python/cp311-cp311/include/python3.11#$PYINC#g" "$f"
  done
  touch "$STAMPS/cmake-paths"
fi

# Interfaces: rebuild when any msg/srv/action file or the CMakeLists changes.
if_hash=$(cd "$ROOT" && { find CMakeLists.txt package.xml msg srv action -type f 2>/dev/null || true; } | sort | xargs cat | sha1sum | cut -c1-12)
if [ ! -f "$STAMPS/interfaces-$if_hash" ]; then
  log "building ROS interfaces into the venv"
  BUILD="$VENV/.ag-build/interfaces"
  rm -rf "$BUILD"; mkdir -p "$BUILD"
  export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$VPY" \
        -DAG_INSTALL_PYTHON_PACKAGE=OFF -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release >"$BUILD.log" 2>&1 \
    || { tail -30 "$BUILD.log"; exit 1; }
  cmake --build "$BUILD" -j2 >>"$BUILD.log" 2>&1 && cmake --install "$BUILD" >>"$BUILD.log" 2>&1 \
    || { tail -30 "$BUILD.log"; exit 1; }
  # The generated modules live in site-packages/affordance_grasp/{msg,srv,action}. Drop the
  # generated top-level __init__ so that folder is a namespace portion and the working tree's
  # package (which extends its __path__) stays the one that is imported.
  SITE=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  rm -f "$SITE/affordance_grasp/__init__.py"
  # rosidl also writes an egg-info named like this package; pip would take it for an install of
  # ours and delete the generated modules when it installs the working tree.
  rm -rf "$SITE"/affordance_grasp-*.egg-info
  rm -f "$STAMPS"/interfaces-*
  touch "$STAMPS/interfaces-$if_hash"
fi

py_hash=$(cat "$ROOT/setup.py" | sha1sum | cut -c1-12)
if [ ! -f "$STAMPS/editable-$py_hash" ]; then
  log "installing affordance_grasp (editable)"
  # compat mode puts the tree on sys.path through a .pth, so the package merges with the
  # generated interface modules in site-packages (see affordance_grasp/__init__.py).
  "$VPY" -m pip install -q --no-deps --no-build-isolation -e "$ROOT" --config-settings editable_mode=compat
  rm -f "$STAMPS"/editable-*
  touch "$STAMPS/editable-$py_hash"
fi
log "ready: $VENV"
