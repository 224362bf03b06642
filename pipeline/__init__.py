"""The evolution: stages, operators (LLM backends), population, prompts, run loop, and the CLI."""
