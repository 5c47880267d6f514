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


def pixel(url: str) -> str:
    """The open pixel's HTML."""
    return (
        f'<img src="{url}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0" />'
    )
