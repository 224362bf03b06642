"""The built-in task suite in KernelBench format (level1 single ops, level2 fusions)."""
