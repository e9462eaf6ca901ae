"""How numbers are written for people: the summary on the terminal and the report.

Kept apart from :mod:`dopplerflow.cli` and the figures so that both word numbers
the same way; it imports nothing.
"""

__all__ = ["tidy"]


def tidy(value, decimals):
    """``value`` rounded to ``decimals`` places, without trailing zeros.

    ``tidy(9.97732, 1)`` is ``"10"``, ``tidy(4.25, 1)`` ``"4.2"``, ``tidy(8.125, 3)``
    ``"8.125"``, ``tidy(-0.04, 1)`` ``"0"``.
    """
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
