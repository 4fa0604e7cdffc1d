"""Decoding helpers that give exactly HF's results, faster: top-p without a full sort, and a KV
cache that grows without copying itself every step.

* :class:`FastTopP` returns the same scores as HF's ``TopPLogitsWarper`` (tested on random
  logits, ``-inf`` rows and ties). HF sorts the whole 49k vocabulary of every row at every step;
  here the nucleus is found among the top ``k`` tokens, and a row falls back to HF's own code
  whenever the nucleus does not fit in them, its boundary is within ``margin`` of the threshold
  (where a different summation order could flip it) or two tokens tie at the boundary.
* :class:`FastNoRepeatNGram` bans exactly what HF's ``NoRepeatNGramLogitsProcessor`` bans: every
  token that would complete an n-gram already in the row (padding included, as HF counts it).
  HF rebuilds a Python dict of every row's n-grams at every step; here one tensor comparison of
  the row's (n-1)-gram windows with its last n-1 tokens finds them.
* :class:`GrowingCache` is HF's ``DynamicCache`` whose layers keep their keys and values in
  buffers with spare room (doubled when full): a decode step writes one position instead of
  concatenating the whole cache (``torch.cat`` copies every layer's keys and values each step).
"""

from __future__ import annotations

import torch
from torch import Tensor
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer
from transformers.generation.logits_process import TopPLogitsWarper

__all__ = ["FastTopP", "FastNoRepeatNGram", "GrowingCache"]


class FastTopP:
    """HF's top-p filter (``min_tokens_to_keep=1``), computed on the top ``k`` tokens."""

    def __init__(self, top_p: float, k: int = 256, margin: float = 1e-4) -> None:
        if not 0 < top_p < 1:
            raise ValueError(f"top_p must be in (0, 1), got {top_p}")
        self.top_p, self.k, self.margin = float(top_p), k, margin
        self.reference = TopPLogitsWarper(top_p)
        self.fallbacks = 0  # rows that needed HF's full sort (reported by the benchmarks)

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        k = min(self.k, scores.shape[-1] - 1)
        probs = scores.softmax(dim=-1)
        top, index = probs.topk(k + 1, dim=-1)  # descending; one extra to see past the boundary
        # HF keeps a token when the mass of all tokens not above it exceeds 1 - top_p, i.e. when
        # the mass strictly above it is below top_p.
        above = top.cumsum(dim=-1) - top
        keep = above < self.top_p
        keep[:, 0] = True
        n_keep = keep.sum(dim=-1)  # the kept tokens are the first n_keep of the top k + 1
        rows = torch.arange(scores.shape[0], device=scores.device)
        last = n_keep - 1
        first_out = n_keep.clamp(max=k)
        safe = (
            (n_keep <= k)  # the nucleus ends inside the top k
            & ((self.top_p - above[rows, last]).abs() > self.margin)
            & ((above[rows, first_out] - self.top_p).abs() > self.margin)
            & (top[rows, last] > top[rows, first_out])  # no tie across the boundary
        )
        ranks = torch.arange(k + 1, device=scores.device)[None, :]
        kept = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, index, ranks < n_keep[:, None])
        out = scores.masked_fill(~kept, -float("inf"))
        if not bool(safe.all()):
            unsafe = (~safe).nonzero()[:, 0]
            self.fallbacks += len(unsafe)
            out[unsafe] = self.reference(input_ids[unsafe], scores[unsafe])
        return out


class FastNoRepeatNGram:
    """HF's no-repeat n-gram ban, vectorised over rows and positions."""

    def __init__(self, ngram_size: int) -> None:
        if ngram_size < 1:
            raise ValueError(f"ngram_size must be >= 1, got {ngram_size}")
        self.n = ngram_size

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        length = input_ids.shape[-1]
        if length < self.n:  # no complete n-gram yet, so nothing can repeat one
            return scores
        if self.n == 1:  # every token seen so far is banned
            return scores.scatter(1, input_ids, -float("inf"))
        windows = input_ids.unfold(1, self.n, 1)  # [batch, length - n + 1, n]
        tail = input_ids[:, length - self.n + 1 :]  # the n - 1 tokens a new token would follow
        hits = (windows[..., :-1] == tail[:, None, :]).all(-1)  # [batch, windows]
        banned = torch.zeros_like(scores, dtype=torch.bool)
        rows, starts = hits.nonzero(as_tuple=True)
        banned[rows, windows[rows, starts, -1]] = True
        return scores.masked_fill(banned, -float("inf"))


class _GrowingLayer(DynamicLayer):
    """A ``DynamicLayer`` that writes new positions into a buffer with spare capacity."""

    def lazy_initialization(self, key_states: Tensor, value_states: Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._length = 0
        self._key_buffer: Tensor | None = None
        self._value_buffer: Tensor | None = None

    capacity_hint = 0  # set by GrowingCache: the longest sequence the caller will reach

    def _grow(self, needed: int, like_keys: Tensor, like_values: Tensor) -> None:
        current = self._key_buffer.shape[-2] if self._key_buffer is not None else 0
        capacity = max(needed, self.capacity_hint if needed <= self.capacity_hint else 2 * max(current, 64))
        keys = like_keys.new_empty((*like_keys.shape[:-2], capacity, like_keys.shape[-1]))
        values = like_values.new_empty((*like_values.shape[:-2], capacity, like_values.shape[-1]))
        if self._key_buffer is not None and self._length:
            keys[..., : self._length, :] = self._key_buffer[..., : self._length, :]
            values[..., : self._length, :] = self._value_buffer[..., : self._length, :]
        self._key_buffer, self._value_buffer = keys, values

    def update(self, key_states: Tensor, value_states: Tensor, *args, **kwargs) -> tuple[Tensor, Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self._length + key_states.shape[-2]
        if self._key_buffer is None or end > self._key_buffer.shape[-2]:
            self._grow(end, key_states, value_states)
        self._key_buffer[..., self._length : end, :] = key_states
        self._value_buffer[..., self._length : end, :] = value_states
        self._length = end
        self._expose()
        return self.keys, self.values

    def _expose(self) -> None:
        self.keys = self._key_buffer[..., : self._length, :]
        self.values = self._value_buffer[..., : self._length, :]

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove < 0 and self.is_initialized and self._key_buffer is not None:
            self._length = max(0, self._length + tokens_to_remove)
            self._expose()
        else:
            super().crop(tokens_to_remove)

    def batch_select_indices(self, indices: Tensor) -> None:
        if self.is_initialized and self._key_buffer is not None:
            self._key_buffer, self._value_buffer = self._key_buffer[indices], self._value_buffer[indices]
            self._expose()

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.is_initialized and self._key_buffer is not None:
            self._key_buffer = self._key_buffer.repeat_interleave(repeats, dim=0)
            self._value_buffer = self._value_buffer.repeat_interleave(repeats, dim=0)
            self._expose()


class GrowingCache(DynamicCache):
    """``DynamicCache`` with :class:`_GrowingLayer` layers (full-attention models; others fall back
    to the plain ``DynamicCache``). ``capacity`` (prompt + new tokens) sizes the buffers once, so
    memory is exactly what the sequence needs; beyond it they double."""

    def __init__(self, config=None, capacity: int = 0) -> None:
        super().__init__(config=config)
        self.layers = [_GrowingLayer() if type(layer) is DynamicLayer else layer for layer in self.layers]
        for layer in self.layers:
            if isinstance(layer, _GrowingLayer):
                layer.capacity_hint = capacity
