"""The model card of a fine-tuned kernel writer, rendered from finetune/templates/model_card.md.j2 (huggingface_hub).

This module owns the card: its YAML front matter (through `huggingface_hub.ModelCardData`,
so `model-index` eval results are in the Hub's own format) and its body (base model,
training data with revisions, training settings, eval table, intended use, license).
TRL's own card writes `licence: license`, a placeholder under a misspelt key; this card
writes a real `license` field: the one given, else the base model's, else `other`.

The card is rebuilt from what sits in the model folder: `training_config.json` (written by
`finetune.sft` / `finetune.grpo`) and `eval_results.json` (written by `finetune eval`).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from finetune.evaluate import EvalReport, Metrics

TEMPLATE = Path(__file__).resolve().parent / "templates" / "model_card.md.j2"   # package data
EVAL_RESULTS = "eval_results.json"
TASK_DATASET = "kernel-evolve/tasks"     # the dataset type eval results are reported against


@dataclass(frozen=True)
class DatasetRef:
    name: str                     # a Hub dataset id ("owner/name") or a local archive path
    revision: str | None = None
    examples: int | None = None

    @property
    def on_hub(self) -> bool:
        return self.name.count("/") == 1 and not self.name.startswith((".", "/", "~"))

    @classmethod
    def parse(cls, spec: str) -> "DatasetRef":
        """`name@revision` (as written in training_config.json); `hf://` prefixes are dropped."""
        name, _, rev = spec.removeprefix("hf://").rpartition("@") if "@" in spec else (spec, "", "")
        return cls(name=name.removeprefix("hf://"), revision=rev or None)


def base_license(base: str) -> str | None:
    """The base model's license: from a local folder's README.md, else from the Hub (None when unknown)."""
    from huggingface_hub import ModelCard

    p = Path(base).expanduser()
    try:
        if p.is_dir():
            readme = p / "README.md"
            return ModelCard.load(readme).data.license if readme.is_file() else None
        from huggingface_hub import HfApi

        data = HfApi().model_info(base).card_data
        return getattr(data, "license", None) if data else None
    except Exception:  # unreachable Hub, no card, malformed YAML: the license is simply unknown
        return None


def eval_results(report: EvalReport, dataset_revision: str | None = None) -> list:
    """`huggingface_hub.EvalResult`s for the card's model-index: every metric of every level and overall."""
    from huggingface_hub import EvalResult

    out = []
    for m in (*report.levels, report.overall):
        metrics: list[tuple[str, str, float]] = [("compile_rate", "compile rate", m.compile_rate),
                                                 ("correct_rate", "correct rate", m.correct_rate)]
        metrics += [(f"pass@{k}", f"pass@{k}", v) for k, v in sorted(m.pass_at.items())]
        metrics += [(f"fast_{p:g}", f"fast_{p:g}", v) for p, v in sorted(m.fast_p.items())]
        for mtype, mname, value in metrics:
            out.append(EvalResult(
                task_type="text-generation", task_name="PyTorch to kernel translation",
                dataset_type=TASK_DATASET, dataset_name=f"kernel-evolve tasks ({m.name}, {report.backend})",
                dataset_split=m.name, dataset_revision=dataset_revision, metric_type=mtype, metric_name=mname,
                metric_value=round(float(value), 4),
            ))
    return out


def report_from_json(d: dict[str, Any]) -> EvalReport:
    from finetune.evaluate import Sample

    def metrics(x: dict[str, Any]) -> Metrics:
        return Metrics(name=x["name"], tasks=x["tasks"], samples=x["samples"], compile_rate=x["compile_rate"],
                       correct_rate=x["correct_rate"], pass_at={int(k): v for k, v in x["pass_at"].items()},
                       fast_p={float(k): v for k, v in x["fast_p"].items()})

    return EvalReport(model=d["model"], backend=d["backend"], n=d["n"], ks=tuple(d["ks"]),
                      ps=tuple(float(p) for p in d["ps"]), levels=tuple(metrics(m) for m in d["levels"]),
                      overall=metrics(d["overall"]),
                      samples=tuple(Sample(**{**s, "flags": tuple(s["flags"])}) for s in d["samples"]),
                      train_tasks=tuple(d.get("train_tasks", ())))


def _flat(d: dict[str, Any], keys: Sequence[str]) -> list[tuple[str, Any]]:
    return [(k, d[k]) for k in keys if k in d and d[k] not in (None, "", [], {})]


