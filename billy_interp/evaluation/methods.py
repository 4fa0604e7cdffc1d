"""The paper's ways to answer a creativity task, all on the same local model, and a control.

Each method is a small type; a name is only a label (``make_method`` maps the CLI's names):

* :class:`SingleAgent`: one prompt, one answer. ``sa`` (T = 0.7), ``sa_t1`` (T = 1.0), and
  ``control`` (ours: BILLY's exact decoding without steering, so ``billy - control`` is the
  effect of steering alone).
* :class:`MultiRolePrompt` (``mrp``): one prompt asking for the environmentalist's, creative
  professional's and futurist's perspectives.
* :class:`Discussion` (``discussion``): LLM Discussion (Lu et al. 2024): 4 agents, 5 rounds in 3
  phases (initiation; discussion, where each agent sees the others' latest answers; convergence).
  Each agent keeps its own full chat history and re-reads it every round; every token it reads
  and writes is counted. Its response is the four final lists joined (scoring merges duplicate
  ideas); Lu et al. report per-agent final answers, so joining is our documented choice.
* :class:`Steered` (``billy``): one agent steered by a merged persona vector (paper defaults:
  CRE+ENV+FUT+FUT mean, paper layer 20, alpha 2 on the raw vector, response positions).

BILLY's decoding (top_p 0.8, repetition_penalty 1.2, no_repeat_ngram_size 4) samples at the
model's own default temperature: a method built with ``temperature=None`` reads it from the
model it runs on. ``matched_decoding=True`` gives every method BILLY's processors; ``sa`` and
``sa_t1`` keep the temperature that defines them, ``mrp`` and ``discussion`` take BILLY's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

from billy_interp import paper
from billy_interp.core.generation import GenerationConfig, GenerationResult, generate
from billy_interp.core.model import SteerableModel
from billy_interp.core.steering import Steering
from billy_interp.evaluation.tasks import TaskItem
from billy_interp.paper import ROLES, Role

__all__ = [
    "MethodOutput",
    "Method",
    "SingleAgent",
    "MultiRolePrompt",
    "Discussion",
    "Steered",
    "METHOD_NAMES",
    "make_method",
    "mrp_prompt",
]

METHOD_NAMES = ("sa", "sa_t1", "mrp", "discussion", "billy", "control")
DEFAULT_MAX_NEW_TOKENS = 256  # where a protocol sets no budget


def mrp_prompt(question: str, roles: Sequence[str] = paper.MRP_ROLES, style: str = "discussion") -> str:
    """One prompt that asks for several role perspectives (SA-MRP). ``style="paper"``: the
    paper's structure (each role with its specialty and mission, then the task, answered from
    each perspective in turn); ``"discussion"``: our earlier prompt (one combined list)."""
    if style == "paper":
        lines = [
            f"{k}. {ROLES[r].name.capitalize()}. Specialty: {ROLES[r].specialty}. Mission: {ROLES[r].mission}"
            for k, r in enumerate(roles, 1)
        ]
        return (
            f"Think about the question below from {len(roles)} professional perspectives:\n\n"
            + "\n".join(lines)
            + "\n\nAnswer from each of these perspectives in turn, each in its own voice.\n\n"
            + question
        )
    lines = [f"- {ROLES[r].name.capitalize()} (specialty: {ROLES[r].specialty}). {ROLES[r].mission}" for r in roles]
    return (
        "Answer the task below from the perspectives of these experts, then combine their ideas "
        "into one list.\n" + "\n".join(lines) + f"\n\nTask: {question}"
    )


@dataclass(frozen=True)
class MethodOutput:
    """One answer with its cost. ``forward_passes`` counts passes as if the query ran alone with a
    KV cache (one per generated token, the first being the prefill); ``seconds`` is the batch's
    wall time divided by the items in it."""

    item_id: str
    method: str
    response: str
    input_tokens: int
    output_tokens: int
    forward_passes: int
    calls: int
    seconds: float
    transcript: tuple = field(default=(), repr=False)


@dataclass(frozen=True)
class Method:
    """A named way to answer task items with ``decoding``; ``model_temperature=True`` samples at
    the model's own default temperature instead of ``decoding.temperature`` (BILLY's rule)."""

    name: str
    decoding: GenerationConfig
    model_temperature: bool = False  # sample at the model's own default temperature

    def decoding_for(self, model: SteerableModel) -> GenerationConfig:
        if self.model_temperature:
            return replace(self.decoding, temperature=model.default_temperature)
        return self.decoding

    def prompts(self, items: Sequence[TaskItem]) -> list[str]:
        return [item.prompt for item in items]

    def items_per_call(self, batch_size: int) -> int:
        """Items to answer per :meth:`run` call so that generation batches hold ``batch_size`` rows."""
        return batch_size

    def steering(self) -> Steering | None:
        return None

    def describe(self, model: SteerableModel | None = None) -> dict:
        """What decides this method's answers, as JSON data: decoding and what else matters.

        Batch size, backend, progress bars and dropping finished rows are left out: they change
        no setting of the method, so a resumed run may change them."""
        decoding = self.decoding_for(model) if model is not None else self.decoding
        skip = ("batch_size", "backend", "progress", "drop_finished")
        return {"decoding": {k: v for k, v in asdict(decoding).items() if k not in skip}}

    def run(self, model: SteerableModel, items: Sequence[TaskItem]) -> list[MethodOutput]:
        if not items:
            raise ValueError("no task items to answer")
        t0 = time.perf_counter()
        result = generate(model, self.prompts(items), self.decoding_for(model), self.steering())
        return self._outputs(items, result, (time.perf_counter() - t0) / len(items))

    def _outputs(self, items: Sequence[TaskItem], result: GenerationResult, seconds: float) -> list[MethodOutput]:
        return [
            MethodOutput(item.item_id, self.name, text, n_in, n_out, n_out, 1, seconds)
            for item, text, n_in, n_out in zip(items, result.texts, result.prompt_tokens, result.output_tokens)
        ]


@dataclass(frozen=True)
class SingleAgent(Method):
    """The task prompt as it is, one answer."""


@dataclass(frozen=True)
class MultiRolePrompt(Method):
    """One prompt asking for several role perspectives (SA-MRP)."""

    roles: tuple[str, ...] = paper.MRP_ROLES
    style: str = "discussion"  # "paper": the paper's structure (see mrp_prompt)

    def prompts(self, items: Sequence[TaskItem]) -> list[str]:
        return [mrp_prompt(item.prompt, self.roles, self.style) for item in items]

    def describe(self, model: SteerableModel | None = None) -> dict:
        return {**super().describe(model), "style": self.style}


@dataclass(frozen=True)
class Steered(Method):
    """One agent whose residual stream is steered (BILLY). ``steer_with`` holds ``alpha * v`` at
    its hook(s); ``source`` records what it was made from (recipe, layer, alpha) for the run log."""

    steer_with: Steering | None = None
    source: dict | None = None

    def __post_init__(self) -> None:
        if self.steer_with is None:
            raise ValueError(f"method {self.name!r} needs a steering (e.g. merged.steering(2.0, layer=20))")

    def steering(self) -> Steering | None:
        return self.steer_with

    def describe(self, model: SteerableModel | None = None) -> dict:
        positions = self.steer_with.positions
        mode = positions if isinstance(positions, str) else "mask"
        return {**super().describe(model), "steering": {"hooks": self.steer_with.hooks, "positions": mode}}


@dataclass(frozen=True)
class Discussion(Method):
    """LLM Discussion: ``agents`` keep their own histories over ``rounds`` rounds."""

    rounds: int = paper.DISCUSSION_ROUNDS
    agents: tuple[str, ...] = paper.DISCUSSION_AGENTS
    style: str = "discussion"  # "paper": others' answers shown anonymously, a numbered final list

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"a discussion needs at least 1 round, got {self.rounds}")

    def describe(self, model: SteerableModel | None = None) -> dict:
        return {**super().describe(model), "rounds": self.rounds, "style": self.style}

    def items_per_call(self, batch_size: int) -> int:
        return max(1, batch_size // len(self.agents))  # each item is one row per agent

    def run(self, model: SteerableModel, items: Sequence[TaskItem]) -> list[MethodOutput]:
        if not items:
            raise ValueError("no task items to answer")
        agents = [ROLES[a] for a in self.agents]
        histories = [[[] for _ in agents] for _ in items]  # per item, per agent: chat messages
        latest: list[list[str]] = [["" for _ in agents] for _ in items]
        tokens_in, tokens_out, calls = [0] * len(items), [0] * len(items), [0] * len(items)
        decoding = self.decoding_for(model)
        t0 = time.perf_counter()
        for rnd in range(self.rounds):
            texts = []
            for i, item in enumerate(items):
                for a, role in enumerate(agents):
                    histories[i][a].append(
                        {"role": "user", "content": self._turn(rnd, item, a, role, agents, latest[i])}
                    )
                    texts.append(_render(model, histories[i][a]))
            result = generate(model, texts, decoding, format="formatted")
            for k, (text, n_in, n_out) in enumerate(zip(result.texts, result.prompt_tokens, result.output_tokens)):
                i, a = divmod(k, len(agents))
                histories[i][a].append({"role": "assistant", "content": text})
                latest[i][a] = text
                tokens_in[i] += n_in
                tokens_out[i] += n_out
                calls[i] += 1
        seconds = (time.perf_counter() - t0) / len(items)
        return [
            MethodOutput(
                item.item_id,
                self.name,
                "\n".join(latest[i]),
                tokens_in[i],
                tokens_out[i],
                tokens_out[i],
                calls[i],
                seconds,
                tuple(tuple(h) for h in histories[i]),
            )
            for i, item in enumerate(items)
        ]

    def _turn(self, rnd: int, item: TaskItem, a: int, role: Role, agents: list[Role], latest: list[str]) -> str:
        head = role.prompt()
        if rnd == 0:
            return (
                f"{head}\nInitiate a discussion with the other agents to collectively complete the "
                f"following task.\nTask: {item.prompt}\nShare your first ideas as a list."
            )
        if self.style == "paper":  # the paper's fork does not say who said what
            others = "\n\n".join(f"One agent's answer: {latest[b]}" for b in range(len(agents)) if b != a)
        else:
            others = "\n\n".join(f"Agent {b + 1} ({agents[b].name}): {latest[b]}" for b in range(len(agents)) if b != a)
        if rnd < self.rounds - 1:
            return (
                f"{head}\nThese are the other agents' latest answers:\n\n{others}\n\nThe task is: {item.prompt}\n"
                "Build on, question or combine their ideas and give your improved list."
            )
        final = (
            "Please finalize and present as many creative answers as possible, as a numbered list: 1. ... 2. ... 3. ..."
            if self.style == "paper"
            else "Please finalize and present a list of as many creative answers as possible."
        )
        return (
            f"{head}\nThese are the other agents' latest answers:\n\n{others}\n\nThis is the last round of the "
            f"discussion. {final}\nTask: {item.prompt}"
        )


def _render(model: SteerableModel, messages: list[dict]) -> str:
    return model.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def make_method(
    name: str,
    *,
    max_new_tokens: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
    steering: Steering | None = None,
    matched_decoding: bool = False,
    rounds: int = paper.DISCUSSION_ROUNDS,
    billy_temperature: float | None = None,
    source: dict | None = None,
    protocol: str = "discussion",
) -> Method:
    """The configuration of a method by its CLI name under a protocol (``evaluation.protocol``).

    ``max_new_tokens=None`` takes the protocol's budget for the method (256 where it sets none);
    a number overrides it for every method. BILLY (and ``control``, and the matched or
    protocol-penalised baselines) sample with BILLY's processors; BILLY, ``control`` and the
    matched ``mrp`` / ``discussion`` at ``billy_temperature`` (``None``: the model's default
    temperature when the method runs, as the paper did)."""
    from billy_interp.evaluation.protocol import get_protocol

    if name not in METHOD_NAMES:
        raise ValueError(f"unknown method {name!r}; use one of {METHOD_NAMES}")
    rules = get_protocol(protocol)
    tokens = max_new_tokens if max_new_tokens is not None else rules.budget(name, DEFAULT_MAX_NEW_TOKENS)
    base = GenerationConfig(max_new_tokens=tokens, seed=seed, batch_size=batch_size, do_sample=True)
    billy = GenerationConfig.billy(
        max_new_tokens=tokens, seed=seed, batch_size=batch_size, temperature=billy_temperature or 1.0
    )
    own_temperature = {"sa": paper.SA_TEMPERATURE, "sa_t1": paper.SA_T1_TEMPERATURE}
    follows_model = billy_temperature is None
    if name in ("billy", "control"):
        decoding, model_temperature = billy, follows_model
    elif matched_decoding:
        temperature = own_temperature.get(name)
        decoding = replace(billy, temperature=temperature or billy.temperature)
        model_temperature = follows_model and temperature is None
    elif rules.penalties_for_baselines and name in ("sa", "sa_t1", "mrp"):
        decoding = replace(billy, temperature=own_temperature.get(name, paper.SA_TEMPERATURE))
        model_temperature = False
    else:
        decoding, model_temperature = replace(base, temperature=own_temperature.get(name, paper.SA_TEMPERATURE)), False
    if name == "billy":
        return Steered(name, decoding, model_temperature, steering, source)
    if steering is not None:
        raise ValueError(f"method {name!r} is not steered; only billy takes a steering")
    if name == "mrp":
        return MultiRolePrompt(name, decoding, model_temperature, style=rules.style)
    if name == "discussion":
        return Discussion(name, decoding, model_temperature, rounds, style=rules.style)
    return SingleAgent(name, decoding, model_temperature)
