"""The model and everything that runs it: layer indices, loading, runners, steering, the forward
primitive, generation and activation capture."""
