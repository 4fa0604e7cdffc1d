"""The paper's protocol: 5-item prompts, budgets, MRP and Discussion structure, per-turn scoring,
the judge's parsing and failure rule, billy_published, and the extraction preset."""

import json
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from billy_interp.evaluation.benchmark import assistant_turns, score
from billy_interp.evaluation.methods import Discussion, make_method, mrp_prompt
from billy_interp.evaluation.protocol import get_protocol, paper_task_prompt
from billy_interp.evaluation.tasks import TASKS, load_task
from billy_interp.jobs import benchmark as job
from billy_interp.options import UsageError
from billy_interp.paper import ROLES
from billy_interp.scoring.judge import Judge, JudgeConfig, parse_paper_score
from tests.conftest import job_main

_run = job_main(job.BenchmarkConfig, job.run_benchmark)


def test_paper_prompts_ask_for_five_numbered_items_about_the_subject():
    for task in TASKS:
        item = load_task(task).items[0]
        prompt = paper_task_prompt(item)
        assert " 5 " in prompt and "1. ... 2. ..." in prompt and item.subject.strip() in prompt, task
    items = list(load_task("aut").items[:3])
    assert [i.prompt for i in get_protocol("discussion").items(items)] == [i.prompt for i in items]
    paper_items = get_protocol("paper").items(items)
    assert [i.item_id for i in paper_items] == [i.item_id for i in items]
    assert all(p.prompt != i.prompt and "uses for" in p.prompt for p, i in zip(paper_items, items))
    with pytest.raises(ValueError, match="unknown protocol"):
        get_protocol("debate")


def test_paper_budgets_and_penalties_and_an_explicit_budget_overrides_them():
    billy = make_method("control", protocol="paper").decoding
    sa, mrp = make_method("sa", protocol="paper").decoding, make_method("mrp", protocol="paper").decoding
    assert billy.max_new_tokens == 1000 and sa.max_new_tokens == mrp.max_new_tokens == 512
    assert sa.temperature == 0.7 and sa.repetition_penalty == billy.repetition_penalty == 1.2
    assert make_method("sa_t1", protocol="paper").decoding.temperature == 1.0
    assert make_method("discussion", protocol="paper").decoding.max_new_tokens == 256  # the paper sets none
    assert make_method("sa", protocol="discussion").decoding.repetition_penalty == 1.0
    assert make_method("sa", protocol="discussion").decoding.max_new_tokens == 256
    assert make_method("sa", protocol="paper", max_new_tokens=40).decoding.max_new_tokens == 40
    assert make_method("mrp", protocol="paper").describe()["style"] == "paper"


def test_paper_mrp_puts_each_role_with_specialty_and_mission_before_the_task():
    prompt = mrp_prompt("QUESTION?", style="paper")
    assert prompt.rstrip().endswith("QUESTION?")
    for role in ("environmentalist", "creative_professional", "futurist"):
        assert ROLES[role].specialty in prompt and ROLES[role].mission in prompt
        assert prompt.index(ROLES[role].mission) < prompt.index("QUESTION?")
    assert "combine" in mrp_prompt("QUESTION?") and "combine" not in prompt


def test_paper_discussion_hides_who_said_what_and_asks_for_a_numbered_final_list():
    item = load_task("aut").items[0]
    agents = [ROLES[a] for a in ("environmentalist", "creative_professional", "futurist")]
    latest = ["idea A", "idea B", "idea C"]
    paper, ours = (
        Discussion("d", make_method("sa").decoding, style="paper"),
        Discussion("d", make_method("sa").decoding),
    )
    middle = paper._turn(1, item, 0, agents[0], agents, latest)
    assert "idea B" in middle and "creative professional)" not in middle and "idea A" not in middle
    assert "Agent 2 (creative professional)" in ours._turn(1, item, 0, agents[0], agents, latest)
    last = paper._turn(paper.rounds - 1, item, 0, agents[0], agents, latest)
    assert "numbered list" in last and "numbered list" not in ours._turn(
        ours.rounds - 1, item, 0, agents[0], agents, latest
    )


def test_assistant_turns_are_ordered_round_by_round():
    transcript = [
        [m for r in range(3) for m in ({"role": "user", "content": "u"}, {"role": "assistant", "content": f"a{a}r{r}"})]
        for a in range(2)
    ]
    assert assistant_turns(transcript) == ["a0r0", "a1r0", "a0r1", "a1r1", "a0r2", "a1r2"]


