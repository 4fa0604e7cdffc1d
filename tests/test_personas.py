import json

import pytest

from billy_interp.vectors.personas import (
    PAPER_PERSONAS,
    PersonaError,
    list_personas,
    load_persona,
    load_personas,
    persona_from_dict,
    shared_questions,
)


def test_catalog_has_the_papers_12_personas_with_5_pairs_each():
    assert sorted(PAPER_PERSONAS) == list_personas()
    for name in PAPER_PERSONAS:
        persona = load_persona(name)
        assert len(persona.instruction_pairs) == 5
        assert not set(persona.questions.extract) & set(persona.questions.eval)
        assert persona.system_prompt(0, 1).startswith(persona.role_sentence)
        assert persona.system_prompt(0, -1).startswith("You are a helpful assistant.")


def test_shared_questions_are_the_same_for_every_persona():
    a, b = load_persona("futurist"), load_persona("environmentalist")
    assert a.questions_for("shared", "extract") == b.questions_for("shared", "extract")
    assert a.questions_for("topical", "extract") != b.questions_for("topical", "extract")
    assert not set(shared_questions().split("extract")) & set(shared_questions().split("eval"))


def test_article_in_role_sentence():
    assert load_persona("environmentalist").role_sentence == "You are an environmentalist assistant."
    assert load_persona("futurist").role_sentence == "You are a futurist assistant."


def _valid():
    return load_persona("futurist").to_dict() | {"name": "space_pirate", "role": "space pirate"}


def test_user_persona_file_json_and_yaml(tmp_path):
    import yaml

    (tmp_path / "p.json").write_text(json.dumps(_valid()))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(_valid()))
    assert load_persona(tmp_path / "p.json").name == "space_pirate"
    assert load_persona(str(tmp_path / "p.yaml")).to_dict() == load_persona(tmp_path / "p.json").to_dict()


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda d: d.pop("description"), "missing required field"),
        (lambda d: d.update(instruction_pairs=[]), "instruction_pairs must be a non-empty list"),
        (lambda d: d.update(instruction_pairs=[{"positive": "x"}]), r"instruction_pairs\[0\]"),
        (lambda d: d["questions"].update(extract=[]), "questions.extract must be a non-empty list"),
        (lambda d: d["questions"].update(eval=["a", "a"]), "duplicates"),
        (lambda d: d["questions"].update(eval=[d["questions"]["extract"][0]]), "both extract and eval"),
        (lambda d: d.update(name="Space Pirate"), "name must match"),
    ],
)
def test_validator_names_the_problem(mutate, match):
    data = _valid()
    mutate(data)
    with pytest.raises(PersonaError, match=match):
        persona_from_dict(data)


def test_malformed_file_and_unknown_name(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(PersonaError, match="malformed JSON"):
        load_persona(tmp_path / "bad.json")
    with pytest.raises(PersonaError, match="unknown persona 'pirate'.*futurist"):
        load_persona("pirate")
    with pytest.raises(PersonaError, match="does not exist"):
        load_persona(tmp_path / "missing.json")


def test_duplicate_names_rejected():
    with pytest.raises(PersonaError, match="duplicate persona name"):
        load_personas(["futurist", "futurist"])


def test_unknown_and_misspelt_fields_are_refused_with_the_closest_name():
    import json

    from billy_interp.vectors.personas import PersonaError, load_persona, persona_from_dict

    spec = load_persona("futurist").to_dict()
    with pytest.raises(PersonaError, match="unknown field 'instruction_pair'; did you mean 'instruction_pairs'"):
        persona_from_dict(
            {
                **{k: v for k, v in spec.items() if k != "instruction_pairs"},
                "instruction_pair": spec["instruction_pairs"],
                "instruction_pairs": spec["instruction_pairs"],
            }
        )
    with pytest.raises(PersonaError, match=r"instruction_pairs\[0\]: unknown field 'postive'; did you mean 'positive'"):
        persona_from_dict({**spec, "instruction_pairs": [{"postive": "a", "negative": "b"}]})
    with pytest.raises(PersonaError, match="questions: unknown field 'evaluate'"):
        persona_from_dict({**spec, "questions": {**spec["questions"], "evaluate": ["x"]}})
    assert json.loads(json.dumps(spec)) == persona_from_dict(spec).to_dict()
