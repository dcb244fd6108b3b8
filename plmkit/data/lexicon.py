"""The embedded corpus's words: eight topics, shared words, inflection, and weighted choices.

Written for plmkit. Every open-class word belongs to exactly one word class (a topic's agents,
objects, places, transitive or intransitive verbs, or a shared class), and every inflected form
is distinct from every other form: that is what keeps the grammar (``grammar.py``) unambiguous,
and ``Lexicon.classes_of`` lets the tests check it. Within a class, lemmas are weighted by rank
(Zipf, weight 1/(rank+1)), so frequent words are frequent enough for a small model to learn.

No torch here.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field

__all__ = ["Dist", "Topic", "Lexicon", "DEFAULT_SPEC", "plural", "third_person"]

# ---------------------------------------------------------------------------------------------
# Word lists (singular nouns, base-form verbs), most frequent first.

DEFAULT_SPEC: dict = {
    "topics": {
        "farm": {
            "agents": "farmer cow horse goat hen pig duck donkey rooster shepherd lamb calf",
            "objects": "tractor fence bucket gate saddle plough wagon basket shovel haystack egg apple",
            "places": "barn field meadow orchard stable",
            "verbs_t": "feed milk chase ride carry fix pull wash",
            "verbs_i": "graze wander dig",
        },
        "sea": {
            "agents": "sailor captain fisherman dolphin whale shark seagull crab pirate diver turtle octopus",
            "objects": "boat net anchor rope sail map lantern oar shell compass flag barrel",
            "places": "harbour island beach lighthouse bay",
            "verbs_t": "catch steer haul tie mend spot follow load",
            "verbs_i": "swim dive float",
        },
        "city": {
            "agents": "driver officer banker cyclist musician tourist mayor shopkeeper waiter artist builder clerk",
            "objects": "car bus bicycle ticket umbrella newspaper camera wallet phone taxi sign key",
            "places": "station street square market museum",
            "verbs_t": "drive park buy sell paint photograph visit call",
            "verbs_i": "hurry shop queue",
        },
        "school": {
            "agents": "teacher student pupil headmaster librarian tutor janitor coach classmate principal dean poet",
            "objects": "book pencil desk notebook lesson exam ruler backpack poem letter chart eraser",
            "places": "classroom library hall playground gym",
            "verbs_t": "read write teach study grade borrow copy explain",
            "verbs_i": "learn listen sing",
        },
        "kitchen": {
            "agents": "cook chef baker butcher guest grandmother kitten mouse housekeeper butler waitress niece",
            "objects": "pot pan knife spoon plate cup oven kettle cake loaf bowl recipe",
            "places": "kitchen pantry bakery cellar restaurant",
            "verbs_t": "stir boil slice taste serve peel heat pour",
            "verbs_i": "nap eat snore",
        },
        "forest": {
            "agents": "hunter wolf fox bear owl squirrel woodcutter hiker ranger rabbit badger hedgehog",
            "objects": "tree branch log leaf mushroom acorn axe trap nest stone tent torch",
            "places": "forest valley cave river hill",
            "verbs_t": "hunt climb cut gather hide track watch burn",
            "verbs_i": "howl roam hibernate",
        },
        "hospital": {
            "agents": "doctor nurse patient surgeon dentist paramedic pharmacist therapist midwife porter intern medic",
            "objects": "bandage pill needle bed stretcher mask syringe thermometer blanket wheelchair medicine report",
            "places": "ward clinic hospital pharmacy corridor",
            "verbs_t": "examine treat heal check measure inject wake weigh",
            "verbs_i": "recover cough faint",
        },
        "space": {
            "agents": "astronaut pilot engineer robot alien commander scientist cosmonaut navigator technician martian android",
            "objects": "rocket satellite planet star helmet antenna engine comet telescope capsule battery signal",
            "places": "moon orbit crater hangar laboratory",
            "verbs_t": "launch repair build scan test control observe fuel",
            "verbs_i": "drift hover glow",
        },
    },
    "shared": {
        "general_agents": "man woman child boy girl friend neighbour stranger family baby",
        "emotion_positive": "love like admire trust enjoy",
        "emotion_negative": "hate fear dislike blame avoid",
        "verbs_i": "sleep wait work play smile laugh cry sit",
        "adj_positive": "happy kind proud calm brave cheerful clever gentle lucky friendly",
        "adj_negative": "sad angry lazy rude nervous tired lonely grumpy cruel scared",
        "adj_descriptive": "big small old new red blue green heavy tall quiet wooden dark",
        "adverbs": "today later then sometimes often usually",
        "prepositions": "in near behind beside",
        "det_singular": "the this my every",
        "det_plural": "the these my some",
    },
}

_IRREGULAR_PLURALS = {
    "man": "men", "woman": "women", "child": "children", "fisherman": "fishermen", "mouse": "mice",
    "wolf": "wolves", "leaf": "leaves", "loaf": "loaves", "calf": "calves", "midwife": "midwives",
    "knife": "knives",
}


def _sibilant_or_y(word: str, suffix: str) -> str:
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + suffix


def plural(noun: str) -> str:
    """English plural of one of the lexicon's nouns."""
    return _IRREGULAR_PLURALS.get(noun) or _sibilant_or_y(noun, "s")


