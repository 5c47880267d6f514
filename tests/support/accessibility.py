"""In a browser page: axe-core's serious violations, labels split into columns and
horizontal overflow, at a desktop and a phone width."""

from __future__ import annotations

from typing import Any

WIDTHS = (1280, 375)
SERIOUS = ("serious", "critical")
# A flex or grid label makes each text run and link its own column ("…have read the |
# privacy policy | .").
SPLIT_LABELS = """() => [...document.querySelectorAll('label')].filter(label => {
  const style = getComputedStyle(label);
  const row = style.display.includes('flex') && !style.flexDirection.startsWith('column');
  const columns = style.display.includes('grid') && style.gridTemplateColumns.split(' ').length > 1;
  if (!row && !columns) return false;
  const runs = [...label.childNodes].filter(n => n.nodeType === 3 ? n.textContent.trim()
    : n.nodeType === 1 && !['INPUT', 'SELECT', 'TEXTAREA'].includes(n.tagName));
  return runs.length > 1;
}).map(label => label.textContent.trim().slice(0, 60))"""
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
  .slice(0, 4).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')
    + ' ' + Math.round(e.getBoundingClientRect().right) + 'px')"""


def problems(page: Any) -> list[str]:
    """Serious axe-core violations and horizontal overflow of the page shown."""
    from axe_playwright_python.sync_playwright import Axe

    found = [
        f"{v['id']} ({v['impact']}): {v['help']} — {v['nodes'][0]['target']}"
        for v in Axe().run(page).response["violations"]
        if v["impact"] in SERIOUS
    ]
    found += [f"a label split into columns: {text!r}" for text in page.evaluate(SPLIT_LABELS)]
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if width[0] > width[1]:
        wide = page.evaluate(WIDEST)
        found.append(f"horizontal overflow: {width[0]} px wide in a {width[1]} px window: {wide}")
    return found


def check(page: Any, url: str) -> dict[str, list[str]]:
    """url at every width -> its problems (only those with any), with the console's errors
    (a resource that failed to load, the icon a browser asks every site for among them)."""
    report = {}
    for width in WIDTHS:
        errors: list[str] = []

        def note(message: Any, errors: list[str] = errors) -> None:
            if message.type == "error":
                errors.append(f"console: {message.text} ({message.location.get('url')})")

        page.on("console", note)
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(url)
        page.wait_for_load_state("networkidle")
        page.remove_listener("console", note)
        if found := problems(page) + errors:
            report[f"{url} @ {width}px"] = found
    return report
