"""Where the shared real-world corpora live (read-only), and how tests list the mails in them."""

from __future__ import annotations

from pathlib import Path

CORPORA: Path = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def mail_files(subdir: str) -> list[Path]:
    """Mails under `CORPORA/mail/<subdir>`, sorted: *.eml and *.txt (not LICENSE.txt), and
    mail-parser's suffix-less `mail_*` files."""
    root = CORPORA / "mail" / subdir
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and not path.name.startswith("LICENSE")
        and (path.suffix in (".eml", ".txt") or (not path.suffix and path.name.startswith("mail_")))
    )
