#!/usr/bin/env bash
# Every test: notebooks and package in sync, README in sync, the static device check, nbdev_test (every notebook,
# in-process), and pytest. The data comes from $GPT_COURSE_DATA (default ../shared/data), GPT-2's BPE ranks from
# $GPT_COURSE_GPT2_RANKS (default ../shared/data/gpt2.tiktoken); no network.
# `bash tools/test.sh --kernel` also runs every notebook in a real Jupyter kernel, as a learner would.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${GPT_COURSE_DATA:=../shared/data/tinyshakespeare.txt}"
if [ ! -e "$GPT_COURSE_DATA" ]; then
  echo "error: GPT_COURSE_DATA=$GPT_COURSE_DATA does not exist. Point it at tinyshakespeare.txt (see README)." >&2
  exit 1
fi
export GPT_COURSE_DATA="$(realpath "$GPT_COURSE_DATA")"
: "${GPT_COURSE_GPT2_RANKS:=../shared/data/gpt2.tiktoken}"   # GPT-2's BPE ranks (lessons 11, 12): r50k_base.tiktoken
export GPT_COURSE_GPT2_RANKS="$(realpath -m "$GPT_COURSE_GPT2_RANKS")"
export MPLBACKEND=Agg
start=$SECONDS

if git rev-parse --git-dir >/dev/null 2>&1; then
  echo "== notebooks and package in sync (nbdev_export, nbdev_clean change nothing)"
  before=$(git status --porcelain --untracked-files=all)
  nbdev_export
  nbdev_clean
  after=$(git status --porcelain --untracked-files=all)
  if [ "$before" != "$after" ]; then
    echo "error: nbdev_export/nbdev_clean changed these files; re-export from the notebooks and commit:" >&2
    diff <(echo "$before") <(echo "$after") >&2 || true
    exit 1
  fi
fi

echo "== README.md matches nbs/index.ipynb"
python tools/make_readme.py --check

echo "== device check: every tensor made on a device, no device-specific asserts (tools/check_devices.py)"
python tools/check_devices.py

echo "== lessons show what they say: prose figures in outputs, demonstration cells with output, no stray outputs (tools/check_lessons.py)"
python tools/check_lessons.py

echo "== the course map at the top of every lesson is current (tools/course_map.py --check)"
python tools/course_map.py --check

echo "== nbdev_test (execnb, in-process)"
t=$SECONDS; OMP_NUM_THREADS=1 nbdev_test --n_workers 2; echo "nbdev_test: $((SECONDS - t)) s"

if [ "${1:-}" = "--kernel" ]; then
  echo "== notebooks in a real Jupyter kernel"
  t=$SECONDS; OMP_NUM_THREADS=1 python tools/run_notebooks.py --workers 2; echo "real kernel: $((SECONDS - t)) s"
fi

echo "== pytest"
t=$SECONDS; python -m pytest -q tests; echo "pytest: $((SECONDS - t)) s"
echo "all tests passed in $((SECONDS - start)) s"
