"""Models behind one protocol: embedded llama.cpp, OpenAI-compatible, Anthropic, fake."""