def test_discussion_is_also_scored_per_turn():
    rows = pd.DataFrame(
        [
            {
                "task": "aut",
                "subject": "brick",
                "prompt": "p",
                "item_id": "aut-000",
                "method": "discussion",
                "response": "1. Use a brick as a doorstop\n2. Grind a brick into red pigment for paint",
                "turns": ["1. Use a brick as a doorstop", "1. Grind a brick into red pigment for paint"],
            },
            {
                "task": "aut",
                "subject": "brick",
                "prompt": "p",
                "item_id": "aut-000",
                "method": "sa",
                "response": "1. Use a brick as a doorstop",
            },
        ]
    )
    scored, _ = score(rows, on_task="embedding")
    discussion, sa = scored.iloc[0], scored.iloc[1]
    assert discussion["n_turns"] == 2 and 0 <= discussion["turn_originality"] <= 1
    assert pd.isna(sa["turn_originality"])
    from billy_interp.scoring.creativity import score_response

    per_turn = [score_response("brick", t).originality for t in rows.loc[0, "turns"]]
    assert discussion["turn_originality"] == pytest.approx(sum(per_turn) / 2)


# Recorded judge replies (written for this test in the shapes judges answer in) and what the
# paper's parser makes of them.
RECORDED = [
    ("The ideas are fairly common. Score: [[2]]", 2),
    ("Originality: [[4]]. Compared with [[2]] for a typical answer.", 4),  # the first [[n]] wins
    ("Uses (1) and (2) are common; overall (3)", 3),  # no [[n]]: the last (n)
    ("I would rate this a 4 out of 5.", 5),  # no brackets: the last digit 1-5, as the paper did
    ("Rating: 3", 3),
    ("This response is unremarkable.", None),  # nothing to parse: the paper scores 0
]


@pytest.mark.parametrize(("reply", "expected"), RECORDED)
def test_paper_judge_parsing_on_recorded_replies(reply, expected):
    assert parse_paper_score(reply) == expected


def _fake_client(replies):
    asked = []

    def create(model, messages, temperature):
        asked.append(messages[0]["content"])
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=replies[len(asked) - 1]))])

    return SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(create=create))), asked


def test_paper_judge_sees_only_the_response_and_scores_failures_as_zero():
    client, asked = _fake_client(["[[4]]", "no score here", "(5)"])
    judge = Judge(JudgeConfig(protocol="paper", n_samples=3), client=client)
    result = judge.score("originality", question="SECRET TASK", response="1. doorstop", task="aut")
    assert result.samples == (4.0, 0.0, 5.0) and result.score == pytest.approx(3.0) and len(result.failures) == 1
    assert "SECRET TASK" not in asked[0] and "1. doorstop" in asked[0] and "Be demanding" in asked[0]
    assert "very common" in asked[0] and "extremely original" in asked[0]
    strict_client, _ = _fake_client(["[[4]]", "no score here", "[[5]]"])
    strict = Judge(JudgeConfig(n_samples=3), client=strict_client).score("originality", question="q", response="r")
    assert strict.samples == (4.0, None, 5.0) and strict.score == 4.5  # ours drops the failure
    with pytest.raises(ValueError, match="needs task="):
        Judge(JudgeConfig(protocol="paper", n_samples=1), client=_fake_client(["[[1]]"])[0]).score(
            "originality", response="r"
        )
    with pytest.raises(ValueError, match="judge protocol"):
        JudgeConfig(protocol="lenient")


def test_billy_published_steers_with_the_first_recipe_vector_only(tiny_model_dir, tiny_vectors, tmp_path):
    from billy_interp.core.loading import load_model
    from billy_interp.vectors.formats import load_vector

    config = job.BenchmarkConfig(
        methods="billy,billy_published",
        model=str(tiny_model_dir),
        vectors_dir=str(tiny_vectors),
        paper_layer=2,
        alpha=3.0,
        max_new_tokens=4,
        out=str(tmp_path / "b"),
    )
    specs = job._steering_specs(config)
    assert specs["billy_published"]["recipe"]["weights"] == {"creative_professional": 1}
    model = load_model(str(tiny_model_dir))
    published = job._method(model, config, "billy_published", specs["billy_published"])
    first = load_vector(tiny_vectors / "creative_professional.safetensors", model)
    (hook,) = published.steer_with.hooks
    torch.testing.assert_close(published.steer_with.deltas[hook][0], 3.0 * first[hook])
    merged = job._method(model, config, "billy", specs["billy"])
    assert not torch.allclose(merged.steer_with.deltas[hook], published.steer_with.deltas[hook])


def test_the_protocol_is_recorded_and_a_resumed_run_refuses_another(tiny_model_dir, tiny_vectors, tmp_path):
    out = tmp_path / "run"
    base = ["--model", str(tiny_model_dir), "--vectors-dir", str(tiny_vectors), "--paper-layer", "2"]
    argv = [*base, "--n", "1", "--max-new-tokens", "3", "--methods", "sa,discussion", "--rounds", "2"]
    _run([*argv, "--out", str(out)])
    settings = json.loads((out / "methods.json").read_text())
    assert settings["sa"]["protocol"] == "paper" and settings["discussion"]["style"] == "paper"
    logged = [json.loads(line) for line in (out / "responses.jsonl").read_text().splitlines()]
    by_method = {r["method"]: r for r in logged}
    assert " 5 " in by_method["sa"]["prompt"] and len(by_method["discussion"]["turns"]) == 2 * 4
    assert "turn_originality" in set(pd.read_csv(out / "summary.csv")["metric"])
    with pytest.raises(ValueError, match="protocol"):
        _run([*argv, "--protocol", "discussion", "--out", str(out)])
    with pytest.raises(UsageError, match="--protocol 'debate'"):
        job.BenchmarkConfig(protocol="debate")


