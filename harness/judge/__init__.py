"""The judge: one candidate in, one verdict out.

- `verify.verify(candidate, ...)` -> `harness.types.Verdict`; `verify.check_functional` (stage 1).
- `reference`: the task's own outputs, float64 references and baselines, from a sandboxed run.
- `compare`: outputs against float64 with per-dtype tolerances; `timing`: statistics and the
  plausibility of a timing claim; `functional`: a functional form against its original module.
Nothing the candidate's process says about itself is believed: the judging happens here.
"""
