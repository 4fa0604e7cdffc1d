"""Tiny random-init models of each common HF causal-LM family, built in-process (no downloads).

Each :class:`Family` knows its HF config and model classes and the few settings that make its
architecture's peculiarities show at toy size: Gemma's embedding scale and soft-capping, Gemma 3's
sliding-window layers (window shorter than the test prompts), the multimodal Gemma 3 wrapper (the
class of the paper's gemma-3-4b-it), GPT-2's learned positions, GPT-NeoX's parallel residual.
They share one byte-level tokenizer with a ChatML template, so every check runs the same text.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["Family", "FAMILIES", "family", "tiny_tokenizer", "build_tiny"]

CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)
CORPUS = [
    "The capital of France is Paris.",
    "You are a creative professional assistant. Give unusual uses for a brick.",
    "Build a wall, a doorstop, grind it into pigment, weigh down a time capsule.",
    "An environmentalist thinks about recycling, climate, forests and rivers.",
    "A futurist imagines robots, space travel, and cities of tomorrow.",
    "What are some creative uses for a towel? Answer with a numbered list.",
]
D_MODEL, N_HEADS, N_KV_HEADS, HEAD_DIM, N_LAYERS = 64, 4, 2, 16, 2
# A wider init than the default 0.02 gives peaked next-token distributions, so greedy decoding
# has clear margins (no near-ties flipped by eager-vs-sdpa kernel noise).
INIT_RANGE = 0.12


def tiny_tokenizer(directory: str | Path | None = None) -> Any:
    """A byte-level BPE (400 tokens) with SmolLM2's chat special tokens, trained in ~10 ms.

    TL's bridge re-loads the tokenizer from ``name_or_path``, so it is saved to ``directory``
    (a temporary one by default) and loaded back from there.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
    )
    fast.chat_template = CHAT_TEMPLATE
    directory = str(directory or tempfile.mkdtemp(prefix="tiny-tok-"))
    fast.save_pretrained(directory)
    return AutoTokenizer.from_pretrained(directory)


def _special_ids(tokenizer: Any) -> dict[str, int]:
    return {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


def _decoder(**extra: Any) -> Callable[[Any], dict[str, Any]]:
    """Settings of a Llama-like decoder (GQA, RoPE, RMSNorm) plus ``extra``."""

    def settings(tokenizer: Any) -> dict[str, Any]:
        return {
            **_special_ids(tokenizer),
            "hidden_size": D_MODEL,
            "intermediate_size": 2 * D_MODEL,
            "num_hidden_layers": N_LAYERS,
            "num_attention_heads": N_HEADS,
            "num_key_value_heads": N_KV_HEADS,
            "max_position_embeddings": 512,
            "initializer_range": INIT_RANGE,
            "tie_word_embeddings": False,
            **extra,
        }

    return settings


def _gpt2(tokenizer: Any) -> dict[str, Any]:
    ids = _special_ids(tokenizer)
    ids.pop("pad_token_id")
    return {
        **ids,
        "n_embd": D_MODEL,
        "n_layer": N_LAYERS,
        "n_head": N_HEADS,
        "n_positions": 512,
        "initializer_range": INIT_RANGE,
    }


def _gpt_neox(tokenizer: Any) -> dict[str, Any]:
    """The Llama-like sizes minus grouped-query attention, which GPT-NeoX does not have."""
    settings = _decoder()(tokenizer)
    del settings["num_key_value_heads"]
    return settings


# Gemma 3 alternates sliding-window and full layers; a window of 8 tokens is shorter than every
# chat prompt the checks run, so a cache or mask that ignored the window would show.
_GEMMA3_TEXT = _decoder(
    head_dim=HEAD_DIM,
    sliding_window=8,
    layer_types=["sliding_attention", "full_attention"],
    final_logit_softcapping=30.0,
)


def _gemma3_multimodal(tokenizer: Any) -> dict[str, Any]:
    from transformers import Gemma3TextConfig, SiglipVisionConfig

    vision = SiglipVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=28, patch_size=14
    )
    text = Gemma3TextConfig(**_GEMMA3_TEXT(tokenizer))
    # The image tokens sit past the tiny vocabulary; text-only prompts never contain them.
    return {
        "text_config": text,
        "vision_config": vision,
        "mm_tokens_per_image": 4,
        "image_token_index": len(tokenizer) + 1,
    }


@dataclass(frozen=True)
class Family:
    """One architecture family: its HF classes (by name, resolved lazily) and tiny settings."""

    name: str
    config_class: str
    model_class: str
    settings: Callable[[Any], dict[str, Any]]
    note: str = ""

    def build_config(self, tokenizer: Any) -> Any:
        import transformers

        return getattr(transformers, self.config_class)(**self.settings(tokenizer))

    def build(self, tokenizer: Any, seed: int = 0) -> nn.Module:
        import transformers

        torch.manual_seed(seed)
        config = self.build_config(tokenizer)
        model = getattr(transformers, self.model_class)(config)
        return model.eval()


FAMILIES: tuple[Family, ...] = (
    Family("llama", "LlamaConfig", "LlamaForCausalLM", _decoder(), "Llama 2/3, SmolLM2 (the embedded model)"),
    Family("mistral", "MistralConfig", "MistralForCausalLM", _decoder()),
    Family("qwen2", "Qwen2Config", "Qwen2ForCausalLM", _decoder(), "Qwen2.5 (the paper's Qwen2.5-7B-Instruct)"),
    Family("qwen3", "Qwen3Config", "Qwen3ForCausalLM", _decoder(head_dim=HEAD_DIM), "QK-norm"),
    Family("gemma", "GemmaConfig", "GemmaForCausalLM", _decoder(head_dim=HEAD_DIM), "embedding scale sqrt(d)"),
    Family(
        "gemma2",
        "Gemma2Config",
        "Gemma2ForCausalLM",
        _decoder(head_dim=HEAD_DIM, sliding_window=8, final_logit_softcapping=30.0, attn_logit_softcapping=50.0),
        "sliding window, logit soft-capping, eager attention only",
    ),
    Family("gemma3_text", "Gemma3TextConfig", "Gemma3ForCausalLM", _GEMMA3_TEXT, "Gemma-3-270M/1B"),
    Family(
        "gemma3",
        "Gemma3Config",
        "Gemma3ForConditionalGeneration",
        _gemma3_multimodal,
        "multimodal wrapper of the paper's gemma-3-4b-it; text only here",
    ),
    Family("phi3", "Phi3Config", "Phi3ForCausalLM", _decoder(), "fused qkv and gate-up projections"),
    Family("olmo2", "Olmo2Config", "Olmo2ForCausalLM", _decoder(), "norms after attention and MLP"),
    Family("gpt2", "GPT2Config", "GPT2LMHeadModel", _gpt2, "learned positions, LayerNorm, tied embeddings"),
    Family("gpt_neox", "GPTNeoXConfig", "GPTNeoXForCausalLM", _gpt_neox, "Pythia; parallel attention and MLP"),
)


def family(name: str) -> Family:
    """The family called ``name`` (see :data:`FAMILIES`)."""
    for candidate in FAMILIES:
        if candidate.name == name:
            return candidate
    raise ValueError(f"unknown family {name!r}; known: {', '.join(f.name for f in FAMILIES)}")


def build_tiny(name: str, tokenizer: Any, seed: int = 0) -> nn.Module:
    """A tiny random-init model of family ``name`` (2 blocks, d_model 64), in eval mode."""
    return family(name).build(tokenizer, seed)
