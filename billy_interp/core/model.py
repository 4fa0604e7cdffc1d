"""Load the embedded default model or any HF causal LM as a :class:`SteerableModel`.

A ``SteerableModel`` holds, for one set of weights:

* ``bridge``: the TL ``TransformerBridge`` (HF-faithful numerics; compatibility mode is never
  enabled, so vectors stay interchangeable with vectors extracted in plain HF);
* ``residual``: a :class:`~billy_interp.runners.ResidualRunner` over an unwrapped clone of the
  HF module tree that shares the bridge's parameters and keeps the fast attention kernel;
* the tokenizer and chat formatting (tokenised with ``add_special_tokens=False``: the chat
  template already starts with the BOS-like ``<|im_start|>``, and the bridge's ``to_tokens``
  would prepend a second one);
* the layer convention (:class:`~billy_interp.layers.LayerConvention`).

The bridge mutates the HF model it wraps (submodule swaps, eager attention). We own that by
cloning the module structure *before* booting the bridge; ``hf_model`` below is the clone and
stays plain HF.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from jaxtyping import Int
from torch import Tensor, nn

from billy_interp.core.layers import LayerConvention
from billy_interp.core.runners import BridgeRunner, ResidualRunner, Runner, clone_module_tree

__all__ = ["Backend", "PromptFormat", "PROMPT_FORMATS", "PLAIN_FORMAT", "TokenBatch", "SteerableModel", "EMBEDDED"]

EMBEDDED = "embedded"
Backend = Literal["residual", "bridge"]
# How prompt strings become tokens: "chat" applies the chat template (user turn, optional system
# prompt); "raw" tokenizes plain text with the tokenizer's own special tokens (BOS where the model
# expects one); "formatted" is text already rendered by a template, tokenized with no additions.
PromptFormat = Literal["chat", "raw", "formatted"]
PROMPT_FORMATS = ("chat", "raw", "formatted")
# The prompt of a model without a chat template (a base model): system paragraph (if any), the
# user turn, and the cue for the answer.
PLAIN_FORMAT = "{system}User: {user}\n"
PLAIN_ANSWER_CUE = "Assistant:"
# Where each family keeps its final norm: Llama-likes, GPT-2, GPT-NeoX.
_FINAL_NORMS = ("norm", "ln_f", "final_layer_norm")


@dataclass(frozen=True)
class TokenBatch:
    """Left-padded token ids with their attention mask (1 = real token)."""

    input_ids: Int[Tensor, "batch pos"]
    attention_mask: Int[Tensor, "batch pos"]

    def __post_init__(self) -> None:
        if self.input_ids.shape != self.attention_mask.shape or self.input_ids.ndim != 2:
            raise ValueError(
                f"input_ids {tuple(self.input_ids.shape)} and attention_mask "
                f"{tuple(self.attention_mask.shape)} must both be [batch, pos]"
            )
        if self.input_ids.shape[0] == 0:
            raise ValueError("empty batch: no prompts were given")
        if bool((self.attention_mask[:, -1] == 0).any()):
            raise ValueError("batch must be left-padded: every row's last position must be real")

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    @property
    def lengths(self) -> list[int]:
        return [int(n) for n in self.attention_mask.sum(-1)]

    def rows(self, start: int, stop: int) -> TokenBatch:
        """Rows ``start:stop``, with columns that are padding in every kept row dropped."""
        mask = self.attention_mask[start:stop]
        first = int((mask.sum(0) > 0).nonzero()[0])
        return TokenBatch(self.input_ids[start:stop, first:], mask[:, first:])

    def to(self, device: torch.device | str) -> TokenBatch:
        return TokenBatch(self.input_ids.to(device), self.attention_mask.to(device))


@contextlib.contextmanager
def _no_modality_processor() -> Iterator[None]:
    """Stop TL's boot from fetching an image processor for multimodal models (gemma-3-4b-it):
    it asks the hub by model name (retrying for ~1 minute offline) and may even pip-install
    torchvision. Steering is text only; ``bridge.processor`` stays unset."""
    from unittest import mock

    target = "transformer_lens.model_bridge.sources.transformers.source.load_modality_processor"
    try:
        patcher = mock.patch(target, lambda *args, **kwargs: None)
        patcher.start()
    except (AttributeError, ModuleNotFoundError):  # another TL layout: nothing to stop
        yield
        return
    try:
        yield
    finally:
        patcher.stop()


class SteerableModel:
    """One model, its tokenizer, chat formatting, layer convention and two hooked runners."""

    def __init__(
        self, name: str, hf_model: nn.Module | None, bridge: Any, tokenizer: Any, *, bridge_error: str = ""
    ) -> None:
        if hf_model is None and bridge is None:
            raise ValueError("a SteerableModel needs the plain HF model, the bridge, or both")
        self.name = name
        self.hf_model = hf_model
        self.bridge = bridge
        self.bridge_error = bridge_error  # why there is no bridge, when there is none
        self.tokenizer = tokenizer
        # The HF module tree that holds the weights: the plain clone, else the bridge's own.
        self._weights: nn.Module = hf_model if hf_model is not None else bridge.original_model
        config = self._weights.config
        text_config = getattr(config, "text_config", None) or config
        self.layers = LayerConvention(int(text_config.num_hidden_layers))
        self.d_model = int(text_config.hidden_size)
        self.residual = ResidualRunner(hf_model) if hf_model is not None else None
        self.bridge_runner = BridgeRunner(bridge) if bridge is not None else None
        # Steerings pushed by the ``steer(model, ...)`` context manager; every forward pass and
        # generation run through billy_interp on this model applies them.
        self.active_steerings: list[Any] = []
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def from_hf(
        cls, hf_model: nn.Module, tokenizer: Any, name: str, *, fast_clone: bool = True, source: str | None = None
    ) -> SteerableModel:
        """Wrap an already loaded HF causal LM.

        The bridge takes over ``hf_model``'s submodules (TL mutates it in place); the plain,
        parameter-sharing clone is ``.hf_model``. ``fast_clone=False`` skips the clone, and
        every runner is then the bridge. When TransformerLens cannot wrap the architecture, the
        model still runs on the residual runner (steering, capture, generation, extraction) with
        a one-line warning; ``runner("bridge")`` then says why there is no bridge. ``source``
        (default ``name``) is the model name TL records; pass the local folder when ``name`` is a
        short label that TL would take for a hub alias.
        """
        from transformer_lens.model_bridge import TransformerBridge

        hf_model.eval()
        # TL picks its adapter from config.architectures, which models built from a config
        # class or loaded from GGUF leave unset; the model's own class is the right answer.
        if not getattr(hf_model.config, "architectures", None):
            hf_model.config.architectures = [type(hf_model).__name__]
        config_copies: dict[int, Any] = {}
        for module in hf_model.modules():
            config = getattr(module, "config", None)
            if config is not None and hasattr(config, "to_dict") and id(config) not in config_copies:
                config_copies[id(config)] = copy.deepcopy(config)
        plain = clone_module_tree(hf_model, config_copies) if fast_clone else None
        dtype = next(hf_model.parameters()).dtype
        try:
            with contextlib.redirect_stdout(io.StringIO()), _no_modality_processor():
                bridge = TransformerBridge.boot_transformers(
                    source or name, hf_model=hf_model, tokenizer=tokenizer, dtype=dtype
                )
        except Exception as error:  # TL raises several types for unknown architectures
            arch = hf_model.config.architectures[0]
            first = str(error).split(". Available")[0].splitlines()[0][:200]
            reason = f"TransformerLens 4 cannot wrap architecture {arch!r} of model {name!r} ({first})"
            if plain is None:
                raise ValueError(
                    f"{reason}; without the residual clone (fast_clone=False) nothing can run it"
                ) from error
            try:
                model = cls(name, plain, None, tokenizer, bridge_error=reason)
            except ValueError as residual_error:  # no decoder blocks where the residual runner looks
                raise ValueError(f"{reason}, and the residual runner cannot run it either: {residual_error}") from error
            warnings.warn(f"{reason}: running on the residual runner only (no TL bridge)", stacklevel=2)
            return model
        bridge.eval()
        return cls(name, plain, bridge, tokenizer)

    # --- properties ---------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return next(self._weights.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self._weights.parameters()).dtype

    @property
    def config(self) -> Any:
        return self._weights.config

    @property
    def eos_token_ids(self) -> list[int]:
        ids = {self.tokenizer.eos_token_id}
        model = self._weights
        gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        if isinstance(gen_eos, int):
            ids.add(gen_eos)
        elif gen_eos:
            ids.update(gen_eos)
        return sorted(i for i in ids if i is not None)

    @property
    def context_length(self) -> int | None:
        """The longest sequence the model was made for (``max_position_embeddings``), if it says."""
        text = getattr(self.config, "text_config", None) or self.config
        value = getattr(text, "max_position_embeddings", None) or getattr(text, "n_positions", None)
        return int(value) if value else None

    def check_fits(self, batch: TokenBatch, new_tokens: int = 0) -> None:
        """Refuse a batch (plus ``new_tokens`` to generate) longer than the model's context."""
        limit = self.context_length
        if limit is not None and batch.input_ids.shape[1] + new_tokens > limit:
            longest = int(batch.attention_mask.sum(-1).argmax())
            raise ValueError(
                f"prompt {longest} has {max(batch.lengths)} tokens"
                + (f" + {new_tokens} to generate" if new_tokens else "")
                + f", more than {self.name!r}'s context of {limit} tokens; shorten it"
            )

    @property
    def default_temperature(self) -> float:
        """The model's own sampling temperature (generation_config), 1.0 when it sets none.
        The paper sampled BILLY at each model's default temperature."""
        model = self._weights
        value = getattr(getattr(model, "generation_config", None), "temperature", None)
        return float(value) if value else 1.0

    def unembed(self, resid: Tensor) -> Tensor:
        """Logits from a final residual (``blocks.{n-1}.hook_resid_post``): the final norm, the
        unembedding and, where the model has it (Gemma 2/3), final logit soft-capping."""
        hf = self._weights
        decoder = hf.get_decoder() if hasattr(hf, "get_decoder") else hf.model
        norm = next((getattr(decoder, n) for n in _FINAL_NORMS if getattr(decoder, n, None) is not None), None)
        if norm is None:
            raise NotImplementedError(
                f"{type(hf).__name__}: no final norm found at get_decoder().{{{','.join(_FINAL_NORMS)}}}"
            )
        # The top-level config only: HF's multimodal Gemma 3 head does not soft-cap, whatever its
        # text config says, and unembed must give the model's own logits.
        cap = getattr(self.config, "final_logit_softcapping", None)
        with torch.inference_mode():
            logits = hf.get_output_embeddings()(norm(resid.to(self.device, self.dtype)))
            return torch.tanh(logits / cap) * cap if cap else logits

    def runner(self, backend: Backend = "residual") -> Runner:
        if backend == "residual" and self.residual is not None:
            return self.residual
        if backend in ("residual", "bridge"):
            if self.bridge_runner is None:
                raise ValueError(f"{self.name!r} has no TransformerLens bridge: {self.bridge_error}")
            return self.bridge_runner
        raise ValueError(f"unknown backend {backend!r}; use 'residual' or 'bridge'")

    # --- text ---------------------------------------------------------------------------------

    @property
    def has_chat_template(self) -> bool:
        return getattr(self.tokenizer, "chat_template", None) is not None

    @functools.cached_property
    def _tokenizer_adds_bos(self) -> bool:
        """Whether the tokenizer itself puts BOS first (asked once: it cannot change per call)."""
        probe = self.tokenizer("a", add_special_tokens=True)["input_ids"]
        return bool(probe) and probe[0] == self.tokenizer.bos_token_id

    @property
    def expects_bos(self) -> bool:
        """Whether text should start with BOS: the tokenizer adds one itself, or its saved
        ``add_bos_token`` says so (for a GGUF model, the file's ``tokenizer.ggml.add_bos_token``,
        kept when it is dequantised). The ``add_bos_token`` attribute is not read: some classes
        (GemmaTokenizer) report False while adding BOS."""
        if self.tokenizer.bos_token_id is None:
            return False
        return bool(self.tokenizer.init_kwargs.get("add_bos_token")) or self._tokenizer_adds_bos

    @property
    def prompt_style(self) -> str:
        """How prompts become text, in words (every model-loading command prints it)."""
        chat = "chat template" if self.has_chat_template else "plain text 'User: ... / Assistant:' (no chat template)"
        return f"{chat}; raw prompts {'with' if self.expects_bos else 'without'} BOS"

    def format_chat(self, user: str, system: str | None = None, *, add_generation_prompt: bool = True) -> str:
        """Chat-template text for one user turn. ``system=None`` keeps the template's default
        (SmolLM2's template inserts its own default system prompt).

        A model without a chat template (a base model) gets :data:`PLAIN_FORMAT` instead: BOS
        where the model expects it, the system prompt as a paragraph, ``User: {user}`` and, for
        a generation prompt, ``Assistant:`` on the next line."""
        if not self.has_chat_template:
            bos = self.tokenizer.bos_token if self.expects_bos else ""
            header = f"{system}\n\n" if system else ""
            return (
                bos
                + PLAIN_FORMAT.format(system=header, user=user)
                + (PLAIN_ANSWER_CUE if add_generation_prompt else "")
            )
        messages = [{"role": "user", "content": user}]
        if system is not None:
            messages.insert(0, {"role": "system", "content": system})
        try:
            return self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt
            )
        except Exception:  # templates without a system role (some Gemma versions)
            if system is None:
                raise
            merged = [{"role": "user", "content": f"{system}\n\n{user}"}]
            return self.tokenizer.apply_chat_template(
                merged, tokenize=False, add_generation_prompt=add_generation_prompt
            )

    def _tokenize(self, texts: Sequence[str], add_special_tokens: bool) -> TokenBatch:
        if isinstance(texts, str):
            raise TypeError("pass a sequence of strings, not one string")
        if len(texts) == 0:
            raise ValueError("no texts to encode")
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise TypeError(f"prompt {bad[0]} is {type(texts[bad[0]]).__name__}, not a string")
        tok = self.tokenizer
        side, tok.padding_side = tok.padding_side, "left"
        try:
            enc = tok(list(texts), return_tensors="pt", padding=True, add_special_tokens=add_special_tokens)
        finally:
            tok.padding_side = side
        if enc["input_ids"].shape[1] == 0 or bool((enc["attention_mask"].sum(-1) == 0).any()):
            empty = int((enc["attention_mask"].sum(-1) == 0).nonzero()[0]) if enc["input_ids"].shape[1] else 0
            raise ValueError(f"prompt {empty} is empty after tokenization: nothing to run the model on")
        return TokenBatch(enc["input_ids"], enc["attention_mask"]).to(self.device)

    def encode(self, texts: Sequence[str]) -> TokenBatch:
        """Tokenise already formatted texts, left-padded, without adding special tokens."""
        return self._tokenize(texts, add_special_tokens=False)

    def encode_raw(self, texts: Sequence[str]) -> TokenBatch:
        """Plain text with the tokenizer's own special tokens and BOS where the model expects it
        (:attr:`expects_bos`; some converted tokenizers forget to add it), left-padded: the
        paper's raw-prompt format (Fig. 3)."""
        bos = self.tokenizer.bos_token
        if self.expects_bos and not self._tokenizer_adds_bos and not isinstance(texts, str):
            texts = [t if not isinstance(t, str) or t.startswith(bos) else bos + t for t in texts]
        return self._tokenize(texts, add_special_tokens=True)

    def encode_chat(self, prompts: Sequence[str], system: str | Sequence[str | None] | None = None) -> TokenBatch:
        """Chat-template text for each user prompt (with ``system`` prompts), tokenised."""
        if isinstance(prompts, str):
            raise TypeError("encode_chat takes a sequence of prompts, not one string")
        systems = [system] * len(prompts) if system is None or isinstance(system, str) else system
        if len(systems) != len(prompts):
            raise ValueError(f"{len(systems)} system prompts for {len(prompts)} prompts")
        bad = [i for i, p in enumerate(prompts) if not isinstance(p, str)]
        if bad:
            raise TypeError(f"prompt {bad[0]} is {type(prompts[bad[0]]).__name__}, not a string")
        return self.encode([self.format_chat(p, s) for p, s in zip(prompts, systems)])

    def prepare(
        self,
        prompts: Sequence[str] | TokenBatch,
        *,
        format: PromptFormat = "chat",
        system: str | Sequence[str | None] | None = None,
    ) -> TokenBatch:
        """Prompts as a left-padded :class:`TokenBatch`, in an explicit ``format`` (see
        :data:`PromptFormat`); a ``TokenBatch`` passes through unchanged."""
        if isinstance(prompts, TokenBatch):
            return prompts.to(self.device)
        if format not in PROMPT_FORMATS:
            raise ValueError(f"unknown prompt format {format!r}; use one of {PROMPT_FORMATS}")
        if system is not None and format != "chat":
            raise ValueError(f"a system prompt needs format='chat', not {format!r}")
        if format == "chat":
            return self.encode_chat(prompts, system)
        return self.encode_raw(prompts) if format == "raw" else self.encode(prompts)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def __repr__(self) -> str:
        return (
            f"SteerableModel({self.name!r}, n_layers={self.layers.n_layers}, d_model={self.d_model}, "
            f"device={self.device}, dtype={self.dtype})"
        )