def third_person(verb: str) -> str:
    """Third person singular present of a base-form verb (``feed`` -> ``feeds``)."""
    return _sibilant_or_y(verb, "s")


# ---------------------------------------------------------------------------------------------
# Weighted choices


@dataclass(frozen=True)
class Dist:
    """A categorical distribution over ``options``: cumulative weights for sampling, log-probs."""

    options: tuple
    cum: tuple[float, ...]  # cumulative probabilities, last one 1.0
    logp: tuple[float, ...]  # natural log-probability of each option
    _without: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, options, weights) -> "Dist":
        total = float(sum(weights))
        probs = [w / total for w in weights]
        cum, acc = [], 0.0
        for p in probs:
            acc += p
            cum.append(acc)
        cum[-1] = 1.0
        return cls(tuple(options), tuple(cum), tuple(math.log(p) for p in probs))

    @classmethod
    def zipf(cls, options) -> "Dist":
        """Weight 1/(rank+1): the first option most frequent."""
        return cls.of(options, [1.0 / (r + 1) for r in range(len(options))])

    def sample(self, u: float) -> int:
        """Index of the option for a uniform draw ``u`` in [0, 1)."""
        return min(bisect_right(self.cum, u), len(self.options) - 1)

    def without(self, option) -> "Dist":
        """The same distribution with one option removed and the rest renormalised (cached)."""
        if option not in self._without:
            keep = [i for i, o in enumerate(self.options) if o != option]
            self._without[option] = Dist.of([self.options[i] for i in keep],
                                            [math.exp(self.logp[i]) for i in keep])
        return self._without[option]


# ---------------------------------------------------------------------------------------------
# The lexicon


@dataclass(frozen=True)
class Topic:
    """One topic's word classes as distributions over lemmas."""

    name: str
    agents: Dist  # animate nouns: subjects, protagonists
    objects: Dist  # inanimate nouns
    places: Dist  # nouns after a preposition
    verbs_t: Dist  # transitive verbs (base form)
    verbs_i: Dist  # intransitive verbs (base form)


