"""Batched, seeded, optionally steered generation with token and time accounting.

Our own decode loop (prefill, then one token per step through a KV cache) rather than
``generate`` of HF or of the bridge, so that the steering hooks always know which absolute
positions a forward pass covers. Sampling uses HF's own logits processors, so
``repetition_penalty``, ``no_repeat_ngram_size``, ``top_p`` and ``temperature`` mean exactly
what they mean in HF; greedy output is tested token for token against plain HF ``generate``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from jaxtyping import Float, Int
from torch import Tensor
from torch.profiler import record_function
from tqdm.auto import tqdm
from transformers.generation.logits_process import (
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
)

from billy_interp import paper
from billy_interp.core.model import Backend, PromptFormat, SteerableModel, TokenBatch
from billy_interp.core.processors import FastNoRepeatNGram, FastTopP, GrowingCache
from billy_interp.core.runners import left_padded_position_ids
from billy_interp.core.steering import Steering, active_steerings, steering_hooks

__all__ = ["GenerationConfig", "GenerationResult", "NumericalError", "generate"]


class NumericalError(ValueError):
    """The model produced NaN or Inf: reported, never turned into empty or garbage text."""

    def __init__(self, step: int, rows: list[int]) -> None:
        super().__init__(
            f"the forward pass produced NaN/Inf logits at generation step {step} (batch rows {rows[:8]}): "
            "a steering delta too strong for this dtype, or a broken model; nothing was generated"
        )


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings. ``do_sample=False`` is greedy; the rest only matter when sampling,
    except ``repetition_penalty`` and ``no_repeat_ngram_size``, which also reshape greedy scores
    (as in HF)."""

    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    seed: int = 0
    batch_size: int = 16
    use_cache: bool = True
    stop_at_eos: bool = True
    drop_finished: bool = True  # finished rows leave the batch: same text, less compute
    backend: Backend = "residual"
    progress: bool = False

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0; use do_sample=False for greedy decoding")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")

    @classmethod
    def billy(cls, model: SteerableModel | None = None, **overrides: object) -> GenerationConfig:
        """The paper's BILLY decoding: sampling with top_p 0.8, repetition_penalty 1.2,
        no_repeat_ngram_size 4, at the model's default temperature (pass ``model``, or
        ``temperature=``; SmolLM2 sets none, so 1.0). Its SA baselines used T=0.7 *without* the
        penalties, a confound; pass the same overrides to compare."""
        base: dict = dict(
            do_sample=True,
            top_p=paper.BILLY_TOP_P,
            repetition_penalty=paper.BILLY_REPETITION_PENALTY,
            no_repeat_ngram_size=paper.BILLY_NO_REPEAT_NGRAM_SIZE,
        )
        if model is not None:
            base["temperature"] = model.default_temperature
        base.update(overrides)
        return cls(**base)

    def hf_generate_kwargs(self) -> dict:
        """The same decoding as keyword arguments of HF ``model.generate`` (for side-by-side
        comparisons; ``stop_at_eos=False`` becomes ``min_new_tokens``). Seeds are not carried over:
        HF draws from the global generator."""
        kwargs: dict = dict(
            max_new_tokens=self.max_new_tokens,
            do_sample=self.do_sample,
            repetition_penalty=self.repetition_penalty,
            no_repeat_ngram_size=self.no_repeat_ngram_size,
            use_cache=self.use_cache,
        )
        if self.do_sample:
            kwargs.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)
        if not self.stop_at_eos:
            kwargs["min_new_tokens"] = self.max_new_tokens
        return kwargs

    def processors(self) -> LogitsProcessorList:
        procs = LogitsProcessorList()
        if self.repetition_penalty != 1.0:
            procs.append(RepetitionPenaltyLogitsProcessor(self.repetition_penalty))
        if self.no_repeat_ngram_size > 0:
            procs.append(FastNoRepeatNGram(self.no_repeat_ngram_size))  # HF's NoRepeatNGram, vectorised
        if self.do_sample:
            if self.temperature != 1.0:
                procs.append(TemperatureLogitsWarper(self.temperature))
            if self.top_k > 0:
                procs.append(TopKLogitsWarper(self.top_k))
            if self.top_p < 1.0:
                procs.append(FastTopP(self.top_p))  # HF's TopPLogitsWarper, exactly, without a full sort
        return procs


