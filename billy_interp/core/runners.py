"""Two ways to run the same weights with TransformerLens hook points.

* :class:`BridgeRunner` runs the :class:`~transformer_lens.model_bridge.TransformerBridge`:
  every TL hook (attention patterns, MLP, norms), but the bridge re-implements attention
  eagerly (matmul + softmax), which is 1.2-1.35x slower than HF's sdpa kernel on CPU.
* :class:`ResidualRunner` runs an *unwrapped* clone of the HF module tree, taken before the
  bridge mutated it, that shares every parameter tensor with the bridge (no extra memory). It
  keeps the model's own attention kernel (sdpa) and exposes TL ``HookPoint`` objects only at
  the residual stream: ``blocks.{l}.hook_resid_pre`` and ``blocks.{l}.hook_resid_post``. That is
  all steering and vector extraction need, and it runs at plain-HF speed.

Both take hooks with TL's signature ``fn(tensor, hook) -> tensor | None`` through the same
:meth:`hooks` context manager, so steering code does not care which one runs.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from jaxtyping import Float, Int
from torch import Tensor, nn
from transformer_lens.hook_points import HookPoint

from billy_interp.core.layers import hook_name

__all__ = [
    "HookFn",
    "Runner",
    "BridgeRunner",
    "ResidualRunner",
    "clone_module_tree",
    "decoder_layers",
    "left_padded_position_ids",
]

HookFn = Callable[[Tensor, Any], Tensor | None]


def left_padded_position_ids(attention_mask: Int[Tensor, "batch pos"]) -> Int[Tensor, "batch pos"]:
    """Position ids that ignore left padding, exactly as HF ``generate`` builds them."""
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 0)


def clone_module_tree(root: nn.Module, config_copies: Mapping[int, Any]) -> nn.Module:
    """Copy the module *structure* of ``root`` while sharing every parameter and buffer.

    Later in-place submodule swaps on ``root`` (which ``TransformerBridge`` performs) do not
    reach the clone. ``config_copies`` maps ``id(config)`` to a replacement config object, so
    that the bridge forcing ``_attn_implementation = "eager"`` on the original config does not
    switch the clone's attention kernel.
    """

    def clone(module: nn.Module) -> nn.Module:
        new = copy.copy(module)
        for key, value in list(new.__dict__.items()):
            if isinstance(value, dict):  # hook dicts, _parameters, _buffers, _modules
                new.__dict__[key] = type(value)(value)
            elif id(value) in config_copies:
                new.__dict__[key] = config_copies[id(value)]
        new._modules = {k: (clone(v) if v is not None else None) for k, v in module._modules.items()}
        return new

    return clone(root)


def decoder_layers(hf_model: nn.Module) -> nn.ModuleList:
    """The list of decoder blocks of a HF causal LM (``model.layers`` for Llama/Qwen/Gemma)."""
    for path in ("model.layers", "model.language_model.layers", "transformer.h", "gpt_neox.layers"):
        obj: Any = hf_model
        try:
            for part in path.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        if isinstance(obj, nn.ModuleList):
            return obj
    raise ValueError(
        f"cannot find the decoder blocks of {type(hf_model).__name__}; supported layouts: "
        "model.layers, model.language_model.layers, transformer.h, gpt_neox.layers"
    )


@runtime_checkable
class Runner(Protocol):
    """What steering, generation and activation collection need from a model.

    ``forward`` returns logits for every position, or for the last ``keep_last`` positions only
    (the 49k-vocabulary unembedding is a large share of a small model's compute).
    """

    hook_points: Mapping[str, nn.Module]

    def forward(
        self,
        input_ids: Int[Tensor, "batch pos"],
        attention_mask: Int[Tensor, "batch total"],
        position_ids: Int[Tensor, "batch pos"],
        past_key_values: Any | None = None,
        keep_last: int = 0,
    ) -> Float[Tensor, "batch out_pos vocab"]: ...

    def hooks(self, fwd_hooks: Sequence[tuple[str, HookFn]]) -> contextlib.AbstractContextManager: ...


@contextlib.contextmanager
def _temporary_hooks(hook_points: Mapping[str, nn.Module], fwd_hooks: Sequence[tuple[str, HookFn]]) -> Iterator[None]:
    handles = []
    try:
        for name, fn in fwd_hooks:
            if name not in hook_points:
                raise KeyError(f"no hook point named {name!r} on this runner")
            point = hook_points[name]

            def torch_hook(module: nn.Module, _inputs: Any, output: Tensor, fn: HookFn = fn) -> Any:
                return fn(output, module)

            handles.append(point.register_forward_hook(torch_hook))
        yield
    finally:  # hooks must not outlive the block, even when its body raises
        for handle in handles:
            handle.remove()


class ResidualRunner:
    """An unwrapped HF causal LM with TL hook points on the residual stream."""

    def __init__(self, hf_model: nn.Module) -> None:
        self.model = hf_model
        self.layers = decoder_layers(hf_model)
        self.hook_points: dict[str, HookPoint] = {}
        for index, layer in enumerate(self.layers):
            pre, post = HookPoint(), HookPoint()
            pre.name, post.name = hook_name(index, "resid_pre"), hook_name(index, "resid_post")
            self.hook_points[pre.name], self.hook_points[post.name] = pre, post
            layer.register_forward_pre_hook(self._pre_hook(pre), with_kwargs=True)
            layer.register_forward_hook(self._post_hook(post))

    @staticmethod
    def _pre_hook(point: HookPoint) -> Callable[..., Any]:
        def hook(_module: nn.Module, args: tuple, kwargs: dict) -> Any:
            if args:
                return (point(args[0]), *args[1:]), kwargs
            kwargs["hidden_states"] = point(kwargs["hidden_states"])
            return args, kwargs

        return hook

    @staticmethod
    def _post_hook(point: HookPoint) -> Callable[..., Any]:
        def hook(_module: nn.Module, _args: Any, output: Any) -> Any:
            if isinstance(output, tuple):  # older decoder layers return (hidden, ...)
                return (point(output[0]), *output[1:])
            return point(output)

        return hook

    def forward(
        self,
        input_ids: Int[Tensor, "batch pos"],
        attention_mask: Int[Tensor, "batch total"],
        position_ids: Int[Tensor, "batch pos"],
        past_key_values: Any | None = None,
        keep_last: int = 0,
    ) -> Float[Tensor, "batch out_pos vocab"]:
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            use_cache=past_key_values is not None,
            logits_to_keep=keep_last,  # unembed only the positions asked for (0 = all)
        )
        return out.logits

    def hooks(self, fwd_hooks: Sequence[tuple[str, HookFn]]) -> contextlib.AbstractContextManager:
        return _temporary_hooks(self.hook_points, fwd_hooks)


class BridgeRunner:
    """The TransformerBridge, behind the same interface as :class:`ResidualRunner`."""

    def __init__(self, bridge: Any) -> None:
        self.bridge = bridge
        self.hook_points: Mapping[str, nn.Module] = bridge.hook_dict

    def forward(
        self,
        input_ids: Int[Tensor, "batch pos"],
        attention_mask: Int[Tensor, "batch total"],
        position_ids: Int[Tensor, "batch pos"],
        past_key_values: Any | None = None,
        keep_last: int = 0,
    ) -> Float[Tensor, "batch out_pos vocab"]:
        logits = self.bridge(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            use_cache=past_key_values is not None,
            return_type="logits",
        )
        return logits[:, -keep_last:] if keep_last else logits

    def hooks(self, fwd_hooks: Sequence[tuple[str, HookFn]]) -> contextlib.AbstractContextManager:
        return _temporary_hooks(self.hook_points, fwd_hooks)
