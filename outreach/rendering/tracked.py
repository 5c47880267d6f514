"""The HTML of a tracked message: links through the click redirect, the open pixel. The
signed URLs themselves are tracking's (outreach.tracking.links); this only places them."""

from __future__ import annotations

import re
from collections.abc import Callable

_HREF = re.compile(r'(<a\b[^>]*?\bhref=")(https?://[^"]+)(")', re.I)


def rewrite_links(html: str, make_url: Callable[[str], str], keep: tuple[str, ...]) -> str:
    """Point every http(s) link through the click redirect, except those starting with
    one of `keep` (unsubscribe and preferences links stay direct)."""

    def swap(match: re.Match[str]) -> str:
        target = match.group(2).replace("&amp;", "&")
        if target.startswith(keep):
            return match.group(0)
        return f"{match.group(1)}{make_url(target)}{match.group(3)}"

    return _HREF.sub(swap, html)


LINK = "__outreach_link"  # the tracked template's call for its n-th link
PIXEL = "__outreach_pixel"  # and its open pixel (empty without open tracking)
_BODY_END = re.compile(r"</body>", re.I)


def track_source(source: str) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    """A variant's HTML template with its links and pixel as calls, so that a tracked
    message is rendered like any other (its static parts encoded once per variant):
    (template, each link's target, each link as written). None when a link's address is
    itself a template expression (such links are rewritten in each rendered message)."""
    targets: list[str] = []
    written: list[str] = []
    dynamic = False

    def swap(match: re.Match[str]) -> str:
        nonlocal dynamic
        address = match.group(2)
        if "{{" in address or "{%" in address:
            dynamic = True
            return match.group(0)
        targets.append(address.replace("&amp;", "&"))
        written.append(address)
        return f"{match.group(1)}{{{{ {LINK}({len(targets) - 1}) }}}}{match.group(3)}"

    tracked = _HREF.sub(swap, source)
    if dynamic:
        return None
    ends = list(_BODY_END.finditer(tracked))
    at = ends[-1].start() if ends else len(tracked)
    tracked = f"{tracked[:at]}{{{{ {PIXEL} }}}}{tracked[at:]}"
    return tracked, tuple(targets), tuple(written)


def pixel(url: str) -> str:
    """The open pixel's HTML."""
    return (
        f'<img src="{url}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0" />'
    )
