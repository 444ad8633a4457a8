"""Files generated from code and committed: write them, or list the ones that drifted."""

from __future__ import annotations

from pathlib import Path


def write(root: Path, files: dict[str, str]) -> list[str]:
    """Write every file whose committed text differs; return their paths."""
    written = []
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
            written.append(path)
    return written


def drift(root: Path, files: dict[str, str]) -> list[str]:
    """Paths whose committed copy differs from what the code generates (or is missing)."""
    return [
        path
        for path, text in files.items()
        if not (root / path).exists() or (root / path).read_text() != text
    ]
