#!/usr/bin/env bash
# Wheels that the GPU box (Python 3.12, offline) lacks for `python3 -m finetune.bench_sft` in trl mode,
# downloaded into .whl/ at the repo root (git-ignored through .git/info/exclude). Idempotent.
#
# The box's image already has transformers, accelerate, huggingface_hub, peft, tokenizers, pandas, pyarrow,
# fsspec, xxhash, psutil, jinja2, pyyaml, tqdm, requests/httpx (device KINDS.md package list); only these
# four are missing. Never add torch/numpy/transformers here: whatever lands in /tmp/site shadows the box's own.
# Checked on CPU with transformers 5.17.0 / accelerate 1.15.0 / huggingface_hub 1.33.0 (the box's pins),
# peft 0.18.1 and 0.21.2, pyarrow 22 and 26, pandas 2.3 and 3.1.
#
# On the box (carry .whl):
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
#     && export PYTHONPATH=/tmp/site && python3 -m finetune.bench_sft
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"

WHEELS=(trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19)

grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
mkdir -p .whl
# keep exactly one wheel of each package: drop any not in the list above or not for CPython 3.12
for f in .whl/*.whl; do
  [ -e "$f" ] || continue
  b=$(basename "$f"); keep=0
  for w in "${WHEELS[@]}"; do
    n=${w%%==*}; v=${w#*==}
    case "$b" in "${n//-/_}-$v-"*) keep=1 ;; esac
  done
  case "$b" in *-py3-none-any.whl|*-py312-*|*-cp312-*) ;; *) keep=0 ;; esac   # the box runs CPython 3.12
  [ "$keep" = 1 ] || { echo "removing $b"; rm -f "$f"; }
done

python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}" 2>&1 \
  | grep -v "^WARNING: Location" || true

ls -l .whl/*.whl | awk '{printf "%9d  %s\n", $5, $NF}'
echo "total: $(du -ch .whl/*.whl | tail -1 | cut -f1)  ($(ls .whl/*.whl | wc -l) wheels)"
