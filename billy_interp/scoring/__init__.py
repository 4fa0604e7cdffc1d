"""Text scorers that need no language model: sentence embeddings (trait, coherence, the
creativity proxy) and the optional OpenAI-compatible LLM judge."""
