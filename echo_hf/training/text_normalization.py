"""Spoken-form English text normalisation for transcripts and WER scoring.

`normalize_text` turns written text into what a speaker would say: lower case, numbers spelled
out ("3rd" -> "third", "$3.50" -> "three dollars and fifty cents", "1984" -> "nineteen eighty four"),
symbols spelled out or dropped, markup and punctuation removed (apostrophes inside words are kept),
whitespace collapsed. The output alphabet is ``[a-z' ]`` only, which is what makes the function
idempotent: a second pass finds no digit, symbol or markup left to rewrite.
"""

from __future__ import annotations

import html
import re
import unicodedata

ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")]
ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
ABBREVIATIONS = {
    "mr": "mister",
    "mrs": "missus",
    "dr": "doctor",
    "prof": "professor",
    "vs": "versus",
    "etc": "et cetera",
    "jr": "junior",
    "sr": "senior",
}
SYMBOLS = {
    "&": " and ",
    "@": " at ",
    "+": " plus ",
    "=": " equals ",
    "%": " percent ",
    "°": " degrees ",
    "#": " number ",
}
CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
}
# Typographic characters that NFKC leaves alone but that mean plain ASCII punctuation here.
TYPOGRAPHY = str.maketrans(
    {"‘": "'", "’": "'", "ʼ": "'", "`": "'", "´": "'", "“": '"', "”": '"', "–": "-", "—": " - ", "…": " "}
)

NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?"


def number_to_words(n: int) -> str:
    """Spell out a non-negative integer: 1234 -> "one thousand two hundred thirty four"."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return TENS[tens] + (" " + ONES[ones] if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return ONES[hundreds] + " hundred" + (" " + number_to_words(rest) if rest else "")
    if n >= 1000 * SCALES[0][0]:
        return digits_to_words(str(n))
    for value, name in SCALES:
        if n >= value:
            head, rest = divmod(n, value)
            return number_to_words(head) + " " + name + (" " + number_to_words(rest) if rest else "")
    raise AssertionError("unreachable")


def ordinal_to_words(n: int) -> str:
    """Spell out an ordinal: 21 -> "twenty first", 100 -> "one hundredth"."""
    words = number_to_words(n).split()
    last = words[-1]
    if last in ORDINAL_WORDS:
        words[-1] = ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_to_words(n: int) -> str:
    """Spell a year the way it is read aloud: 1984 -> "nineteen eighty four", 2005 -> "two thousand five"."""
    century, rest = divmod(n, 100)
    if not 1000 <= n < 10000 or n % 1000 == 0 or 2000 <= n < 2010:
        return number_to_words(n)
    if rest == 0:
        return number_to_words(century) + " hundred"
    if rest < 10:
        return number_to_words(century) + " oh " + ONES[rest]
    return number_to_words(century) + " " + number_to_words(rest)


def digits_to_words(digits: str) -> str:
    """Read a string of digits one by one: "007" -> "zero zero seven"."""
    return " ".join(ONES[int(d)] for d in digits)


def decimal_to_words(text: str) -> str:
    """Spell a written number with optional thousands commas and decimals: "1,000.25"."""
    whole, _, frac = text.replace(",", "").partition(".")
    words = integer_to_words(whole) if whole else ""
    if frac:
        words = (words + " point " + digits_to_words(frac)).strip()
    return words


def integer_to_words(digits: str) -> str:
    # Leading zeros mean a code or an id ("007"), read digit by digit.
    if len(digits) > 1 and digits.startswith("0"):
        return digits_to_words(digits)
    return number_to_words(int(digits))


def _money(match: re.Match) -> str:
    one, many, sub_one, sub_many = CURRENCIES[match.group(1)]
    amount, scale = match.group(2).replace(",", ""), match.group(3)
    if scale:  # "$5 million" is said "five million dollars"
        return f" {decimal_to_words(amount)} {scale} {many} "
    whole, _, cents = amount.partition(".")
    whole_n, cents_n = int(whole or 0), int(cents[:2].ljust(2, "0") or 0)
    parts = []
    if whole_n or not cents_n:
        parts.append(f"{number_to_words(whole_n)} {one if whole_n == 1 else many}")
    if cents_n:
        parts.append(f"{number_to_words(cents_n)} {sub_one if cents_n == 1 else sub_many}")
    return " " + " and ".join(parts) + " "


def _ordinal(match: re.Match) -> str:
    return " " + ordinal_to_words(int(match.group(1))) + " "


def _time(match: re.Match) -> str:
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes == 0:
        return f" {number_to_words(hours)} o'clock "
    if minutes < 10:
        return f" {number_to_words(hours)} oh {ONES[minutes]} "
    return f" {number_to_words(hours)} {number_to_words(minutes)} "


def _year_or_number(match: re.Match) -> str:
    digits = match.group(0)
    value = int(digits)
    if not digits.startswith("0") and 1100 <= value <= 2099:
        return " " + year_to_words(value) + " "
    return " " + integer_to_words(digits) + " "


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def spell_numbers(text: str) -> str:
    """Rewrite money, percentages, ordinals, times, years, decimals and integers as words."""
    text = re.sub(rf"([$£€])\s?({NUMBER}|\.\d+)(?:\s?(thousand|million|billion|trillion)\b)?", _money, text)
    text = re.sub(rf"({NUMBER})\s?%", lambda m: " " + decimal_to_words(m.group(1)) + " percent ", text)
    text = re.sub(r"\b(\d+)(?:st|nd|rd|th)\b", _ordinal, text)
    text = re.sub(r"\b(\d{1,2}):(\d{2})\b", _time, text)
    text = re.sub(r"(?<![\w.])-(?=\d)", " minus ", text)
    text = re.sub(r"\b(\d+)/(\d+)\b", r"\1 over \2", text)
    text = re.sub(r"#(?=\d)", " number ", text)
    text = re.sub(
        r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|(?<!\d)\.\d+", lambda m: " " + decimal_to_words(m.group(0)) + " ", text
    )
    return re.sub(r"\d+", _year_or_number, text)


def normalize_text(text: str) -> str:
    """Return the spoken, lower-case form of `text`, made of ``[a-z' ]`` only; idempotent."""
    text = html.unescape(text)
    text = re.sub(r"<[^>]*>", " ", text)  # markup tags
    text = unicodedata.normalize("NFKC", text).translate(TYPOGRAPHY)
    text = _strip_accents(text).lower()
    text = re.sub(r"\b(" + "|".join(ABBREVIATIONS) + r")\.", lambda m: ABBREVIATIONS[m.group(1)] + " ", text)
    text = spell_numbers(text)
    for symbol, spoken in SYMBOLS.items():
        text = text.replace(symbol, spoken)
    text = re.sub(r"[^a-z' ]+", " ", text)
    # Apostrophes survive only inside words ("don't", "o'clock"); quoting apostrophes go.
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)
    return " ".join(text.split())
