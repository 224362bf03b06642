"""The adversarial table for BENCHMARKS.md: per family and candidate, what it must get and how the CPU and CUDA
runs of `tests/adversarial/test_adversarial.py` ended (cold runners and pre-started ones), from pytest's JUnit XML.

    python3 -m pytest tests/adversarial/test_adversarial.py --junitxml=cpu.xml            # CPU machine
    python3 -m pytest -m gpu tests/adversarial --junitxml=cuda.xml                        # GPU machine
    python3 scripts/adversarial_table.py --cpu cpu.xml --cuda cuda.xml

A cell reads `pass` (the verdict had the manifest's status and failed check), `skip` (with pytest's reason,
e.g. a defence this machine cannot provide), `FAIL`, or `-` (not run there / does not apply).
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "tests" / "adversarial" / "manifest.toml"


def outcomes(xml_path: Path | None) -> dict[str, tuple[str, str]]:
    """test name -> (pass | skip | FAIL, message), from JUnit XML or from a `pytest -v` log (which survives a
    run cut off by its time limit; tests it never reached are `not run`)."""
    if xml_path is None:
        return {}
    if xml_path.suffix != ".xml":
        out = {}
        for m in re.finditer(r"\b(PASSED|FAILED|SKIPPED|ERROR) \S*::(test_\w+\[[^\]]+\])", xml_path.read_text()):
            out[m.group(2)] = {"PASSED": ("pass", ""), "SKIPPED": ("skip", "")}.get(m.group(1), ("FAIL", ""))
        return out
    out = {}
    for tc in ET.parse(xml_path).getroot().iter("testcase"):
        name = tc.get("name", "")
        res = ("pass", "")
        for child in tc:
            if child.tag == "skipped":
                res = ("skip", (child.get("message") or "").strip())
            elif child.tag in ("failure", "error"):
                res = ("FAIL", (child.get("message") or "").strip()[:200])
        out[name] = res
    return out


def cell(results: dict[str, tuple[str, str]], backend: str, file: str, applies: bool) -> str:
    if not applies:
        return "-"
    name = Path(file).name
    cold = results.get(f"test_adversarial_{backend}[{name}]")
    warm = results.get(f"test_adversarial_{backend}_through_warm_runners[{name}]")
    if cold is None and warm is None:
        return "not run"

    def one(r: tuple[str, str] | None) -> str:
        if r is None:
            return "not run"
        what, msg = r
        msg = re.sub(r"^Skipped: ", "", msg)
        return what if what == "pass" or not msg else f"{what} ({msg[:90]})"
    a, b = one(cold), one(warm)
    return a if a == b else f"cold: {a}; warm: {b}"


def table(cpu: dict, cuda: dict) -> str:
    entries = tomllib.loads(MANIFEST.read_text())["candidate"]
    lines = ["| family | candidate | must get | CPU | CUDA |", "|---|---|---|---|---|"]
    for e in sorted(entries, key=lambda e: (e["family"], e["file"])):
        lines.append(f"| {e['family']} | `{Path(e['file']).name}` | {' or '.join(e['expect_status'])} | "
                     f"{cell(cpu, 'cpu', e['file'], 'cpu' in e['backends'])} | "
                     f"{cell(cuda, 'cuda', e['file'], 'cuda' in e['backends'])} |")
    lines.append("")
    summary = []
    for label, col, backend in (("CPU", cpu, "cpu"), ("CUDA", cuda, "cuda")):
        counts: dict[str, int] = {}
        for name, (what, _) in col.items():
            if name.startswith(f"test_adversarial_{backend}"):
                counts[what] = counts.get(what, 0) + 1
        n = sum(2 for e in entries if backend in e["backends"])  # cold and warm runs
        counts["not run"] = n - sum(counts.values())
        summary.append(f"{label} ({n} runs): " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v))
    lines.append(f"{len(entries)} candidates; " + "; ".join(summary))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", type=Path, help="JUnit XML (or `pytest -v` log) of the CPU run")
    ap.add_argument("--cuda", type=Path, help="JUnit XML (or `pytest -v` log) of the CUDA run")
    a = ap.parse_args()
    if a.cpu is None and a.cuda is None:
        sys.exit("give --cpu and/or --cuda (pytest --junitxml files)")
    print(table(outcomes(a.cpu), outcomes(a.cuda)))


if __name__ == "__main__":
    main()
