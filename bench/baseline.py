"""The decode loop as it was before the speed work, for side-by-side "before / after" rows.

Inside :func:`before_speedups`, generation uses HF's ``TopPLogitsWarper`` (a full sort per row
and step), HF's ``NoRepeatNGramLogitsProcessor`` (Python n-gram tables per row and step), HF's
``DynamicCache`` (``torch.cat`` of every layer's keys and values each step), no shared prompt
prefill and finished rows kept in the batch: exactly the loop of billy_interp 0.1.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import replace

from transformers import DynamicCache
from transformers.generation.logits_process import NoRepeatNGramLogitsProcessor, TopPLogitsWarper

from billy_interp.core import generation


@contextlib.contextmanager
def before_speedups() -> Iterator[None]:
    names = ("FastTopP", "FastNoRepeatNGram", "GrowingCache", "_share_prompt_prefix", "_generate_batch")
    saved = {name: getattr(generation, name) for name in names}
    generate_batch = saved["_generate_batch"]
    generation.FastTopP = TopPLogitsWarper
    generation.FastNoRepeatNGram = NoRepeatNGramLogitsProcessor
    generation.GrowingCache = lambda config, capacity: DynamicCache(config=config)
    generation._share_prompt_prefix = lambda *args: False
    generation._generate_batch = lambda model, batch, config, *rest: generate_batch(
        model, batch, replace(config, drop_finished=False), *rest
    )
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(generation, name, value)


def as_before(run: Callable[[], object]) -> Callable[[], None]:
    """``run`` with the 0.1 decode loop, for a "before" row beside the current one."""

    def before() -> None:
        with before_speedups():
            run()

    return before