TRAINING_KEYS = ("lora", "lora_r", "lora_alpha", "lora_dropout", "target_modules", "max_steps", "epochs",
                 "learning_rate", "batch_size", "grad_accum", "max_length", "seed", "num_generations",
                 "max_completion_length", "beta", "reward")


def render_model_card(*, model_name: str, base_model: str, adapter: bool, license: str | None = None,
                      datasets: Sequence[DatasetRef] = (), training: dict[str, Any] | None = None,
                      report: EvalReport | None = None, repo_id: str | None = None,
                      example_summary: dict[str, Any] | None = None) -> str:
    """README.md text: front matter from `ModelCardData` (license, base_model, datasets, model-index) and the body."""
    from huggingface_hub import ModelCard, ModelCardData

    training = training or {}
    settings = training.get("settings", {})
    lic = license or base_license(base_model) or "other"
    hub_datasets = [d.name for d in datasets if d.on_hub]
    revision = next((d.revision for d in datasets if d.revision), None)
    data = ModelCardData(
        base_model=base_model if base_model != "unknown" else None, datasets=hub_datasets or None, license=lic,
        library_name="peft" if adapter else "transformers", pipeline_tag="text-generation",
        tags=["kernel-evolve", "cuda", "gpu-kernels", "code", "trl",
              training.get("method", "sft").split("-")[0], *(["lora"] if adapter else [])],
        model_name=model_name, eval_results=eval_results(report, revision) if report else None,
    )
    if lic == "other":
        license_text = ("The base model's license could not be determined; it governs this model. Check "
                        f"`{base_model}` and set `--license` when pushing.")
    else:
        license_text = f"`{lic}`, following the base model `{base_model}`, whose terms also apply."
    card = ModelCard.from_template(
        data, template_path=str(TEMPLATE), model_name=model_name, base_model=base_model,
        base_model_url=f"https://huggingface.co/{base_model}" if DatasetRef(base_model).on_hub
        and not Path(base_model).expanduser().exists() else "",
        adapter=adapter, repo_id=repo_id, datasets=[asdict(d) for d in datasets],
        example_summary=example_summary or training.get("examples") or {},
        method={"sft-lora": "Supervised fine-tuning with a LoRA adapter (PEFT)",
                "sft-full": "Full supervised fine-tuning",
                "grpo-lora": "GRPO with harness rewards and a LoRA adapter (PEFT)",
                "grpo-full": "GRPO with harness rewards"}.get(training.get("method", ""), "Fine-tuning"),
        trainer="GRPOTrainer" if training.get("method", "").startswith("grpo") else "SFTTrainer",
        training=_flat(settings, TRAINING_KEYS), versions=sorted(training.get("versions", {}).items()),
        eval=report, eval_rows=[*report.levels, report.overall] if report else [],
        license_text=license_text,
    )
    return str(card)


def write_model_card(folder: str | Path, *, model_name: str | None = None, license: str | None = None,
                     repo_id: str | None = None, report: EvalReport | None = None) -> Path:
    """(Re)write folder/README.md from the folder's training_config.json and eval_results.json."""
    from finetune.sft import read_training_config

    folder = Path(folder)
    training = read_training_config(folder)
    if report is None and (folder / EVAL_RESULTS).is_file():
        report = report_from_json(json.loads((folder / EVAL_RESULTS).read_text()))
    settings = training.get("settings", {})
    adapter = (folder / "adapter_config.json").is_file()
    base = settings.get("base") or _adapter_base(folder) or "unknown"
    summ = training.get("examples") or {}
    train_n = summ.get("train", {}).get("examples") if summ else None
    refs = [DatasetRef.parse(s) for s in settings.get("datasets", [])]
    refs = [DatasetRef(r.name, r.revision, train_n if len(refs) == 1 else None) for r in refs]
    text = render_model_card(model_name=model_name or repo_id or folder.name, base_model=base, adapter=adapter,
                             license=license, datasets=refs, training=training, report=report, repo_id=repo_id)
    out = folder / "README.md"
    out.write_text(text)
    return out


def _adapter_base(folder: Path) -> str | None:
    p = folder / "adapter_config.json"
    return json.loads(p.read_text()).get("base_model_name_or_path") if p.is_file() else None


def save_eval(folder: str | Path, report: EvalReport) -> Path:
    p = Path(folder) / EVAL_RESULTS
    p.write_text(report.to_json())
    return p
