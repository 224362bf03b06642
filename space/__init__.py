"""The Gradio Space: paste PyTorch, get a verified kernel; browse the archive."""
