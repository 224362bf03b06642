"""Fine-tuning: TRL SFT (+PEFT LoRA) on archive translations, evaluation via the harness, operator adapter.

Modules: `examples` (archive rows -> conversational prompt/completion DatasetDict, split by task),
`sft` (trl.SFTTrainer + LoRA), `grpo` + `reward` (trl.GRPOTrainer with harness rewards),
`evaluate` (generate with the `local:` operator, verify, pass@k / fast_p), `card` (model card with
model-index), `push` (adapter or merged model + card to the Hub), `tiny` (random-init models for tests
and benchmarks), `bench_sft` (GPU throughput benchmark), `cli` (`kernel-evolve finetune ...`).
"""
