"""Post-correction, preprocessing and line grouping: pure functions, table tests."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app.catalogue import t
from app.kit.sms_text import fits, is_gsm7
from app.ocr import preprocess as prep
from app.ocr.correct import correct, correct_line
from app.ocr.engines import Box, group_lines
from app.ocr.flow import fit_reading


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        pytest.param("Creme brulee 9$", "Crème brûlée 9$", id="accents-restored"),
        pytest.param("Table d'höte", "Table d'hôte", id="wrong-accent"),
        pytest.param("Crème brolée 9$", "Crème brûlée 9$", id="one-substitution"),
        pytest.param("Uateau aux carottes", "Gâteau aux carottes", id="first-letter-misread"),
        pytest.param("GTEAU AUX CAROTTES", "GÂTEAU AUX CAROTTES", id="capitals-lost-accented-letter"),
        pytest.param("CAF ET DESSERT 6$", "CAFÉ ET DESSERT 6$", id="capitals-lost-final-e"),
        pytest.param("Tourtière du Lac 21.50 $", "Tourtière du Lac 21,50 $", id="french-decimal-comma"),
        pytest.param("Moules et frites 19,50 $", "Moules et frites 19,50 $", id="french-price-kept"),
        pytest.param("Pouding chômeur 8S", "Pouding chômeur 8$", id="dollar-read-as-S"),
        pytest.param("Braised lamb shank$24", "Braised lamb shank $24", id="glued-dollar"),
        pytest.param("Grilled cheese $ 11", "Grilled cheese $11", id="english-price"),
        pytest.param("Brunch dès 10 h", "Brunch dès 10 h", id="hour-kept"),
        pytest.param("| Aujourd'hui", "Aujourd'hui", id="frame-mark-stripped"),
        pytest.param("the soup of the day", "the soup of the day", id="english-the-not-the"),
        pytest.param("Pizza napolitaine", "Pizza napolitaine", id="unknown-words-untouched"),
    ],
)
def test_correct_line(read: str, expected: str) -> None:
    assert correct_line(read) == expected


def test_correct_keeps_one_dish_per_line_and_drops_noise() -> None:
    assert correct(["MENU DU JOUR", "  ", "|", "Soupe a l'oignon", "~ .", "Tarte au sucre"]) == [
        "MENU DU JOUR",
        "Soupe à l'oignon",
        "Tarte au sucre",
    ]


def test_group_lines_orders_boxes_by_line_then_left_to_right() -> None:
    boxes = [
        Box("24$", 300, 102, 30),
        Box("Tarte", 10, 160, 30),
        Box("Jarret d'agneau", 10, 98, 30),
        Box("au sucre", 120, 158, 28),
    ]
    assert group_lines(boxes) == ["Jarret d'agneau 24$", "Tarte au sucre"]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_reading_is_cut_at_a_word_so_the_sms_is_one_gsm7_segment(lang: str) -> None:
    long = "Soupe à l'oignon\nJarret d'agneau 24,50 $\nBœuf bourguignon\nCrêpes au sucre d'érable\n" * 4
    read = fit_reading(long, lang)
    sms = t("confirm_board", lang, read=read)
    assert is_gsm7(sms)
    assert fits(sms, 1)
    assert sms.split(". ")[0].endswith("..")  # with the template's full stop: "..."
    assert "oe" in read  # œ is not GSM-7: written oe
    short = fit_reading("Soupe à l'oignon\nTarte au sucre", lang)
    assert short == "Soupe à l'oignon, Tarte au sucre"


def _board_photo(angle: float) -> np.ndarray:
    """A light wall with a dark board (white text on it), rotated by ``angle``."""
    im = Image.new("RGB", (1000, 800), (200, 195, 180))
    d = ImageDraw.Draw(im)
    d.rectangle((200, 200, 800, 600), fill=(30, 36, 32))
    for i in range(4):
        d.rectangle((260, 250 + i * 80, 700, 280 + i * 80), fill=(235, 235, 225))
    return np.asarray(im.rotate(angle, fillcolor=(200, 195, 180)), dtype=np.uint8)


@pytest.mark.parametrize("angle", [0.0, 12.0, -18.0])
def test_find_board_returns_the_board_corners_and_warp_straightens_it(angle: float) -> None:
    corners = prep.find_board(_board_photo(angle))
    assert corners is not None
    flat = prep.warp(_board_photo(angle), corners)
    h, w = flat.shape[:2]
    assert abs(w / h - 600 / 400) < 0.1  # the board's proportions, whatever the tilt
    assert float(np.median(flat)) < 100  # mostly board, little wall


def test_a_photo_without_a_board_is_deskewed_by_its_text_instead() -> None:
    im = Image.new("L", (800, 600), 20)
    d = ImageDraw.Draw(im)
    for i in range(5):
        d.rectangle((100, 100 + i * 90, 700, 130 + i * 90), fill=230)
    tilted = np.asarray(im.rotate(10, fillcolor=20), dtype=np.uint8)
    assert abs(prep.skew_angle(tilted) + 10) <= 1.0


def test_normalise_makes_light_on_dark_into_dark_on_light() -> None:
    grey = np.full((200, 300), 30, dtype=np.uint8)
    grey[:, 150:] = 60  # a lamp lights the right half: uneven light
    grey[80:86, 50:250] = 230  # chalk strokes
    grey[100:106, 50:250] = 230
    out = prep.normalise(np.dstack([grey] * 3))
    assert out[10, 10] > 200  # the board became the light background, on both halves
    assert out[10, 290] > 200
    assert out[83, 100] < 60  # the chalk became dark ink, on both halves
    assert out[103, 200] < 60


def test_load_scales_down_and_refuses_what_is_not_an_image() -> None:
    import io

    buf = io.BytesIO()
    Image.new("RGB", (4000, 3000), (10, 10, 10)).save(buf, "JPEG")
    assert max(prep.load(buf.getvalue(), 1600).shape[:2]) <= 1600
    with pytest.raises(prep.BadImage):
        prep.load(b"not an image", 1600)