def test_extraction_preset_paper_and_its_conflicts():
    from billy_interp.jobs.extract import ExtractConfig

    paper = ExtractConfig(persona="futurist", preset="paper")
    assert (paper.n_samples, paper.max_new_tokens, paper.keep_per_side) == (10, 1000, 20)
    assert (paper.filter_rule, paper.keep_order) == ("adaptive", "first")
    assert paper.decisive()["filter_rule"] == "adaptive"
    assert "filter_rule" not in ExtractConfig(persona="futurist").decisive()  # old provenance still matches
    assert ExtractConfig(persona="futurist", preset="paper", n_samples=10).n_samples == 10
    with pytest.raises(UsageError, match="--n-samples 3 contradicts --preset paper"):
        ExtractConfig(persona="futurist", preset="paper", n_samples=3)
    with pytest.raises(UsageError, match="--preset 'huge'"):
        ExtractConfig(persona="futurist", preset="huge")
    # the paper preset's answers live beside the default ones, not in their folder
    default_dir = ExtractConfig(persona="futurist").generation_dir("runs/extract", "M", "futurist", 0)
    assert default_dir.name == "futurist-topical-seed0"
    assert paper.generation_dir("runs/extract", "M", "futurist", 0).name == "futurist-topical-seed0-n10-t1000"


def test_adaptive_filter_and_first_rows_cap(monkeypatch):
    from billy_interp.scoring import embeddings
    from billy_interp.vectors import contrast
    from billy_interp.vectors.personas import load_persona

    scores = [0.30, 0.10, -0.05, 0.20, -0.20, -0.10, 0.05, -0.30]  # D+ rows first, then D-
    table = pd.DataFrame(
        {
            "split": "extract",
            "sign": [1, 1, 1, 1, -1, -1, -1, -1],
            "response": [f"a perfectly ordinary answer number {i} about many things" for i in range(8)],
        }
    )
    monkeypatch.setattr(embeddings, "trait_scores", lambda texts, *a, **k: torch.tensor(scores[: len(texts)]))
    persona = load_persona("futurist")
    adaptive = contrast.filter_contrast(table, persona, rule="adaptive")
    # D+ median 0.15 -> keep >= max(0, 0.15); D- median -0.15 -> keep <= min(0, -0.15)
    assert adaptive["kept"].tolist() == [True, False, False, True, True, False, False, True]
    capped = contrast.filter_contrast(table, persona, rule="adaptive", keep_per_side=1, keep="first")
    assert capped["kept"].tolist() == [True, False, False, False, True, False, False, False]
    ranked = contrast.filter_contrast(table, persona, rule="adaptive", keep_per_side=1)
    assert ranked["kept"].tolist() == [True, False, False, False, False, False, False, True]


def test_first_rows_cap_draws_the_paper_preset_vector_from_the_first_question(monkeypatch):
    """Rows are planned question by question (then instruction pair, side, sample), as the paper's
    code generates them, so keeping the first 20 per side reaches no further than the first
    question's 50 rows a side whenever 20 of them pass the adaptive cut."""
    from billy_interp.jobs.extract import ExtractConfig
    from billy_interp.jobs.vector_report import kept_coverage
    from billy_interp.scoring import embeddings
    from billy_interp.vectors import contrast
    from billy_interp.vectors.personas import load_persona

    paper = ExtractConfig(persona="futurist", preset="paper")
    persona = load_persona("futurist")
    table = contrast.plan_contrast(persona, contrast.ContrastPlan(n_samples=paper.n_samples, n_eval_samples=1))
    table["response"] = [f"answer {i}: several ordinary words about the question asked here" for i in range(len(table))]
    noise = torch.Generator().manual_seed(0)
    trait = 0.1 * table["sign"].to_numpy() + 0.05 * torch.randn(len(table), generator=noise).numpy()
    monkeypatch.setattr(embeddings, "trait_scores", lambda texts, *a, **k: torch.tensor(trait[: len(texts)]))
    extract = table["split"] == "extract"
    assert table.loc[extract].groupby("sign").size().tolist() == [250, 250]

    first = contrast.filter_contrast(table, persona, rule="adaptive", keep_per_side=paper.keep_per_side, keep="first")
    assert kept_coverage(first[extract]) == {"kept_questions": "1/5", "kept_prompts": "5/25"}
    ranked = contrast.filter_contrast(table, persona, rule="adaptive", keep_per_side=paper.keep_per_side)
    assert kept_coverage(ranked[extract])["kept_questions"] != "1/5"
