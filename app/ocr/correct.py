"""Post-correction of what an engine read on a menu board. Pure: lines in, lines out.

Rules, in order, per line (one dish per line is kept: lines are never merged or split):

1. Noise: stray frame marks (``|``, ``_``, ``~``, curly quotes read from chalk dust) at either end go, inner
   spaces collapse, and a line with fewer than two letters or digits is dropped.
2. Words: each word is looked up in a small French/English menu vocabulary (:data:`VOCABULARY`). A word that
   matches once its accents are ignored gets the vocabulary's accents back (``creme brulee`` -> ``crème
   brûlée``, ``höte`` -> ``hôte``); a word of six letters or more at one substitution from exactly one vocabulary
   word is replaced by it (``brolée`` -> ``brûlée``); a word in capitals that lost its accented letters
   altogether (``GTEAU``, ``CAF``) gets them back when exactly one vocabulary word fits. Case is kept.
3. Prices: ``8S`` / ``8§`` -> ``8$``; ``$ 24`` -> ``$24``; on a French line, ``21.50 $`` -> ``21,50 $``; a
   price written ``24 $`` stays as written (both are correct French), ``shank$24`` -> ``shank $24``, and
   ``12h``/``12 h`` are left alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache

# Menu words whose spelling (accents above all) an engine gets wrong. Words without accents are here so that a
# near miss (``chowdel``) finds them; a word with accents also teaches its unaccented form.
_VOCABULARY_TEXT = """
à la le les du de des d'un aux au et ou avec sans maison jour menu soir midi semaine dès
aujourd'hui table d'hôte hôte plat plats entrée entrées dessert desserts boisson boissons café thé crème
soupe potage velouté bouillon salade salades poutine tourtière pâté pâtés chinois tarte tartes sucre
sucré sucrée érable gâteau gâteaux carottes carotte pouding chômeur crêpe crêpes brûlée brûlé
jarret agneau bœuf boeuf bourguignon porc poulet canard veau saumon truite doré morue moules frites
fromage fromages cheddar quiche poireaux oignon oignons champignons chanterelles risotto pâtes
lasagne burger hamburger sandwich grillé grillée rôti rôtie braisé braisée fumé fumée épinards
légumes betteraves courge pommes pomme terre purée sauce poivre ail échalotes fines herbes
filet côte côtes côtelettes bavette tartare mijoté ragoût cassoulet confit
fraise fraises framboises bleuets citron chocolat caramel vanille glacée glace sorbet
brunch déjeuner dîner souper fermé ouvert spécial spéciaux nouveau nouvelle
today daily special specials lunch dinner breakfast soup salad onion french chicken beef pork lamb shank
braised grilled roasted fish chips cheese pie pot maple sugar apple crumble lemon tart clam chowder
mushroom sandwich roast coffee cake happy hour fries burger sauce fresh served with and the of
"""
VOCABULARY = _VOCABULARY_TEXT.split()

_STRIP_ENDS = "|_~“”„«»•·*°#=<>[]{}()\\/"
_PRICE_S = re.compile(r"(?<=\d)[S§s](?=\s*$|\s+[^\W\d])")
_DOLLAR_SPACE = re.compile(r"\$\s+(?=\d)")
_GLUED_DOLLAR = re.compile(r"(?<=[^\W\d_])\$(?=\d)")
_FR_DECIMAL = re.compile(r"(?<=\d)\.(?=\d{2}\s*\$)")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def fold(text: str) -> str:
    """Lower case without accents (``Crème`` -> ``creme``, ``Bœuf`` -> ``boeuf``)."""
    text = text.lower().replace("œ", "oe").replace("æ", "ae")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _unique(mapping: dict[str, set[str]]) -> dict[str, str]:
    return {k: next(iter(v)) for k, v in mapping.items() if len(v) == 1}


@cache
def _tables() -> tuple[set[str], dict[str, str], dict[str, str]]:
    words = {w.lower() for w in VOCABULARY}
    by_fold: dict[str, set[str]] = {}
    by_consonant_skeleton: dict[str, set[str]] = {}  # the word with its accented letters removed
    for w in words:
        by_fold.setdefault(fold(w), set()).add(w)
        if w != fold(w):
            skeleton = "".join(c for c in w if c == fold(c))
            by_consonant_skeleton.setdefault(skeleton, set()).add(w)
    # an unaccented word that is a word of its own (e.g. "the") keeps its own spelling
    folded = {f: (w if f not in words else f) for f, w in _unique(by_fold).items()}
    return words, folded, _unique(by_consonant_skeleton)


def _match_case(model: str, word: str) -> str:
    if model.isupper() and len(model) > 1:
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _one_substitution(word: str, words: Iterable[str]) -> str | None:
    """The one vocabulary word at one substitution from ``word``, accents ignored (``uateau`` -> ``gâteau``)."""
    key = fold(word)
    found = {
        w for w in words if len(fold(w)) == len(key) and sum(a != b for a, b in zip(fold(w), key, strict=True)) == 1
    }
    return next(iter(found)) if len(found) == 1 else None


def correct_word(word: str) -> str:
    words, folded, skeletons = _tables()
    low = word.lower()
    if low in words:
        return word
    if (hit := folded.get(fold(word))) is not None:
        return _match_case(word, hit)
    if word.isupper() and (hit := skeletons.get(low)) is not None and len(low) >= 3:
        return _match_case(word, hit)
    if len(low) >= 6 and (hit := _one_substitution(low, words)) is not None:
        return _match_case(word, hit)
    return word


def _is_french(line: str, lang: str | None) -> bool:
    if lang is not None:
        return lang == "fr"
    return bool(re.search(r"\d,\d\d|\d\s*\$$|[éèàùâêîôûç]", line, re.IGNORECASE))


def correct_line(line: str, lang: str | None = None) -> str:
    line = " ".join(line.split()).strip(_STRIP_ENDS + " ").strip()
    line = _WORD.sub(lambda m: correct_word(m.group(0)), line)
    line = _PRICE_S.sub("$", line)
    line = _DOLLAR_SPACE.sub("$", line)
    line = _GLUED_DOLLAR.sub(" $", line)
    if _is_french(line, lang):
        line = _FR_DECIMAL.sub(",", line)
    return line


def correct(lines: Iterable[str], lang: str | None = None) -> list[str]:
    """The lines a menu board says, corrected; empty and noise-only lines dropped."""
    out = []
    for raw in lines:
        line = correct_line(raw, lang)
        if sum(c.isalnum() for c in line) >= 2:
            out.append(line)
    return out
