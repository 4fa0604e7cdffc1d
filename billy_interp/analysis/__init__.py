"""Measurements: from a model and vectors to tidy DataFrames.

Every module here runs the model only through the library's primitives (``core.forward.run_with_cache``
for single passes, ``core.generation.generate`` for text) and returns tables; none writes a file or
draws a figure (the jobs in ``billy_interp.jobs`` do that).
"""
