import math

from billy_interp.scoring.creativity import core_idea, originality_of, score_response, split_ideas


def test_brick_sanity_ordering():
    scores = originality_of("brick", ["build a wall", "doorstop", "grind into pigment", "time capsule weight"])
    assert scores == sorted(scores), scores


def test_split_ideas_formats():
    numbered = "Here you go:\n1. Doorstop\n2) Bookend\n3. Paperweight"
    assert split_ideas(numbered) == ["Doorstop", "Bookend", "Paperweight"]
    bullets = "- **Doorstop**: keeps doors open\n* Bookend\n• Paperweight"
    assert split_ideas(bullets) == ["Doorstop: keeps doors open", "Bookend", "Paperweight"]
    assert split_ideas("Use it as a doorstop. Or grind it up for pigment.") == [
        "Use it as a doorstop.",
        "Or grind it up for pigment.",
    ]
    assert split_ideas("") == []


def test_core_idea_ignores_elaboration():
    assert core_idea("Doorstop: keep a heavy door open on windy days") == "Doorstop"
    assert core_idea("Bookend - hold books upright") == "Bookend"
    long = "Use it " + "very " * 30 + "creatively"
    assert len(core_idea(long).split()) == 12


def test_padding_an_idea_does_not_inflate_originality():
    short = score_response("brick", "1. Doorstop\n2. Bookend")
    padded = score_response(
        "brick",
        "1. Doorstop: a really long explanation about keeping doors open in many rooms\n"
        "2. Bookend - with lots and lots of extra descriptive words about shelves",
    )
    assert abs(short.originality - padded.originality) < 1e-6
    assert padded.elaboration > short.elaboration


def test_fluency_merges_near_duplicates_and_flexibility_counts_clusters():
    s = score_response("brick", "1. Doorstop\n2. doorstop\n3. Doorstop!\n4. Grind into pigment for paint")
    assert s.fluency == 2
    assert 1 <= s.flexibility <= s.fluency
    empty = score_response("brick", "")
    assert empty.fluency == 0 and math.isnan(empty.originality)
