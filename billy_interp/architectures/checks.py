"""Does billy_interp run a family exactly as Hugging Face does? One check at a time, per runner.

Every check compares a :class:`~billy_interp.core.model.SteerableModel` with an untouched HF twin
(a deep copy made before the bridge mutates the original), on tiny random-init models from
:mod:`billy_interp.architectures.families`:

* ``wrap``: the TransformerBridge boots offline and the parameter-sharing residual clone exists;
* ``greedy_kv`` / ``greedy_no_kv``: greedy decoding under an alpha = 0 steering is token-identical
  to HF ``generate`` with and without the KV cache;
* ``steering``: alpha != 0 at a block equals a plain forward hook adding alpha * v to that HF
  decoder layer's output at the last position of each forward pass (and changes the text);
* ``residuals``: ``resid_pre`` of block 0 equals HF ``hidden_states[0]`` (Gemma's embedding scale
  included), ``resid_post`` of block l equals ``hidden_states[l+1]`` and, for the last block, the
  decoder layer's output before the final norm (HF's last entry is after it);
* ``left_padding``: a left-padded batch generates what each prompt generates alone;
* ``extraction``: a direction planted in D+ (same text as D-) is what mean-difference extraction
  returns, with held-out AUC 1;
* ``unembed``: :meth:`SteerableModel.unembed` of the runner's last residual equals HF's logits
  (final norm, tied or untied head, soft-capping).

A check that raises is a ``fail`` whose detail is the error. Where the TransformerBridge cannot
wrap a family, the model runs on the residual runner alone and the bridge's cells are
``unsupported`` with TL's reason.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import pandas as pd
import torch
from torch import Tensor, nn

from billy_interp.architectures.families import FAMILIES, Family, tiny_tokenizer
from billy_interp.core.forward import run_with_cache
from billy_interp.core.generation import GenerationConfig, generate
from billy_interp.core.model import Backend, SteerableModel, TokenBatch
from billy_interp.core.runners import decoder_layers, left_padded_position_ids
from billy_interp.core.steering import Steering, steer
from billy_interp.vectors.extraction import pool_table, separation_auc, vectors_from_pooled

__all__ = ["CHECKS", "BACKENDS", "CheckResult", "check_model", "check_family", "conformance_matrix"]

CHECKS = ("wrap", "greedy_kv", "greedy_no_kv", "steering", "residuals", "left_padding", "extraction", "unembed")
BACKENDS: tuple[Backend, ...] = ("residual", "bridge")
Status = Literal["pass", "fail", "unsupported"]
PROMPTS = (
    "Give unusual uses for a brick.",
    "What is the capital of France?",
    "A futurist imagines robots, space travel, and cities of tomorrow. What are some creative uses for a towel?",
)
NEW_TOKENS = 12
# Relative error allowed between residuals: the residual runner uses the model's own attention
# kernel (exact up to float noise); the bridge re-implements attention eagerly.
TOLERANCE = {"residual": 1e-5, "bridge": 1e-3}


@dataclass(frozen=True)
class CheckResult:
    family: str
    backend: str
    check: str
    status: Status
    detail: str = ""


def _relative_error(ours: Tensor, theirs: Tensor) -> float:
    return float((ours.float() - theirs.float()).abs().max() / theirs.float().abs().max().clamp_min(1e-12))


def _hf_generate(reference: nn.Module, batch: TokenBatch, use_cache: bool, pad_id: int) -> list[list[int]]:
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = reference.generate(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            do_sample=False,
            max_new_tokens=NEW_TOKENS,
            use_cache=use_cache,
            pad_token_id=pad_id,
            top_p=None,
            top_k=None,
            temperature=None,
        )
    return out[:, batch.input_ids.shape[1] :].tolist()


def _same_tokens(ours: Sequence[int], theirs: Sequence[int], eos: set[int]) -> bool:
    """Ours stops at (and keeps) the first EOS; HF pads after it."""
    return list(ours) == list(theirs[: len(ours)]) and (len(ours) == len(theirs) or ours[-1] in eos)


def _ours(
    model: SteerableModel, prompts: Sequence[str], backend: Backend, steering: Any, **config: Any
) -> list[list[int]]:
    settings = GenerationConfig(max_new_tokens=NEW_TOKENS, backend=backend, **config)
    return generate(model, list(prompts), settings, steering).token_ids


def _direction(model: SteerableModel, seed: int = 1) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    v = torch.randn(model.d_model, generator=generator)
    return v / v.norm()


def _residual_scale(model: SteerableModel, block: int) -> float:
    """The median norm of the block's residual over real prompt tokens (sets alpha's scale)."""
    batch = model.encode_chat(list(PROMPTS))
    resid = run_with_cache(model, batch, blocks=[block]).stack()[0]
    return float(resid[batch.attention_mask.bool()].norm(dim=-1).median())


def _check_greedy(model: SteerableModel, reference: nn.Module, backend: Backend, use_cache: bool) -> str:
    zero = Steering.from_vectors({model.layers.hook_name(0): _direction(model)}, alpha=0.0)
    _compare_with_hf(model, reference, backend, zero, use_cache)
    return f"{len(PROMPTS)} prompts (one left-padded batch) x {NEW_TOKENS} tokens identical"


def _compare_with_hf(
    model: SteerableModel, reference: nn.Module, backend: Backend, steering: Any, use_cache: bool
) -> list:
    """Ours and HF ``generate`` on the same left-padded batch of :data:`PROMPTS`; ours returned."""
    ours = _ours(model, PROMPTS, backend, steering, use_cache=use_cache, batch_size=len(PROMPTS))
    theirs = _hf_generate(reference, model.encode_chat(list(PROMPTS)), use_cache, model.tokenizer.pad_token_id)
    eos = set(model.eos_token_ids)
    for prompt, mine, hf in zip(PROMPTS, ours, theirs):
        if not _same_tokens(mine, hf, eos):
            raise AssertionError(f"{prompt[:30]!r}: ours {mine} vs HF {hf}")
    return ours


def _check_steering(model: SteerableModel, reference: nn.Module, backend: Backend) -> str:
    block = model.layers.n_layers - 1
    v = _direction(model)
    alpha = 8.0 * _residual_scale(model, block)
    steering = Steering.from_vectors({model.layers.hook_name(block): v}, alpha=alpha)

    def add_last(_module: nn.Module, _args: Any, output: Any) -> Any:
        hidden = output[0] if isinstance(output, tuple) else output
        hidden = hidden.clone()
        hidden[:, -1] += alpha * v.to(hidden.device, hidden.dtype)
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    handle = decoder_layers(reference)[block].register_forward_hook(add_last)
    try:
        steered = _compare_with_hf(model, reference, backend, steering, True)
    finally:
        handle.remove()
    plain = _ours(model, PROMPTS, backend, None, batch_size=len(PROMPTS))
    changed = sum(a != b for a, b in zip(steered, plain))
    if not changed:
        raise AssertionError("steering left every prompt's text unchanged: the comparison proves nothing")
    return f"block {block}, alpha = 8 x median |h|; {changed}/{len(PROMPTS)} texts changed"


def _check_residuals(model: SteerableModel, reference: nn.Module, backend: Backend) -> str:
    batch = model.encode_chat(list(PROMPTS))
    real = batch.attention_mask.bool()
    n = model.layers.n_layers
    post = run_with_cache(model, batch, backend=backend).stack()
    pre0 = run_with_cache(model, batch, blocks=[0], site="resid_pre", backend=backend).stack()[0]
    last: list[Tensor] = []

    def keep(_module: nn.Module, _args: Any, output: Any) -> None:
        last.append(output[0] if isinstance(output, tuple) else output)

    handle = decoder_layers(reference)[n - 1].register_forward_hook(keep)
    try:
        with torch.inference_mode():
            out = reference(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                position_ids=left_padded_position_ids(batch.attention_mask),
                output_hidden_states=True,
            )
    finally:
        handle.remove()
    hidden = out.hidden_states
    if len(hidden) != n + 1:
        raise AssertionError(f"HF returned {len(hidden)} hidden states for {n} blocks")
    pairs = [("resid_pre 0 vs hidden_states[0]", pre0, hidden[0])]
    pairs += [(f"resid_post {l} vs hidden_states[{l + 1}]", post[l], hidden[l + 1]) for l in range(n - 1)]
    pairs.append((f"resid_post {n - 1} vs layer {n - 1} output", post[n - 1], last[0]))
    worst = 0.0
    for what, ours, theirs in pairs:
        error = _relative_error(ours[real], theirs[real])
        if error > TOLERANCE[backend]:
            raise AssertionError(f"{what}: relative error {error:.1e} > {TOLERANCE[backend]:.0e}")
        worst = max(worst, error)
    return f"{len(pairs)} sites, max relative error {worst:.1e}"


def _check_left_padding(model: SteerableModel, backend: Backend) -> str:
    together = _ours(model, PROMPTS, backend, None, batch_size=len(PROMPTS))
    alone = [_ours(model, [p], backend, None)[0] for p in PROMPTS]
    if together != alone:
        raise AssertionError(f"batched {together} vs alone {alone}")
    lengths = model.encode_chat(list(PROMPTS)).lengths
    return f"prompt lengths {lengths}: batched = alone"


def _check_extraction(model: SteerableModel, backend: Backend) -> str:
    rows = []
    for i, prompt in enumerate(PROMPTS):
        response = model.tokenizer(" a doorstop, a bookend, pigment"[: 10 + 7 * i], add_special_tokens=False)
        rows.append(
            {
                "row_id": i,
                "system": "You are a helpful assistant.",
                "question": prompt,
                "response_ids": response["input_ids"],
            }
        )
    table = pd.DataFrame(rows)
    u = _direction(model, seed=7)
    alpha = 4.0 * _residual_scale(model, 0)
    planted = Steering.from_vectors({model.layers.hook_name(0): u}, alpha=alpha, positions="all")
    with steer(model, planted):
        positive = pool_table(model, table, poolings=["response_mean"], backend=backend)["response_mean"]
    negative = pool_table(model, table, poolings=["response_mean"], backend=backend)["response_mean"]
    pooled = torch.cat([positive, negative])
    signs = [1] * len(table) + [-1] * len(table)
    vector = vectors_from_pooled(pooled, signs, model)
    recovered = vector[model.layers.hook_name(0)]
    cosine = float(torch.nn.functional.cosine_similarity(recovered, u, dim=0))
    scale = float(recovered.norm() / alpha)
    auc = float(separation_auc(vector, pooled, signs)["auc"].iloc[0])
    if cosine < 0.9999 or abs(scale - 1) > 1e-3 or auc < 1.0:
        raise AssertionError(f"planted direction: cosine {cosine:.5f}, |v|/alpha {scale:.4f}, AUC {auc:.3f}")
    return f"cosine {cosine:.5f}, |v|/alpha {scale:.4f}, AUC {auc:.2f}"


def _check_unembed(model: SteerableModel, reference: nn.Module, backend: Backend) -> str:
    batch = model.encode_chat(list(PROMPTS))
    real = batch.attention_mask.bool()
    last = run_with_cache(model, batch, blocks=[model.layers.n_layers - 1], backend=backend).stack()[0]
    with torch.inference_mode():
        theirs = reference(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            position_ids=left_padded_position_ids(batch.attention_mask),
        ).logits
    error = _relative_error(model.unembed(last)[real], theirs[real])
    if error > TOLERANCE[backend]:
        raise AssertionError(f"unembed vs HF logits: relative error {error:.1e}")
    return f"relative error {error:.1e}"


def _run(family: str, backend: str, check: str, fn: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(family, backend, check, "pass", fn())
    except Exception as error:  # a check's failure is a table cell, not a crash
        message = " ".join(str(error).split())[:200]
        return CheckResult(family, backend, check, "fail", f"{type(error).__name__}: {message}")


# Each check as f(model, reference, backend) -> what it measured (raises when it fails).
_CHECKS: dict[str, Callable[[SteerableModel, nn.Module, Backend], str]] = {
    "wrap": lambda model, reference, backend: f"{type(model.runner(backend)).__name__} over {type(reference).__name__}",
    "greedy_kv": lambda model, reference, backend: _check_greedy(model, reference, backend, True),
    "greedy_no_kv": lambda model, reference, backend: _check_greedy(model, reference, backend, False),
    "steering": _check_steering,
    "residuals": _check_residuals,
    "left_padding": lambda model, _reference, backend: _check_left_padding(model, backend),
    "extraction": lambda model, _reference, backend: _check_extraction(model, backend),
    "unembed": _check_unembed,
}


def check_model(
    model: SteerableModel,
    reference: nn.Module,
    label: str,
    *,
    backends: Sequence[Backend] = BACKENDS,
    checks: Sequence[str] = CHECKS,
) -> list[CheckResult]:
    """The ``checks`` of :data:`CHECKS` on ``backends`` for a wrapped model and its plain HF twin
    (same weights, never wrapped): tiny families here, real models in integration tests."""
    unknown = sorted(set(checks) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown checks {unknown}; known: {', '.join(CHECKS)}")
    results = []
    for backend in backends:
        if backend == "bridge" and model.bridge_runner is None:
            results += [CheckResult(label, backend, c, "unsupported", model.bridge_error) for c in checks]
            continue
        results += [_run(label, backend, name, partial(_CHECKS[name], model, reference, backend)) for name in checks]
    return results


def check_family(fam: Family, tokenizer: Any | None = None, seed: int = 0, device: str = "cpu") -> list[CheckResult]:
    """Every check of :data:`CHECKS` on both runners for one family's tiny model, on ``device``."""
    tokenizer = tokenizer if tokenizer is not None else tiny_tokenizer()
    hf = fam.build(tokenizer, seed).to(device)
    reference = copy.deepcopy(hf)  # the bridge mutates ``hf``; this twin stays plain HF
    try:
        model = SteerableModel.from_hf(hf, tokenizer, f"tiny-{fam.name}")
    except Exception as error:
        reason = " ".join(str(error).split())[:200]
        return [
            CheckResult(fam.name, b, c, "fail" if c == "wrap" else "unsupported", reason)
            for b in BACKENDS
            for c in CHECKS
        ]
    return check_model(model, reference, fam.name)


def conformance_matrix(families: Sequence[Family] = FAMILIES, seed: int = 0) -> pd.DataFrame:
    """Tidy results: one row per family x runner x check (``status`` pass / fail / unsupported)."""
    tokenizer = tiny_tokenizer()
    rows = [result for fam in families for result in check_family(fam, tokenizer, seed)]
    return pd.DataFrame([r.__dict__ for r in rows])
