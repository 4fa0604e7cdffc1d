"""Persona vectors: the persona catalog, D+/D- generation, extraction, the vector object with its
arithmetic and merge recipes, file formats, and the shipped vectors."""
