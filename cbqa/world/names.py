"""Name lists and generators for the toy world.

Names are built from common English first names, surnames and town-name morphemes, because spaCy's small
English NER model tags such names reliably (PERSON, GPE, ORG); invented letter strings it often misses.
Every generator takes the caller's `random.Random` and a registry of names already used, so the world stays
deterministic and every name is unique across people, places and organisations.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

MALE_FIRST = (
    "Adam Alan Albert Alexander Andrew Anthony Arthur Benjamin Bernard Brian Charles Christopher Colin Daniel "
    "David Dennis Derek Douglas Edward Eric Francis Frank Frederick Gary George Gordon Graham Harold Henry Howard "
    "Hugh Ian Jack James Jeffrey John Jonathan Joseph Kenneth Keith Lawrence Leonard Malcolm Mark Martin Matthew "
    "Michael Neil Nicholas Oliver Patrick Paul Peter Philip Raymond Richard Robert Roger Ronald Samuel Simon "
    "Stephen Stuart Thomas Timothy Victor Walter William"
).split()
FEMALE_FIRST = (
    "Abigail Alice Amanda Amelia Angela Anna Barbara Beatrice Caroline Catherine Charlotte Clara Claire Deborah "
    "Diana Dorothy Eleanor Elizabeth Ellen Emily Emma Evelyn Fiona Florence Frances Grace Hannah Harriet Helen "
    "Irene Isabel Jane Janet Joan Judith Julia Karen Katherine Laura Lillian Louise Lucy Margaret Maria Martha "
    "Mary Natalie Olivia Patricia Pauline Rachel Rebecca Rose Ruth Sarah Sophie Susan Teresa Victoria Vivian "
    "Wendy"
).split()
SURNAMES = (
    "Abbott Atkinson Bailey Barker Barnes Bartlett Bennett Bishop Blackwell Bradley Brennan Brooks Bryant "
    "Burton Caldwell Carpenter Carter Chambers Chapman Clarke Coleman Collins Cooper Crawford Cunningham Davies "
    "Dawson Dixon Doyle Duncan Edwards Elliott Ellis Emerson Fairbanks Fleming Fletcher Forbes Foster Fowler "
    "Fraser Gallagher Gardner Gibson Gilbert Goodwin Graves Griffin Hamilton Hancock Harding Harper Harrison "
    "Hawkins Hayes Henderson Hewitt Holland Holmes Hopkins Howell Hudson Hughes Jenkins Jennings Kelly Kendall "
    "Kennedy Kirby Lambert Lawson Lloyd Lowe Lucas Lynch Marshall Matthews Maxwell McCarthy Mercer Mills "
    "Mitchell Montgomery Morgan Morrison Murphy Nash Newman Nicholson Norris Osborne Palmer Parker Parsons "
    "Patterson Pearson Perkins Phillips Porter Powell Preston Quinn Ramsey Reynolds Richardson Robertson "
    "Russell Sanders Saunders Sawyer Shaw Sheridan Simmons Spencer Stanley Stevens Sullivan Sutton Talbot "
    "Thornton Tucker Turner Vaughan Wallace Walsh Warren Watson Webb Wells Whitaker Wheeler Whitfield Wilkinson "
    "Willis Winslow Woodward Wright Yates"
).split()

# Town names are a prefix plus a suffix, like real English towns ("Ash" + "ford"). Invented names are a
# coin toss for en_core_web_sm (it reads "Castleley" or "Langford" as ORG or PERSON), so cities come from a
# fixed list: the prefix+suffix combinations below that the pipeline tagged GPE in all eight sentence
# frames the corpus uses ("was born in X on ...", "X's birthplace is X.", "headquartered in X.", ...).
# University and company stems may use every combination, since "University of Eastminster" is ORG anyway.
STEM_PREFIXES = (
    "Ash Bar Bel Black Brad Bram Brook Cal Castle Chester Clay Cole Cran Dun East Elm Fair Fern Glen Graves Hal "
    "Hart Hay Holl Kings Lang Lark Lind Mar Mel Mill North Oak Pen Red Ridge Rock Sal Sand South Stan Stone "
    "Thorn Wal West Whit Wick Win Wood"
).split()
STEM_SUFFIXES = (
    "bridge bury by chester dale field ford gate ham hurst ley minster moor mouth stead ton well wick worth"
).split()
CITY_NAMES = tuple(
    (
        "Ashdale Ashhurst Ashwick Barby Bardale Barfield Barford Barley Belfield Belley Belmouth Blackbridge "
        "Blackchester Bradbury Braddale Bradfield Bradford Bradgate Bradmouth Bradworth Bramchester "
        "Bramfield Bramley Brammouth Bramton Brookbridge Brookbury Brookdale Calbridge Calby Caldale Calford "
        "Castledale Castlefield Castleton Castlewell Castlewick Chesterfield Chesterham Chestermouth "
        "Chesterton Chesterwick Chesterworth Claybridge Clayley Claymouth Coledale Colefield Coleford "
        "Coleley Cranfield Cranford Dunbridge Dunbury Dunham Dunley Dunton Eastbury Eastford Eastworth "
        "Elmbridge Elmby Elmfield Elmford Fairbury Fairdale Fairfield Fairham Fairhurst Fernfield Glenby "
        "Glendale Glenford Glenminster Glenton Gravesfield Gravesham Gravesmouth Graveston Halbury Haldale "
        "Halminster Halmouth Halton Halworth Hartbury Hartdale Hartfield Hartford Harthurst Hartmouth "
        "Hartwick Hartworth Haybridge Haygate Hollbridge Hollbury Hollfield Hollford Hollwick Kingsford "
        "Kingshurst Kingsmouth Kingston Langbridge Langmoor Larkfield Larkhurst Larkley Larkwick Linddale "
        "Lindfield Lindford Lindham Lindworth Marbury Marfield Melhurst Millby Northchester Northdale "
        "Northfield Oakfield Oakford Oakgate Oakley Oakton Penfield Penford Pengate Penley Penmoor Penmouth "
        "Redworth Ridgeworth Rockford Rockmouth Rockton Saldale Salfield Salford Salmouth Salwell Sandfield "
        "Sandford Sandham Sandley Southfield Southford Stanby Stanmouth Stonefield Stonewick Thornbridge "
        "Thornby Thorndale Thornfield Thornhurst Thornmouth Thornwick Walby Walley Walmouth Westbridge "
        "Westton Whitham Whitton Whitworth Wickton Winbury Windale Winford Winmouth Winworth Woodford "
        "Woodgate Woodton"
    ).split()
)

# Trades kept from 34 tried: those en_core_web_sm tagged ORG in >= 95% of 300 "{stem} {trade}" mentions
# (employer frames); "Textiles", "Shipping", "Media" names read as FAC or PERSON far too often.
COMPANY_KINDS = (
    "Industries Motors Group Electronics Systems Laboratories Airlines Logistics Steel Dynamics Chemicals "
    "Pharmaceuticals Aerospace Bank Holdings"
).split()

OCCUPATIONS = tuple(
    "architect accountant archaeologist astronomer banker biologist botanist chemist composer dentist economist "
    "editor engineer geologist historian journalist lawyer librarian mathematician meteorologist novelist "
    "pharmacist photographer physician physicist sculptor statistician surveyor translator veterinarian zoologist".split()
)


@dataclass
class NameRegistry:
    """Every name handed out so far, case-folded, so no two entities (of any kind) share a name."""

    used: set[str] = field(default_factory=set)

    def claim(self, name: str) -> bool:
        key = name.casefold()
        if key in self.used:
            return False
        self.used.add(key)
        return True


def _draw_unique(rng: random.Random, registry: NameRegistry, make, what: str, tries: int = 10_000) -> str:
    for _ in range(tries):
        name = make()
        if registry.claim(name):
            return name
    raise ValueError(f"ran out of unique {what} names; ask for fewer entities")


def person_name(rng: random.Random, registry: NameRegistry, gender: str) -> str:
    firsts = MALE_FIRST if gender == "male" else FEMALE_FIRST
    return _draw_unique(rng, registry, lambda: f"{rng.choice(firsts)} {rng.choice(SURNAMES)}", "person")


def city_name(rng: random.Random, registry: NameRegistry) -> str:
    return _draw_unique(rng, registry, lambda: rng.choice(CITY_NAMES), "city")


def _stem(rng: random.Random, registry: NameRegistry) -> str:
    """A town-like stem for an organisation, claimed so that no city shares it (no "Ashford Motors" in Ashford
    giving away its own headquarters)."""
    return _draw_unique(rng, registry, lambda: rng.choice(STEM_PREFIXES) + rng.choice(STEM_SUFFIXES), "stem")


def company_name(rng: random.Random, registry: NameRegistry) -> str:
    """A town-like stem and a trade ("Harrowgate Dynamics"). Never a surname stem: "Gilbert Technologies"
    or "Spencer Textiles" read as PERSON to the NER model most of the time."""
    name = f"{_stem(rng, registry)} {rng.choice(COMPANY_KINDS)}"
    registry.claim(name)  # new by construction: its stem was unclaimed
    return name


def university_name(rng: random.Random, registry: NameRegistry) -> str:
    stem = _stem(rng, registry)
    name = f"University of {stem}" if rng.random() < 0.6 else f"{stem} University"
    registry.claim(name)  # new by construction: its stem was unclaimed
    return name


def capacity(kind: str) -> int:
    """How many distinct names a generator can produce, to reject impossible sizes up front."""
    return {
        "person": min(len(MALE_FIRST), len(FEMALE_FIRST)) * len(SURNAMES),
        "city": len(CITY_NAMES),
        "stem": len(STEM_PREFIXES) * len(STEM_SUFFIXES),
    }[kind]
