"""The run's view for people: a rich Live panel while it runs and a final table after.

Shows, per task, the stage, generation, best speedup and candidates judged;
overall, LLM calls and token spend, and failures by status. The final table is
printed and written to the run directory as `summary.md`.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text


@dataclass
class TaskLine:
    stage: str = "queued"
    generation: int = 0
    best: float | None = None
    best_id: str = ""
    judged: int = 0
    verified: int = 0


@dataclass
class Progress:
    """Counters the run loop updates; `table()` renders them."""

    tasks: dict[str, TaskLine] = field(default_factory=dict)
    statuses: Counter = field(default_factory=Counter)
    llm_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    note: str = ""
    live: Live | None = None

    def line(self, task_id: str) -> TaskLine:
        return self.tasks.setdefault(task_id, TaskLine())

    def stage(self, task_id: str, stage: str, generation: int | None = None) -> None:
        ln = self.line(task_id)
        ln.stage = stage
        if generation is not None:
            ln.generation = generation
        self.refresh()

    def call(self, tokens: int, cost: float, llm: bool) -> None:
        if llm:
            self.llm_calls += 1
        self.tokens += tokens
        self.cost_usd += cost

    def member(self, task_id: str, status: str, speedup: float | None, member_id: str, stage: str) -> None:
        ln = self.line(task_id)
        self.statuses[status] += 1
        if stage == "functionalize":
            return
        ln.judged += 1
        if status == "verified":
            ln.verified += 1
            s = speedup if speedup is not None else 0.0
            if ln.best is None or s > ln.best:
                ln.best, ln.best_id = s, member_id
        self.refresh()

    def table(self, title: str = "kernel-evolve") -> Table:
        t = Table(title=title)
        for col in ("task", "stage", "gen", "best speedup", "best member", "judged", "verified"):
            t.add_column(col)
        for tid, ln in self.tasks.items():
            t.add_row(tid, ln.stage, str(ln.generation), f"{ln.best:.3f}x" if ln.best else "-", ln.best_id or "-",
                      str(ln.judged), str(ln.verified))
        return t

    def footer(self) -> str:
        fails = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()) if k != "verified") or "none"
        return (f"LLM calls {self.llm_calls}, tokens {self.tokens}, cost ${self.cost_usd:.4f}; failures by status: {fails}"
                + (f"\n{self.note}" if self.note else ""))

    def renderable(self) -> Any:
        return Group(self.table(), Text(self.footer()))

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(self.renderable())

    def start(self, console: Console | None) -> None:
        if console is not None:
            self.live = Live(self.renderable(), console=console, refresh_per_second=4, transient=True)
            self.live.start()

    def finish(self, run_dir: Path, console: Console | None) -> str:
        if self.live is not None:
            self.live.stop()
            self.live = None
        lines = ["| task | stage | generation | best speedup | best member | judged | verified |",
                 "|---|---|---|---|---|---|---|"]
        for tid, ln in self.tasks.items():
            lines.append(f"| {tid} | {ln.stage} | {ln.generation} | {f'{ln.best:.3f}x' if ln.best else '-'} | "
                         f"{ln.best_id or '-'} | {ln.judged} | {ln.verified} |")
        md = "\n".join(lines) + "\n\n" + self.footer() + "\n"
        (run_dir / "summary.md").write_text(md)
        if console is not None:
            console.print(self.table("kernel-evolve: final"))
            console.print(self.footer())
        return md
