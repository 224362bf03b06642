"""The child process of a format-A build: torch's cpp_extension + ninja over the sources of one spec.

Run by `harness.build.cache` as `python -s ext_child.py SPEC_JSON` inside the compile sandbox
(`harness.build.sandboxed`); it imports nothing of the harness.
"""
import json
import sys


def _child(spec: dict) -> None:
    import inspect

    from torch.utils import cpp_extension

    fn = cpp_extension._write_ninja_file_and_build_library
    kwargs = dict(name=spec["name"], sources=spec["sources"], extra_cflags=spec["cflags"],
                  extra_cuda_cflags=spec["cuda_cflags"], extra_sycl_cflags=None, extra_ldflags=spec["ldflags"],
                  extra_include_paths=None, build_directory=spec["dir"], verbose=False,
                  with_cuda=spec["backend"] == "cuda", with_sycl=False, is_standalone=False)
    params = inspect.signature(fn).parameters
    fn(**{k: v for k, v in kwargs.items() if k in params})


if __name__ == "__main__":
    try:
        _child(json.loads(sys.argv[1]))
    except Exception as e:  # noqa: BLE001 - the parent reads this output as the compile log
        print(str(e))
        sys.exit(1)
