"""The code extractor: fenced, bare, garbage, and SEARCH/REPLACE diffs."""
import pytest

from pipeline.extract import ExtractError, apply_diff, extract_code

KERNEL = """#include <torch/extension.h>
#define CHUNK 4096  // tunable: 1024 4096
torch::Tensor forward(torch::Tensor x) {
    auto y = torch::empty_like(x);
    return y;
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("forward", &forward, "f"); }
"""


def test_fenced_picks_the_kernel_block_not_the_prose_or_other_blocks():
    text = f"Here is my plan.\n```bash\nmake\n```\nAnd the kernel:\n```cpp\n{KERNEL}```\nThis is fast."
    assert extract_code(text) == KERNEL


def test_unterminated_fence_still_extracts():
    assert "PYBIND11_MODULE" in extract_code(f"```cuda\n{KERNEL}")


def test_bare_code_with_trailing_prose_is_cut_after_the_module():
    out = extract_code("Sure! " + KERNEL + "\nHope this helps, it uses OpenMP.")
    assert out.startswith("#include") and out.rstrip().endswith("}") and "Hope" not in out


@pytest.mark.parametrize("text", ["", "   ", "I cannot help with that.", "```cpp\nint main() { return 0; }\n```",
                                  "tok tok <unk> ## !!", "\x00\x01garbage"])
def test_garbage_is_a_clear_error(text):
    with pytest.raises(ExtractError) as e:
        extract_code(text)
    assert "PYBIND11_MODULE" in str(e.value) or "empty" in str(e.value)


def test_python_extraction_requires_a_functional_task_file():
    src = "import torch\ndef module_fn(x):\n    return x\nclass Model:\n    pass\n"
    assert extract_code(f"```python\n{src}```", "python") == src
    assert extract_code("Here:\n" + src, "python").startswith("import torch")
    with pytest.raises(ExtractError):
        extract_code("```python\nprint('hi')\n```", "python")


def test_diff_applies_exact_and_whitespace_loose_blocks():
    d1 = "<<<<<<< SEARCH\n#define CHUNK 4096  // tunable: 1024 4096\n=======\n#define CHUNK 1024  // tunable: 1024 4096\n>>>>>>> REPLACE"
    out = apply_diff(KERNEL, d1)
    assert "#define CHUNK 1024" in out and "#define CHUNK 4096" not in out
    d2 = "<<<<<<< SEARCH\n  auto y = torch::empty_like(x);\n=======\n    auto y = torch::empty_like(x.contiguous());\n>>>>>>> REPLACE"
    assert "empty_like(x.contiguous())" in apply_diff(KERNEL, d2)


def test_diff_errors_are_actionable():
    with pytest.raises(ExtractError, match="no SEARCH/REPLACE"):
        apply_diff(KERNEL, "just make it faster")
    with pytest.raises(ExtractError, match="does not match"):
        apply_diff(KERNEL, "<<<<<<< SEARCH\nnot in the file\n=======\nx\n>>>>>>> REPLACE")
