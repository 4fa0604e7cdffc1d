"""The paper's five ways to answer a creativity task, all on the same local model, and a control.

1. ``sa``: single agent, T=0.7.  2. ``sa_t1``: single agent, T=1.0.
3. ``mrp``: one prompt asking for the environmentalist's, creative professional's and futurist's
   perspectives (multi-role prompting).
4. ``discussion``: LLM Discussion (Lu et al. 2024): 4 agents (environmentalist, creative
   professional, futurist, futurist), 5 rounds in 3 phases (initiation; discussion, where each
   agent sees the others' latest answers; convergence). Each agent keeps its own full chat
   history and re-reads it every round; every token it reads and writes is counted.
5. ``billy``: one agent steered by the merged persona vector (paper defaults: CRE+ENV+FUT+FUT
   mean, paper layer 20, alpha 2 on the raw vector, response positions, top_p 0.8,
   repetition_penalty 1.2, no_repeat_ngram_size 4, the model's default temperature).
6. ``control`` (ours, not the paper's): BILLY's exact decoding without steering, so that
   ``billy - control`` is the effect of steering alone, on any model.

Decoding confound (documented, as in the paper): BILLY's decoding uses penalties the SA
baselines did not. ``matched_decoding=True`` gives every method BILLY's top_p and penalties;
``sa`` and ``sa_t1`` keep the temperature that defines them (0.7, 1.0), ``mrp`` and
``discussion`` take BILLY's (the model's default; 1.0 on SmolLM2, where ``sa_t1`` then equals
``control``).

Discussion's final answer: each agent presents a final list in the last round; the method's
response is the four final lists joined (scoring then merges duplicate ideas). Lu et al. report
per-agent final answers; joining is our documented choice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

from billy_interp.generation import GenerationConfig, generate
from billy_interp.model import SteerableModel
from billy_interp.steering import Steering
from billy_interp.tasks import TaskItem

__all__ = ["Role", "ROLES", "MethodOutput", "Method", "make_method", "METHOD_NAMES", "mrp_prompt"]

METHOD_NAMES = ("sa", "sa_t1", "mrp", "discussion", "billy", "control")


@dataclass(frozen=True)
class Role:
    name: str
    specialty: str
    mission: str

    def prompt(self) -> str:
        article = "an" if self.name[0].lower() in "aeiou" else "a"
        return (f"You are {article} {self.name} whose specialty is {self.specialty}. {self.mission} "
                "Remember to claim your role in your answers.")


ROLES = {
    "environmentalist": Role("environmentalist", "sustainability and environmental protection",
                             "You champion eco-friendly ideas that protect the planet and reduce waste."),
    "creative_professional": Role("creative professional", "aesthetics, design and artistic expression",
                                  "You bring imaginative, surprising ideas that delight people."),
    "futurist": Role("futurist", "emerging technology and long-term trends",
                     "You imagine how ideas could evolve with the technology and society of the future."),
}
DISCUSSION_AGENTS = ("environmentalist", "creative_professional", "futurist", "futurist")


def mrp_prompt(question: str, roles: Sequence[str] = ("environmentalist", "creative_professional", "futurist")) -> str:
    """One prompt that asks for several role perspectives (SA-MRP)."""
    lines = [f"- {ROLES[r].name.capitalize()} (specialty: {ROLES[r].specialty}). {ROLES[r].mission}" for r in roles]
    return ("Answer the task below from the perspectives of these experts, then combine their ideas "
            "into one list.\n" + "\n".join(lines) + f"\n\nTask: {question}")


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
    """A named way to answer; ``run`` answers a batch of items."""

    name: str
    decoding: GenerationConfig
    steering: Steering | None = None
    rounds: int = 5

    def describe(self) -> dict:
        """What decides this method's answers, as JSON data: decoding, rounds, steered hooks.

        Batch size, backend and progress bars are left out: they change no setting of the method,
        so a resumed run may change them."""
        decoding = {k: v for k, v in asdict(self.decoding).items() if k not in ("batch_size", "backend", "progress")}
        described: dict = {"decoding": decoding}
        if self.name == "discussion":
            described["rounds"] = self.rounds
        if self.steering is not None:
            positions = self.steering.positions
            described["steering"] = {"hooks": sorted(self.steering.deltas),
                                     "positions": positions if isinstance(positions, str) else "mask"}
        return described

    def run(self, model: SteerableModel, items: Sequence[TaskItem]) -> list[MethodOutput]:
        if not items:
            raise ValueError("no task items to answer")
        if self.name == "discussion":
            return self._discussion(model, items)
        prompts = [mrp_prompt(i.prompt) if self.name == "mrp" else i.prompt for i in items]
        t0 = time.perf_counter()
        result = generate(model, prompts, self.decoding, self.steering)
        seconds = (time.perf_counter() - t0) / len(items)
        return [MethodOutput(item.item_id, self.name, text, n_in, n_out, n_out, 1, seconds)
                for item, text, n_in, n_out in zip(items, result.texts, result.prompt_tokens, result.output_tokens)]

    def _discussion(self, model: SteerableModel, items: Sequence[TaskItem]) -> list[MethodOutput]:
        agents = [ROLES[a] for a in DISCUSSION_AGENTS]
        histories = [[[] for _ in agents] for _ in items]  # per item, per agent: chat messages
        latest: list[list[str]] = [["" for _ in agents] for _ in items]
        tokens_in = [0] * len(items)
        tokens_out = [0] * len(items)
        passes = [0] * len(items)
        calls = [0] * len(items)
        t0 = time.perf_counter()
        for rnd in range(self.rounds):
            texts = []
            for i, item in enumerate(items):
                for a, role in enumerate(agents):
                    message = self._discussion_turn(rnd, item, a, role, agents, latest[i])
                    histories[i][a].append({"role": "user", "content": message})
                    texts.append(_render(model, histories[i][a]))
            result = generate(model, texts, self.decoding, chat=False)
            for k, (text, n_in, n_out) in enumerate(zip(result.texts, result.prompt_tokens, result.output_tokens)):
                i, a = divmod(k, len(agents))
                histories[i][a].append({"role": "assistant", "content": text})
                latest[i][a] = text
                tokens_in[i] += n_in
                tokens_out[i] += n_out
                passes[i] += n_out
                calls[i] += 1
        seconds = (time.perf_counter() - t0) / len(items)
        outputs = []
        for i, item in enumerate(items):
            final = "\n".join(latest[i])
            outputs.append(MethodOutput(item.item_id, self.name, final, tokens_in[i], tokens_out[i], passes[i],
                                        calls[i], seconds, tuple(tuple(h) for h in histories[i])))
        return outputs

    def _discussion_turn(self, rnd: int, item: TaskItem, a: int, role: Role, agents, latest: list[str]) -> str:
        head = role.prompt()
        if rnd == 0:
            return (f"{head}\nInitiate a discussion with the other agents to collectively complete the "
                    f"following task.\nTask: {item.prompt}\nShare your first ideas as a list.")
        others = "\n\n".join(f"Agent {b + 1} ({agents[b].name}): {latest[b]}" for b in range(len(agents)) if b != a)
        if rnd < self.rounds - 1:
            return (f"{head}\nThese are the other agents' latest answers:\n\n{others}\n\nThe task is: {item.prompt}\n"
                    "Build on, question or combine their ideas and give your improved list.")
        return (f"{head}\nThese are the other agents' latest answers:\n\n{others}\n\nThis is the last round of the "
                f"discussion. Please finalize and present a list of as many creative answers as possible.\n"
                f"Task: {item.prompt}")


def _render(model: SteerableModel, messages: list[dict]) -> str:
    return model.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def make_method(
    name: str,
    *,
    max_new_tokens: int = 256,
    seed: int = 0,
    batch_size: int = 16,
    steering: Steering | None = None,
    matched_decoding: bool = False,
    rounds: int = 5,
    billy_temperature: float = 1.0,
) -> Method:
    """The paper's configuration of each method (BILLY needs ``steering``; ``billy_temperature`` is
    the model's default temperature, which BILLY samples at)."""
    if name not in METHOD_NAMES:
        raise ValueError(f"unknown method {name!r}; use one of {METHOD_NAMES}")
    base = GenerationConfig(max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size, do_sample=True)
    billy = GenerationConfig.billy(max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size,
                                   temperature=billy_temperature)
    own_temperature = {"sa": 0.7, "sa_t1": 1.0}
    if name in ("billy", "control"):
        decoding = billy
    elif matched_decoding:
        decoding = replace(billy, temperature=own_temperature.get(name, billy_temperature))
    else:
        decoding = replace(base, temperature=own_temperature.get(name, 0.7))
    if name == "billy" and steering is None:
        raise ValueError("the billy method needs a steering (e.g. merged.to_steering(2.0, [hook]))")
    return Method(name, decoding, steering if name == "billy" else None, rounds)
