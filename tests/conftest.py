"""Shared fixtures: a tiny random Llama built in-process, and the real embedded SmolLM2."""

from __future__ import annotations

import pytest
import torch


def build_tiny_tokenizer(directory=None):
    """A byte-level BPE with SmolLM2's chat special tokens (the conformance families' tokenizer)."""
    from billy_interp.architectures.families import tiny_tokenizer

    return tiny_tokenizer(directory)


def build_tiny_hf(tokenizer, *, seed: int = 0, n_layers: int = 2, d_model: int = 64):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=d_model,
        intermediate_size=4 * d_model,
        num_hidden_layers=n_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        # A wider init than the default 0.02 gives peaked next-token distributions, so greedy
        # decoding has clear margins (no near-ties flipped by eager-vs-sdpa kernel noise)
        # while still producing varied tokens.
        initializer_range=0.12,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory):
    return build_tiny_tokenizer(tmp_path_factory.mktemp("tiny-tokenizer"))


@pytest.fixture(scope="session")
def tiny_model(tiny_tokenizer):
    """A 2-block, d_model 64 Llama wrapped as a SteerableModel (and its untouched HF twin)."""
    from billy_interp.core.model import SteerableModel

    return SteerableModel.from_hf(build_tiny_hf(tiny_tokenizer), tiny_tokenizer, "tiny-llama")


@pytest.fixture(scope="session")
def tiny_reference(tiny_tokenizer):
    """The same weights as ``tiny_model``, loaded separately and never wrapped."""
    return build_tiny_hf(tiny_tokenizer)


@pytest.fixture(scope="session")
def smollm2():
    from billy_interp.core.loading import load_model

    return load_model("embedded")


@pytest.fixture(scope="session")
def smollm2_reference(smollm2):
    """A separately loaded, never-wrapped SmolLM2 (HF's default sdpa attention)."""
    from transformers import LlamaForCausalLM

    from billy_interp.core.embedded import embedded_model_dir

    return LlamaForCausalLM.from_pretrained(embedded_model_dir()).eval()


CHAT_PROMPTS = [
    "What is the capital of France?",
    "Give me three creative uses for a brick.",
    "Write a haiku about rain.",
    "Explain photosynthesis in one sentence.",
]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer):
    """The tiny model saved as a local HF directory, for CLIs that load by name or path."""
    directory = tmp_path_factory.mktemp("tiny-model")
    build_tiny_hf(tiny_tokenizer).save_pretrained(directory)
    tiny_tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture
def tiny_vectors(tmp_path, tiny_model_dir):
    """Random 'persona' vectors for the tiny model (saved under catalog persona names)."""
    from billy_interp.vectors.formats import save_vector
    from billy_interp.vectors.personas import PAPER_PERSONAS
    from billy_interp.vectors.vector import PersonaVector

    directory = tmp_path / "vectors"
    for i, name in enumerate(PAPER_PERSONAS):
        g = torch.Generator().manual_seed(i)
        vec = PersonaVector(
            {f"blocks.{l}.hook_resid_post": torch.randn(64, generator=g) for l in range(2)},
            {"model": str(tiny_model_dir), "persona": name},
        )
        save_vector(vec, directory / f"{name}.safetensors")
    return directory


def job_main(config_cls, run):
    """A job as its command runs it (same argv parsing) but raising its errors instead of exiting."""
    from billy_interp.cli import parse_config

    return lambda argv: run(parse_config(config_cls, argv))