class Lexicon:
    """All word classes of the corpus; ``Lexicon()`` is the default, ``Lexicon(spec)`` a custom one."""

    def __init__(self, spec: dict | None = None):
        spec = spec or DEFAULT_SPEC
        words = {t: {k: v.split() for k, v in d.items()} for t, d in spec["topics"].items()}
        self.topics = {name: Topic(name, *(Dist.zipf(d[k]) for k in
                                           ("agents", "objects", "places", "verbs_t", "verbs_i")))
                       for name, d in words.items()}
        self.topic_names = tuple(words)
        self.topic_distribution = Dist.of(self.topic_names, [1.0] * len(self.topic_names))
        s = {k: v.split() for k, v in spec["shared"].items()}
        self.shared = s
        self.general_agents = Dist.zipf(s["general_agents"])
        emotion = s["emotion_positive"] + s["emotion_negative"]
        self.emotion_verbs = Dist.zipf(emotion)
        self.polarity = {v: +1 for v in s["emotion_positive"] + s["adj_positive"]}
        self.polarity.update({v: -1 for v in s["emotion_negative"] + s["adj_negative"]})
        self.shared_verbs_i = Dist.zipf(s["verbs_i"])
        self.sentiment_adjectives = Dist.zipf(s["adj_positive"] + s["adj_negative"])
        self.descriptive_adjectives = Dist.zipf(s["adj_descriptive"])
        self.adverbs = Dist.of(["", *s["adverbs"]], [0.85 * len(s["adverbs"])] + [0.15] * len(s["adverbs"]))
        self.prepositions = Dist.zipf(s["prepositions"])
        self.determiners = {"sg": Dist.of(s["det_singular"], [0.55, 0.15, 0.15, 0.15][: len(s["det_singular"])]),
                            "pl": Dist.of(s["det_plural"], [0.55, 0.15, 0.15, 0.15][: len(s["det_plural"])])}
        self._forms = self._inflect()

    def _inflect(self) -> dict[tuple[str, str], str]:
        """(lemma, form) -> word, form in {"sg", "pl"} for nouns and {"3sg", "base"} for verbs."""
        forms: dict[tuple[str, str], str] = {}
        for noun in self._nouns():
            forms[(noun, "sg")], forms[(noun, "pl")] = noun, plural(noun)
        for verb in self._verbs():
            forms[(verb, "3sg")], forms[(verb, "base")] = third_person(verb), verb
        return forms

    def _nouns(self) -> list[str]:
        out = list(self.general_agents.options)
        for t in self.topics.values():
            out += list(t.agents.options) + list(t.objects.options) + list(t.places.options)
        return out

    def _verbs(self) -> list[str]:
        out = list(self.emotion_verbs.options) + list(self.shared_verbs_i.options)
        for t in self.topics.values():
            out += list(t.verbs_t.options) + list(t.verbs_i.options)
        return out

    def noun(self, lemma: str, number: str) -> str:
        return self._forms[(lemma, number)]

    def verb(self, lemma: str, number: str) -> str:
        """The verb form agreeing with a subject of ``number`` ("sg" -> 3sg, "pl" -> base)."""
        return self._forms[(lemma, "3sg" if number == "sg" else "base")]

    def classes_of(self) -> dict[str, set[str]]:
        """word -> the word classes it belongs to (a class is e.g. "farm.agents.pl"); for tests."""
        out: dict[str, set[str]] = {}

        def add(word, cls):
            out.setdefault(word, set()).add(cls)

        for name, t in self.topics.items():
            for kind in ("agents", "objects", "places"):
                for lemma in getattr(t, kind).options:
                    add(self.noun(lemma, "sg"), f"{name}.{kind}.sg")
                    add(self.noun(lemma, "pl"), f"{name}.{kind}.pl")
            for kind in ("verbs_t", "verbs_i"):
                for lemma in getattr(t, kind).options:
                    add(self.verb(lemma, "sg"), f"{name}.{kind}.3sg")
                    add(self.verb(lemma, "pl"), f"{name}.{kind}.base")
        for lemma in self.general_agents.options:
            add(self.noun(lemma, "sg"), "general_agents.sg")
            add(self.noun(lemma, "pl"), "general_agents.pl")
        for cls, dist in (("emotion", self.emotion_verbs), ("shared_verbs_i", self.shared_verbs_i)):
            for lemma in dist.options:
                add(self.verb(lemma, "sg"), f"{cls}.3sg")
                add(self.verb(lemma, "pl"), f"{cls}.base")
        for cls in ("adj_positive", "adj_negative", "adj_descriptive", "adverbs", "prepositions"):
            for word in self.shared[cls]:
                add(word, cls)
        for word in set(self.shared["det_singular"] + self.shared["det_plural"]):
            add(word, "determiner")
        for word, cls in (("is", "cop"), ("are", "cop"), ("does", "aux"), ("do", "aux"),
                          ("not", "not"), ("very", "very"), ("that", "that"), (".", "punct")):
            add(word, cls)
        return out

    def vocabulary(self) -> set[str]:
        """Every word the generator can produce."""
        return set(self.classes_of())
