"""Fast, pure-python checks of the spoken-form text normaliser."""

import pytest

from echo_hf.training.text_normalization import normalize_text, number_to_words, ordinal_to_words, year_to_words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (40, "forty"),
        (99, "ninety nine"),
        (100, "one hundred"),
        (305, "three hundred five"),
        (1000, "one thousand"),
        (1234, "one thousand two hundred thirty four"),
        (2_000_001, "two million one"),
        (7_000_000_000, "seven billion"),
    ],
)
def test_number_to_words(n, words):
    assert number_to_words(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1, "first"),
        (2, "second"),
        (3, "third"),
        (12, "twelfth"),
        (20, "twentieth"),
        (21, "twenty first"),
        (100, "one hundredth"),
        (105, "one hundred fifth"),
    ],
)
def test_ordinal_to_words(n, words):
    assert ordinal_to_words(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1984, "nineteen eighty four"),
        (1900, "nineteen hundred"),
        (1905, "nineteen oh five"),
        (2000, "two thousand"),
        (2007, "two thousand seven"),
        (2024, "twenty twenty four"),
    ],
)
def test_year_to_words(n, words):
    assert year_to_words(n) == words


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Hello, World!", "hello world"),
        ("The 3rd of May, 1984.", "the third of may nineteen eighty four"),
        ("It costs $3.50.", "it costs three dollars and fifty cents"),
        ("$1 or $0.99", "one dollar or ninety nine cents"),
        ("$5 million", "five million dollars"),
        ("50% off", "fifty percent off"),
        ("2.5%", "two point five percent"),
        ("pi is 3.14", "pi is three point one four"),
        ("1,234 people", "one thousand two hundred thirty four people"),
        ("Tom & Jerry", "tom and jerry"),
        ("meet at 10:30", "meet at ten thirty"),
        ("at 9:00", "at nine o'clock"),
        ("agent 007", "agent zero zero seven"),
        ("-5 degrees", "minus five degrees"),
        ("<i>markup</i> &amp; entities", "markup and entities"),
        ("Don't say 'hello'", "don't say hello"),
        ("rock 'n' roll", "rock n roll"),
        ("“Curly” quotes — and dashes–too", "curly quotes and dashes too"),
        ("Café naïve", "cafe naive"),
        ("Mr. Smith vs. Dr. Jones", "mister smith versus doctor jones"),
        ("  lots \n of\t space  ", "lots of space"),
        ("!!! ... ???", ""),
    ],
)
def test_examples(text, spoken):
    assert normalize_text(text) == spoken


@pytest.mark.parametrize(
    "text",
    [
        "The 21st-century's $1,000,000.75 question: 33.3% of #1 fans' 1/2 votes @ 12:05!",
        "O'Neill's 'quoted' words -- and 'tis ''odd'' ' isn't it?",
        "Mixed mp3 x86_64 covid-19 <a href='x'>link</a> &lt;tag&gt;",
        "ÀÉÎÕÜ ß œ æ 1e10 0.0 .5 00 2099 1099 10000000000000000",
    ],
)
def test_idempotent_and_alphabet(text):
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert set(once) <= set("abcdefghijklmnopqrstuvwxyz' ")
    assert "  " not in once and once == once.strip()


def test_deterministic():
    text = "On 4th July 1776, 56 men signed for $2."
    assert normalize_text(text) == normalize_text(text)
    assert normalize_text(text) == "on fourth july seventeen seventy six fifty six men signed for two dollars"
