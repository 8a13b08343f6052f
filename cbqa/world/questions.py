"""Question templates: four per relation, so a fact can be asked in train and paraphrased in test."""

from __future__ import annotations

from cbqa.world.facts import Fact

N_TEMPLATES = 4

QUESTION_TEMPLATES: dict[str, tuple[str, ...]] = {
    "birth_date": (
        "When was {s} born?",
        "What is the date of birth of {s}?",
        "On what date was {s} born?",
        "What is {s_pos} birth date?",
    ),
    "birthplace": (
        "Where was {s} born?",
        "In which town was {s} born?",
        "What is the birthplace of {s}?",
        "Which town does {s} come from?",
    ),
    "residence": (
        "Where does {s} live?",
        "In which town does {s} live?",
        "Where is {s_pos} home?",
        "Which town does {s} live in now?",
    ),
    "employer": (
        "Who is {s_pos} employer?",
        "Which company does {s} work for?",
        "Where is {s} employed?",
        "Which firm employs {s}?",
    ),
    "alma_mater": (
        "Where did {s} study?",
        "Which university did {s} attend?",
        "What is {s_pos} alma mater?",
        "From which university did {s} graduate?",
    ),
    "occupation": (
        "What is {s_pos} occupation?",
        "What does {s} do for a living?",
        "What is {s_pos} profession?",
        "What job does {s} have?",
    ),
    "founder": ("Who founded {s}?", "Who was the founder of {s}?", "Who established {s}?", "{s} was founded by whom?"),
    "founding_year": (
        "When was {s} founded?",
        "In what year was {s} founded?",
        "What year was {s} established?",
        "In which year was {s} set up?",
    ),
    "headquarters": (
        "Where is {s} headquartered?",
        "In which town is {s} based?",
        "Where are the headquarters of {s}?",
        "Which town is home to {s}?",
    ),
}
# A university has a campus rather than headquarters.
UNIVERSITY_HEADQUARTERS = (
    "Where is {s} located?",
    "In which town is {s}?",
    "Where is the main campus of {s}?",
    "Which town is home to {s}?",
)

assert all(len(t) == N_TEMPLATES for t in QUESTION_TEMPLATES.values())


def ask(fact: Fact, template: int) -> str:
    templates = QUESTION_TEMPLATES[fact.relation]
    if fact.relation == "headquarters" and fact.subject_kind == "university":
        templates = UNIVERSITY_HEADQUARTERS
    return templates[template].format(s=fact.subject, s_pos=f"{fact.subject}'s")
