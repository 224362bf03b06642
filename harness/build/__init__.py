"""The build: compiling a candidate (format A or K) into a content-addressed cache, sandboxed.

- `cache.build(source, backend=, format=)` -> `cache.BuildResult`: the one entry point.
- `format_k.k_compile`: one `nvcc`/`g++` call for format K; `split`: a CUDA format-A source as a
  torch-free kernel unit and a host unit; `pch`: the shared precompiled torch header (CPU).
- `sandboxed.run_compiler`: every compiler runs in the sandbox (`harness.sandbox`).
- `toolchain`: the cache's folder, the CUDA arch, flags, the compilers' environment.
"""