@dataclass(frozen=True)
class GenerationResult:
    """Per-row outputs plus per-batch accounting (one entry per micro-batch)."""

    texts: list[str]
    token_ids: list[list[int]]
    prompt_tokens: list[int]
    output_tokens: list[int]
    finished: list[bool]
    batch_seconds: list[float] = field(default_factory=list)
    batch_forward_passes: list[int] = field(default_factory=list)
    config: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return float(sum(self.batch_seconds))

    @property
    def forward_passes(self) -> int:
        return int(sum(self.batch_forward_passes))

    @property
    def tokens_per_second(self) -> float:
        return sum(self.output_tokens) / self.seconds if self.seconds > 0 else float("nan")

    def to_frame(self):  # -> pandas.DataFrame
        import pandas as pd

        return pd.DataFrame(
            {
                "row": range(len(self.texts)),
                "text": self.texts,
                "prompt_tokens": self.prompt_tokens,
                "output_tokens": self.output_tokens,
                "finished": self.finished,
            }
        )


def _next_tokens(
    scores: Float[Tensor, "active vocab"],
    config: GenerationConfig,
    generator: torch.Generator | None,
    rows: Int[Tensor, " active"],
    batch: int,
) -> Int[Tensor, " active"]:
    """Greedy or sampled tokens for the ``rows`` still generating out of ``batch``. Sampling is
    ``torch.multinomial(probs, 1)`` spelled out (argmax of p / q, q ~ Exp(1), as torch does for one
    sample) so that the exponentials of the whole batch are drawn every step: a row's token then
    never depends on which other rows have already left the batch (tested against multinomial)."""
    if not config.do_sample:
        return scores.argmax(dim=-1)
    probs = torch.softmax(scores, dim=-1)
    q = torch.empty((batch, probs.shape[-1]), dtype=probs.dtype, device=probs.device)
    q.exponential_(1, generator=generator)
    q = q if q.shape[0] == probs.shape[0] else q[rows]
    return torch.div(probs, q).argmax(dim=-1)


@torch.inference_mode()
def _generate_batch(
    model: SteerableModel,
    batch: TokenBatch,
    config: GenerationConfig,
    steerings: list[Steering],
    generator: torch.Generator | None,
) -> tuple[Tensor, Tensor, int]:
    """Returns (generated ids [batch, new], finished [batch], forward passes). With
    ``config.drop_finished`` a row leaves the forward batch (and the KV cache) once it has ended;
    the others' tokens are the same either way (tested), only fewer rows are computed."""
    runner = model.runner(config.backend)
    eos = torch.tensor(model.eos_token_ids, device=batch.input_ids.device)
    pad_id = model.tokenizer.pad_token_id
    processors = config.processors()
    ids = batch.input_ids  # every row, finished ones padded: the returned ids
    live_ids, mask = batch.input_ids, batch.attention_mask  # the rows still generating
    n_rows, prompt_len = ids.shape
    rows = torch.arange(n_rows, device=ids.device)
    positions = left_padded_position_ids(mask)
    finished = torch.zeros(n_rows, dtype=torch.bool, device=ids.device)
    cache = GrowingCache(model.config, capacity=prompt_len + config.max_new_tokens) if config.use_cache else None
    passes = 0
    shared = cache is not None and not config.do_sample and _share_prompt_prefix(runner, batch, cache, steerings)
    with steering_hooks(runner, steerings) as state:
        state.set_prompt(batch.attention_mask)
        for step in range(config.max_new_tokens):
            if cache is not None and (step > 0 or shared):
                state.at(live_ids.shape[1] - 1)
                logits = runner.forward(live_ids[:, -1:], mask, positions[:, -1:], cache, keep_last=1)
            else:
                logits = runner.forward(live_ids, mask, positions, cache, keep_last=1)
            passes += 1
            last = logits[:, -1, :].float()
            if not bool(torch.isfinite(last).all()):
                bad = rows[(~torch.isfinite(last)).any(-1)]
                raise NumericalError(step, bad.tolist())
            with record_function("billy:processors"):  # labels for bench/profile_generation.py
                scores = processors(live_ids, last)
            with record_function("billy:sample"):
                live_token = _next_tokens(scores, config, generator, rows, n_rows)
            token = torch.full((n_rows,), pad_id, dtype=ids.dtype, device=ids.device)
            token[rows] = live_token.to(ids.dtype)
            token = torch.where(finished, torch.full_like(token, pad_id), token)
            ids = torch.cat([ids, token[:, None]], dim=1)
            live_ids = torch.cat([live_ids, token[rows, None]], dim=1)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            positions = torch.cat([positions, positions[:, -1:] + 1], dim=1)
            if config.stop_at_eos:
                finished |= torch.isin(token, eos)
            if bool(finished.all()):
                break
            live = ~finished[rows]
            if config.drop_finished and not bool(live.all()):
                keep = live.nonzero()[:, 0]
                rows, live_ids, mask, positions = rows[keep], live_ids[keep], mask[keep], positions[keep]
                if cache is not None:
                    cache.batch_select_indices(keep)
                state.keep_rows(rows)
    return ids[:, prompt_len:], finished, passes


