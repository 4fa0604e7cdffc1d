"""The guarded creativity score: one-item answers score, off-topic and degenerate ideas do not."""

from __future__ import annotations

import math

import pytest

from billy_interp.evaluation.tasks import task_subjects
from billy_interp.scoring.creativity import score_response
from billy_interp.scoring.guarded import guarded_core, readable, score_guarded, strip_subject

AUT = task_subjects("aut")


@pytest.mark.parametrize("answer", ["Doorstop", "1. Doorstop", "- Use it as a doorstop"])
def test_one_item_answers_score(answer):
    scores = score_guarded("brick", answer, AUT)
    assert len(scores.ideas) == 1
    assert not math.isnan(scores.originality)
    assert 0 <= scores.guarded_originality <= 1


def test_an_empty_answer_scores_zero_and_says_why():
    scores = score_guarded("brick", "   ", AUT)
    assert scores.ideas == () and scores.guarded_originality == 0.0 and scores.valid_ideas == 0


@pytest.mark.parametrize(
    "text",
    ["futuristic futuristic futuristic futuristic", "the the the the the", "xq zv kt pf rb"],
)
def test_degenerate_text_is_not_readable(text):
    ok, why = readable(text)
    assert not ok and why
    assert score_guarded("brick", text, AUT).guarded_originality == 0.0


def test_readable_ideas_stay_readable():
    for idea in ["Use it as a doorstop", "Grind it into red pigment for paint", "Doorstop"]:
        assert readable(idea) == (True, "")


def test_naming_the_object_does_not_change_originality():
    plain = score_guarded("hourglass", "tell the time", AUT).originality
    named = score_guarded("hourglass", "use an hourglass to tell the time", AUT).originality
    assert strip_subject("use an hourglass to tell the time", "hourglass") == "use an to tell the time"
    assert abs(plain - named) < 0.15  # the old proxy: 0.714 vs 0.305
    old_gap = (
        score_response("hourglass", "tell the time").originality
        - score_response("hourglass", "use an hourglass to tell the time").originality
    )
    assert abs(plain - named) < old_gap


def test_core_keeps_the_description_after_a_title():
    assert guarded_core("Zen garden: use the sand to rake patterns") == "Zen garden: use the sand to rake patterns"
    assert guarded_core("Doorstop. Heavy enough to hold any door, even in wind.") == "Doorstop"


def test_off_topic_ideas_score_below_a_valid_one():
    """The proxy's failure (issue 13): "flamingo" and "banana pancakes" out-scored "tell the time"."""
    valid = score_guarded("hourglass", "tell the time", AUT)
    assert valid.appropriateness == 1.0 and valid.guarded_originality > 0
    for off_topic in ["flamingo", "banana pancakes"]:
        off = score_guarded("hourglass", off_topic, AUT)
        assert off.appropriateness == 0.0, off.ideas
        assert off.guarded_originality < valid.guarded_originality


@pytest.mark.integration
def test_going_off_topic_only_lowers_a_response(smollm2):
    from billy_interp.evaluation.relevance import guard

    on = "1. Tell the time\n2. Measure a boiled egg\n3. Time a board game turn"
    drift = on + "\n4. Build urban skyscrapers in New York City\n5. banana pancakes"
    how = guard("aut", smollm2)
    a, b = score_guarded("hourglass", on, **how), score_guarded("hourglass", drift, **how)
    assert b.appropriateness < a.appropriateness
    assert b.guarded_originality <= a.guarded_originality


def test_a_pool_or_relevance_function_is_required():
    with pytest.raises(ValueError, match="pool"):
        score_guarded("brick", "Doorstop")
    custom = score_guarded("brick", "Doorstop", relevance_fn=lambda ideas, subject: [-1.0] * len(ideas))
    assert custom.appropriateness == 0.0 and custom.guarded_originality == 0.0


@pytest.mark.integration
def test_pmi_guard_rejects_the_issues_off_topic_examples(smollm2):
    from billy_interp.evaluation.relevance import guard

    how = guard("aut", smollm2)
    valid = score_guarded("hourglass", "tell the time", **how)
    assert valid.appropriateness > 0
    for off_topic in ["flamingo", "banana pancakes"]:
        off = score_guarded("hourglass", off_topic, **how)
        assert off.guarded_originality < valid.guarded_originality, (off_topic, off.ideas)
    # Not asserted, a known limit (docs/analyses.md): PMI measures association, not use, so
    # "Build Urban Skyscrapers in New York City" for a snow globe (New York snow globes are
    # common) counts as on the task.


def test_the_on_task_weight_is_clipped_and_zero_cap_is_a_threshold():
    from billy_interp.scoring.guarded import on_task_weight

    assert on_task_weight(0.1, 0.25) == pytest.approx(0.4)
    assert on_task_weight(-3.0, 0.25) == 0.0 and on_task_weight(9.0, 0.25) == 1.0
    assert on_task_weight(0.01) == 1.0 and on_task_weight(-0.01) == 0.0
    with pytest.raises(ValueError, match="soft_cap"):
        score_guarded("brick", "Doorstop", AUT, soft_cap=-1.0)


def test_the_labelled_set_covers_what_the_issue_asks():
    from billy_interp.evaluation.validation import load_labels

    labels = load_labels()
    assert len(labels) >= 120 and labels["subject"].nunique() >= 12
    assert set(labels["task"]) == {"aut", "instances", "similarities", "scientific"}
    assert set(labels["label"]) == {"common", "unusual", "off-topic", "degenerate"}
    assert not labels.duplicated(["subject", "idea"]).any()


@pytest.mark.integration
def test_validation_scores_both_instruments_side_by_side(smollm2):
    from billy_interp.evaluation.validation import SOFT_CAPS, load_labels, score_labels, validate_scores

    labels = load_labels()
    subset = labels[labels["subject"].isin(["hourglass", "brick"])]
    scored = score_labels(subset, smollm2)
    assert len(scored) == len(subset) and scored["relevance_pmi"].notna().all()
    table = validate_scores(scored)
    assert {"old proxy (originality)", "LM PMI relevance"} <= set(table["score"])
    assert len(table["score"].unique()) == 7 + len(SOFT_CAPS)
    aucs = table[table["check"].str.startswith("ranks")]["value"]
    assert aucs.between(0, 1).all()
    # degenerate ideas are unreadable, so every guarded variant ranks unusual above them
    guarded = table[table["score"].str.startswith("guarded") & (table["check"] == "ranks unusual above degenerate")]
    assert (guarded["value"] > 0.5).all()
