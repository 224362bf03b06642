"""The static filter: reading a candidate's source before anything of it is built or run.

- `check.static_check(source, format=, backend=)` -> `cpp.StaticReport`.
- `cpp`: the C++/CUDA rules; `python_source`: format B's Python rules; `patterns`: what they match.
It is bypassable by design and never the only defence (see harness/THREAT_MODEL.md).
"""
