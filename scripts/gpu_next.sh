#!/usr/bin/env bash
# The GPU must-shows still open, one stage per argument, for the project's lent H100 (one call runs at
# most 10 minutes, a session has about 30 device minutes). Every stage streams its whole log to
# $OUT/<stage>.log as it goes, so a call cut off by its limit still brings back what ran (session 3 lost
# which `pytest -m gpu` test failed that way), and ends with the stage's exit status and seconds.
#
#   bash scripts/gpu_next.sh known-good adversarial     # e.g. one call
#   bash scripts/gpu_next.sh adversarial+gpu-tests      # A+B: side by side (only for stages whose timings don't matter)
#
# Stages, in the order the open issues need them:
#   prebuild     every CUDA source the stages below build (known-good, refusals, adversarial), 16 at a time
#   prebuild-kg, prebuild-rest   the same in two parts (known-good; the rest at nice 19, e.g. prebuild-rest+known-good)
#   known-good   issue 2: every shipped CUDA kernel verified and timed vs eager and torch.compile
#   refusals     issue 3: the 11 CUDA refusals of tests/kernels/cuda
#   adversarial  issue 3: the CUDA adversarial corpus (`pytest -m gpu tests/adversarial`); prebuild-rest first
#   gpu-tests    every other @pytest.mark.gpu test (format K, split build, warm runners, isolation)
#   tune         issue 5: a `tune` run over the level1 tasks that ship a CUDA kernel
#   bench        issue 8: harness throughput on CUDA (fresh sources, every corpus, format K, warm runners if asked)
#   bench-before issue 8: the same without the fast paths (whole format-A builds, cold runners, one run per GPU)
#   warm         issue 8: cold vs pre-started runners on CUDA
#   format-k     issue 8: format K vs split A vs whole A cold builds
# Per-stage budgets (seconds) can be overridden: BUDGET_<stage with _ for ->=N.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
export KERNEL_EVOLVE_CACHE="${KERNEL_EVOLVE_CACHE:-$PWD/.kecache}" PYTHONUNBUFFERED=1 KE_PRINT_FAILURES=1
XDIST=""
python3 -c "import xdist" 2>/dev/null && XDIST="-n 4"
LEVEL1_CUDA="level1/gelu level1/softmax level1/layernorm level1/rmsnorm level1/matmul level1/sum_dim"

stage() {  # stage NAME DEFAULT_BUDGET CMD...
  local name=$1 budget=$2 var="BUDGET_${1//-/_}" t0 rc
  shift 2
  budget="${!var:-$budget}"
  echo "== $name (budget ${budget}s)"
  t0=$(date +%s)
  timeout -k 15 "$budget" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  tail -n 25 "$OUT/$name.log"
  echo "== $name: exit $rc after $(( $(date +%s) - t0 )) s (124: cut off by its budget; full log $OUT/$name.log)"
}

one() {
  local what=$1
  case "$what" in
    prebuild) stage prebuild 240 python3 scripts/gpu_session.py prebuild-all ;;
    prebuild-kg) stage prebuild-kg 150 python3 scripts/gpu_session.py prebuild-known-good ;;
    prebuild-rest) stage prebuild-rest 300 nice -n 19 python3 scripts/gpu_session.py prebuild-adversarial ;;
    known-good) stage known-good 540 python3 scripts/gpu_session.py known-good --tasks "${KG_TASKS:-}" --seeds 2 \
                  --jobs "${JOBS:-2}" --out "$OUT" ;;
    refusals) stage refusals 300 python3 scripts/gpu_session.py refusals --out "$OUT" ;;
    adversarial)
      # run prebuild-rest first (one call's $OUT brings back 8 files at most, so this stage does not build)
      stage adversarial 360 python3 -m pytest -m gpu -v -rA $XDIST -p no:cacheprovider tests/adversarial \
        --junitxml="$OUT/adversarial.xml" ;;
    gpu-tests) stage gpu-tests 540 python3 -m pytest -m gpu -v -rA $XDIST -p no:cacheprovider tests \
                 --ignore=tests/adversarial ;;
    tune)  # one evolve process per task, side by side: a run judges its tasks one after another, and six
           # tasks in a row do not fit a call; the processes share the GPU through harness.sandbox.devlock
      rm -rf /tmp/ke-tune /tmp/ke-tune-archive && mkdir -p /tmp/ke-tune
      # TUNE_PAR processes at a time: a default-size CUDA verification holds several GB in its parent
      # (session 5: four at once exhausted the 128 GB host)
      n=0
      for t in $LEVEL1_CUDA; do
        stage "tune-${t#*/}" "${BUDGET_tune:-540}" python3 -m pipeline.cli evolve "$t" --backend cuda --operator tune \
          --generations "${TUNE_GENERATIONS:-2}" --population 4 --workers "${TUNE_WORKERS:-1}" \
          --max-wall-s "${TUNE_WALL:-480}" --archive /tmp/ke-tune-archive --run-dir "/tmp/ke-tune/${t#*/}" &
        n=$((n + 1)); (( n % ${TUNE_PAR:-3} == 0 )) && wait
      done
      wait
      python3 scripts/tune_summary.py /tmp/ke-tune/*/ | tee "$OUT/tune-summary.md"
      cat "$OUT"/tune-*.log > "$OUT/tune.log" && rm -f "$OUT"/tune-[a-z]*.log  # $OUT brings back 8 files at most
      tar czf "$OUT/tune-runs.tgz" -C /tmp ke-tune ;;
    bench) stage bench 540 python3 -m pipeline.cli bench harness --backend cuda -n "${BENCH_N:-200}" --fresh \
             --size "${BENCH_SIZE:-small}" --workers 12 --per-device "${JOBS:-4}" --warm "${BENCH_WARM:-0}" \
             --mix "${BENCH_MIX:-format_k,known_good,failing,adversarial}" --out "$OUT/bench.json" ;;
    bench-before)  # the harness as issue 2 left it: whole-source format-A builds (no split, no PCH), cold
                   # runners, one verification on the GPU at a time; same corpora minus format K, fresh sources
      stage bench-before 540 env KE_NO_SPLIT=1 KE_NO_PCH=1 python3 -m pipeline.cli bench harness --backend cuda \
        -n "${BENCH_BEFORE_N:-24}" --fresh --size "${BENCH_SIZE:-small}" --workers 12 --per-device 1 --warm 0 \
        --mix known_good,failing,adversarial --out "$OUT/bench-before.json" ;;
    warm) stage warm 300 python3 scripts/bench_warm.py --backend cuda -n 10 --pool 2 ;;
    format-k) stage format-k 300 python3 scripts/gpu_session.py format-k --seeds 2 --size "${FK_SIZE:-small}" --out "$OUT" ;;
    *) echo "gpu_next: unknown stage '$what' (see the header of $0)"; return 2 ;;
  esac
}

for arg in "$@"; do  # A+B runs stages A and B side by side (e.g. two correctness-only test stages)
  if [[ $arg == *+* ]]; then
    IFS=+ read -ra group <<< "$arg"
    for what in "${group[@]}"; do one "$what" & done
    wait
  else
    one "$arg" || exit 2
  fi
done
