"""The MJML source of the rendering golden files, and a contact as the renderer reads one."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

GOLDEN = Path(__file__).parents[1] / "rendering" / "golden"
SOURCE = (GOLDEN / "source.mjml").read_text(encoding="utf-8")


def contact(**changes: object) -> SimpleNamespace:
    """Ana, a contact with every field the templates use; `changes` override them."""
    values = dict(
        id=42,
        email="ana@example.org",
        first_name="Ana",
        last_name="García",
        sector="Thinkers",
        organization="Acme",
        language="es",
        attributes={"city": "Madrid"},
    )
    values.update(changes)
    return SimpleNamespace(**values)
