"""Which tasks a model may be evaluated on: the archive's held-out split, never the tasks it trained on.

`finetune.examples` splits the archive by task, from a hash of the task id and
the split settings (`eval_fraction`, `split_salt`). `finetune sft` records those
settings and the task ids of each split in the model folder's
`training_config.json`. `finetune eval` then defaults to the built-in tasks in
the held-out split and refuses a task of the train split unless asked
(`--include-train-tasks`), because a model card that reports "unseen tasks"
must not score tasks the model was trained on. A model with no training record
(a base model, a Hub id) is judged on the same held-out split, so fine-tuned and
base models are compared on the same tasks.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from finetune.examples import ExampleOptions, split_of


class HeldOutError(ValueError):
    """A task choice that would score the model on tasks it may have trained on, or no task at all."""


@dataclass(frozen=True)
class TaskSplit:
    """The train/eval split a model was trained under."""

    eval_fraction: float
    salt: str
    train_tasks: frozenset[str] = frozenset()   # recorded task ids of the train split (may hold non-built-in ids)
    recorded: bool = False                      # False: no training record, the default split is assumed

    def in_train(self, task_id: str) -> bool:
        return task_id in self.train_tasks or split_of(task_id, self.eval_fraction, self.salt) == "train"


def split_for(folder: Path | None) -> TaskSplit:
    """The split recorded in `folder/training_config.json`, else the default split of `ExampleOptions`."""
    from finetune.sft import read_training_config

    cfg = read_training_config(folder) if folder is not None else {}
    settings = cfg.get("settings", {})
    defaults = ExampleOptions()
    if not cfg:
        return TaskSplit(defaults.eval_fraction, defaults.split_salt)
    train = (cfg.get("examples") or {}).get("train", {}).get("task_ids", [])
    return TaskSplit(float(settings.get("eval_fraction", defaults.eval_fraction)),
                     str(settings.get("split_salt", defaults.split_salt)), frozenset(train), recorded=True)


def held_out_builtin(split: TaskSplit) -> list[str]:
    """The built-in tasks in the held-out (eval) split."""
    from harness.task import builtin_tasks

    return [t for t in builtin_tasks() if not split.in_train(t)]


def choose_tasks(requested: Sequence[str], split: TaskSplit, *, include_train: bool = False) -> tuple[list[str], list[str]]:
    """(task specs to evaluate, the ones among them in the train split). Raises `HeldOutError` on a refused choice.

    `requested` are resolved task specs (ids or files); empty means the held-out built-in tasks.
    """
    from harness.task import load_task

    if not requested:
        tasks = held_out_builtin(split)
        if not tasks:
            raise HeldOutError(f"no built-in task falls in the held-out split (eval_fraction={split.eval_fraction}); "
                               "name tasks with --tasks (and --include-train-tasks if they are in the train split)")
        return tasks, []
    trained = [spec for spec in requested if split.in_train(load_task(spec).task_id)]
    if trained and not include_train:
        where = "the train split recorded with this model" if split.recorded else \
            f"the default train split (eval_fraction={split.eval_fraction})"
        shown = ", ".join(trained[:6]) + (f" and {len(trained) - 6} more" if len(trained) > 6 else "")
        raise HeldOutError(f"{shown} {'is' if len(trained) == 1 else 'are'} in {where}: the model may have been "
                           "trained on them. Leave out --tasks to evaluate the held-out tasks, or pass "
                           "--include-train-tasks to score them anyway (the report and card then say so)")
    return list(requested), trained
