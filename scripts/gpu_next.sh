#!/usr/bin/env bash
# The GPU must-shows, one stage per argument, for the project's lent H100/H200 (one call runs at most
# 10 minutes, a session has about 30 device minutes). Every stage streams its whole log to $OUT/<stage>.log
# as it goes, so a call cut off by its limit still brings back what ran, and ends with the stage's exit
# status and seconds.
#
#   bash scripts/gpu_next.sh setup prebuild bench-before bench-after   # e.g. one call
#   bash scripts/gpu_next.sh tune+adversarial                           # A+B: side by side
#
# Stages:
#   setup         install the carried wheels (.whl: datasets and what it needs; scripts/gpu_wheels.sh)
#   prebuild      every CUDA source the stages below build (format-K seeds, format-A kernels, refusals,
#                 the adversarial corpus), 16 at a time
#   bench-before  issue 16's command on the code before this session's changes (.baseline: a worktree of
#                 the commit before, carried), same machine, same flags
#   bench-after   the same command on this tree (ISSUE16_N=12 halves both when device time is short)
#   bench-host    the same mix with the sizes chosen for the host (150 fresh candidates)
#   bench-cached  the same 150 again (every build cached)
#   bench-latency cached candidates one at a time: one candidate's submit -> verdict
#   bench-default format-K layernorm candidates at the default size (1.6 GB tensors)
#   tune          issue 17: a bounded `evolve --operator tune` over every level-1 and level-2 task at the
#                 default size, TUNE_PAR processes side by side; scripts/tune_summary.py tabulates it.
#                 Run it ALONE: gpu tests use lock folders of their own, so beside them the device lock
#                 cannot keep their work out of the timed loops (session 7: medians quantised to a
#                 ~4 ms time slice); and keep TUNE_PAR <= 3 (7 processes ran the GPU out of memory)
#   adversarial   issue 18: the CUDA adversarial corpus, cold and through warm runners (`pytest -m gpu
#                 tests/adversarial`)
#   gpu-tests     every other @pytest.mark.gpu test (format K, split build, warm runners, isolation)
#   pack          the JSON reports (benches, the adversarial junit XML) as $OUT/json.tgz
# Per-stage budgets (seconds) can be overridden: BUDGET_<stage with _ for ->=N. The benches after bench-after stop
# at --max-wall-s (WALL_host, WALL_cached, WALL_latency, WALL_default) and report what arrived by then.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-out}"
JSON=/tmp/gpu-json   # reports go here and into $OUT/json.tgz at `pack` (a call brings back 8 files at most)
mkdir -p "$OUT" "$JSON"
export KERNEL_EVOLVE_CACHE="${KERNEL_EVOLVE_CACHE:-$PWD/.kecache}" PYTHONUNBUFFERED=1 KERNEL_EVOLVE_PRINT_FAILURES=1
[ -d /tmp/site ] && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
XDIST=""
python3 -c "import xdist" 2>/dev/null && XDIST="-n ${XDIST_N:-4}"
ISSUE16=(--backend cuda -n "${ISSUE16_N:-24}" --fresh --size small --workers 14 --per-device 4 --warm 2
         --mix format_k,known_good,failing,adversarial --seeds 2 --no-compile-baseline)

stage() {  # stage NAME DEFAULT_BUDGET CMD...
  local name=$1 budget=$2 var="BUDGET_${1//-/_}" t0 rc
  shift 2
  budget="${!var:-$budget}"
  echo "== $name (budget ${budget}s) $(date +%T)"
  t0=$(date +%s)
  timeout -k 15 "$budget" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  tail -n 30 "$OUT/$name.log"
  echo "== $name: exit $rc after $(( $(date +%s) - t0 )) s (124: cut off by its budget; full log $OUT/$name.log)"
}

tasks() { python3 -c "from harness.task import builtin_tasks; print(' '.join(builtin_tasks()))"; }

