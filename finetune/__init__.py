"""Fine-tuning: TRL SFT (+PEFT LoRA) on archive translations, evaluation via the harness, operator adapter."""