def _share_prompt_prefix(runner, batch: TokenBatch, cache: GrowingCache, steerings: list[Steering]) -> bool:
    """Greedy rows that repeat a prompt (a sweep's cells share its prompts) share the unsteered part
    of its prefill: all prompt tokens but the last are run once per distinct prompt and the cache
    is copied to the rows. Only when every steering acts from the last prompt token on (the
    ``response`` positions), so that part is the same for every row; returns whether it ran."""
    rows = [tuple(r) for r in torch.cat([batch.input_ids, batch.attention_mask], 1).tolist()]
    first: dict[tuple, int] = {}
    inverse = [first.setdefault(row, len(first)) for row in rows]
    if len(first) == len(rows) or batch.input_ids.shape[1] < 2:
        return False
    if any(not isinstance(s.positions, str) or s.positions != "response" for s in steerings):
        return False
    unique = torch.tensor([rows.index(row) for row in first], device=batch.input_ids.device)
    ids, mask = batch.input_ids[unique, :-1], batch.attention_mask[unique, :-1]
    runner.forward(ids, mask, left_padded_position_ids(batch.attention_mask[unique])[:, :-1], cache, keep_last=1)
    cache.batch_select_indices(torch.tensor(inverse, device=ids.device))
    return True


def generate(
    model: SteerableModel,
    prompts: Sequence[str] | TokenBatch,
    config: GenerationConfig | None = None,
    steering: Steering | None = None,
    *,
    system: str | Sequence[str | None] | None = None,
    format: PromptFormat = "chat",
) -> GenerationResult:
    """Generate for each prompt, formatted as ``format`` says (``"chat"``: the chat template with
    ``system``; ``"raw"``: plain text with the tokenizer's BOS; ``"formatted"``: already rendered).

    ``steering`` may be per-row (as many rows as prompts) or broadcast (one row); enclosing
    ``steer(model, ...)`` blocks add theirs. Micro-batches of ``config.batch_size`` rows run in
    order; batch ``k`` samples from a generator seeded with ``config.seed + k``, so the same seed
    and batch size give the same text.
    """
    config = config or GenerationConfig()
    if isinstance(prompts, str):
        raise TypeError("prompts must be a sequence of strings, not one string")
    batch = model.prepare(prompts, format=format, system=system)
    model.check_fits(batch, config.max_new_tokens)
    n = len(batch)
    steerings = active_steerings(model, steering)
    for s in steerings:
        if s.n_rows not in (1, n):
            raise ValueError(f"steering has {s.n_rows} rows for {n} prompts")
    out_ids: list[list[int]] = []
    finished_rows: list[bool] = []
    seconds: list[float] = []
    passes: list[int] = []
    starts = range(0, n, config.batch_size)
    for index, start in enumerate(tqdm(starts, desc="generate", disable=not config.progress)):
        stop = min(start + config.batch_size, n)
        micro = batch.rows(start, stop)
        micro_steerings = [s.select_rows(start, stop) for s in steerings]
        generator = None
        if config.do_sample:
            generator = torch.Generator(device=model.device).manual_seed(config.seed + index)
        t0 = time.perf_counter()
        new, done, n_passes = _generate_batch(model, micro, config, micro_steerings, generator)
        seconds.append(time.perf_counter() - t0)
        passes.append(n_passes)
        eos = set(model.eos_token_ids) if config.stop_at_eos else set()
        for row, is_done in zip(new.tolist(), done.tolist()):
            cut = next((i + 1 for i, t in enumerate(row) if t in eos), len(row))
            out_ids.append(row[:cut])
            finished_rows.append(bool(is_done))
    return GenerationResult(
        texts=[model.decode(ids) for ids in out_ids],
        token_ids=out_ids,
        prompt_tokens=batch.lengths,
        output_tokens=[len(ids) for ids in out_ids],
        finished=finished_rows,
        batch_seconds=seconds,
        batch_forward_passes=passes,
        config=asdict(config),
    )
