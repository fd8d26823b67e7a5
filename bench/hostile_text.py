"""Time to decode, classify and extract one hostile mail: a signature line with a long run of
one character (spaces made the old signature patterns quadratic: 20,000 spaces took 16 s).

    .venv/bin/python bench/hostile_text.py [--sizes 5000,20000,50000]

Prints, per run length and character, the milliseconds of one mail through decode → classify →
extract (the pure part of the inbox worker), the best of three.
"""

from __future__ import annotations

import argparse
import time

from bot.mail_in.classify import classify
from bot.mail_in.decode import decode_mail
from bot.mail_in.extract.lead import extract_lead

FILLERS = {"spaces": " ", "letters": "a", "bars": "| ", "commas": ", ", "markup": "*_ "}


def one_mail(filler: str, size: int) -> float:
    body = "Pricing, please.\n\nBest,\nJane Doe\nSales" + filler * (size // len(filler)) + "x\n"
    raw = (
        "From: Jane Doe <jane@acme.io>\r\nTo: leads@localhost\r\nSubject: Pricing\r\n\r\n" + body
    ).encode()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        mail = decode_mail(raw)
        classify(mail)
        extract_lead(mail)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,20000,50000")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    print(f"{'run of':<10}" + "".join(f"{size:>12,}" for size in sizes))
    for name, filler in FILLERS.items():
        cells = "".join(f"{one_mail(filler, size):>10.1f}ms" for size in sizes)
        print(f"{name:<10}{cells}")


if __name__ == "__main__":
    main()