one() {
  local what=$1
  case "$what" in
    setup)
      if ls .whl/*.whl >/dev/null 2>&1; then
        stage setup 120 python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
          --target /tmp/site .whl/*.whl
        export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
      fi
      nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
      python3 -c "import torch, sys; print(torch.__version__, torch.version.cuda, sys.version.split()[0])" ;;
    prebuild) stage prebuild 240 python3 scripts/gpu_session.py prebuild-all ;;
    bench-before)  # the same command on the code before this session (its own cache: nothing shared)
      stage bench-before 220 env -C .baseline KERNEL_EVOLVE_CACHE=/tmp/ke-cache-before \
        PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" \
        python3 -m pipeline.cli bench harness "${ISSUE16[@]}" --out "$JSON/bench-before.json" ;;
    bench-after) stage bench-after 120 python3 -m pipeline.cli bench harness "${ISSUE16[@]}" \
                   --out "$JSON/bench-after.json" ;;
    bench-host) stage bench-host 100 python3 -m pipeline.cli bench harness --backend cuda -n "${BENCH_N:-150}" \
                  --max-wall-s "${WALL_host:-75}" --fresh --size small --mix format_k,known_good,failing,adversarial --seeds 2 --no-compile-baseline \
                  --out "$JSON/bench-host.json" ;;
    bench-cached) stage bench-cached 100 python3 -m pipeline.cli bench harness --backend cuda -n "${BENCH_N:-150}" \
                    --max-wall-s "${WALL_cached:-75}" --size small --mix format_k,known_good,failing,adversarial --seeds 2 --no-compile-baseline \
                    --out "$JSON/bench-cached.json" ;;
    bench-latency) stage bench-latency 50 python3 -m pipeline.cli bench harness --backend cuda -n 20 --in-flight 1 \
                     --max-wall-s "${WALL_latency:-35}" \
                     --size small --mix format_k,known_good --seeds 2 --no-compile-baseline \
                     --out "$JSON/bench-latency.json" ;;
    bench-default) stage bench-default 70 python3 -m pipeline.cli bench harness --backend cuda -n 40 --fresh \
                     --max-wall-s "${WALL_default:-50}" \
                     --size default --mix format_k --seeds 2 --no-compile-baseline --out "$JSON/bench-default.json" ;;
    tune)
      rm -rf /tmp/ke-tune /tmp/ke-tune-archive && mkdir -p /tmp/ke-tune
      local all; all=($(tasks)) ; n=${TUNE_PAR:-3}
      for ((i = 0; i < n; i++)); do  # every n-th task in process i (a run judges its tasks one after another)
        local mine=() j
        for ((j = i; j < ${#all[@]}; j += n)); do mine+=("${all[j]}"); done
        stage "tune-$i" "${BUDGET_tune:-560}" python3 -m pipeline.cli evolve "${mine[@]}" --backend cuda \
          --operator tune --format K --size default --seeds 1 --generations "${TUNE_GENERATIONS:-3}" \
          --population "${TUNE_POP:-6}" --warm "${TUNE_WARM:-2}" --max-wall-s "${TUNE_WALL:-500}" \
          --archive /tmp/ke-tune-archive \
          --run-dir "/tmp/ke-tune/p$i" &
      done
      wait
      python3 scripts/tune_summary.py /tmp/ke-tune/p*/ | tee "$OUT/tune-summary.md"
      cat "$OUT"/tune-[0-9]*.log > "$OUT/tune.log" && rm -f "$OUT"/tune-[0-9]*.log  # $OUT brings back 8 files
      tar czf "$OUT/tune-runs.tgz" -C /tmp ke-tune ;;
    adversarial) stage adversarial 420 python3 -m pytest -m gpu -v -rA $XDIST -p no:cacheprovider tests/adversarial \
                   --junitxml="$JSON/adversarial.xml" ;;
    gpu-tests) stage gpu-tests 420 python3 -m pytest -m gpu -v -rA $XDIST -p no:cacheprovider tests \
                 --ignore=tests/adversarial ;;
    pack) tar czf "$OUT/json.tgz" -C "$JSON" . && ls -l "$OUT" ;;
    *) echo "gpu_next: unknown stage '$what' (see the header of $0)"; return 2 ;;
  esac
}

for arg in "$@"; do  # A+B runs stages A and B side by side
  if [[ $arg == *+* ]]; then
    IFS=+ read -ra group <<< "$arg"
    for what in "${group[@]}"; do one "$what" & done
    wait
  else
    one "$arg" || exit 2
  fi
done
