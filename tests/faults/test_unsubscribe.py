"""One-click unsubscribes (RFC 8058) posted while a paced campaign is being sent, for the
people next in line: none of them gets the campaign more than a second after the answer."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
import requests

from outreach.config import Settings
from outreach.consent.links import SUBSCRIPTION, unsubscribe_url
from outreach.tokens import read_token
from tests.faults.conftest import SECRET, Echo, Fleet

pytestmark = pytest.mark.faults
PEOPLE = 40
GRACE = 1.0  # seconds a message may still arrive after the unsubscribe was answered
TARGETS = range(3, PEOPLE - 1, 3)  # positions in the sending order of those who leave


def _wait_for_mail(sending: Fleet, address: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not sending.received()[address]:
        assert time.monotonic() < deadline, f"no mail to {address}:\n{sending.explain()}"
        time.sleep(0.01)


def _token_payload(url: str) -> dict[str, object]:
    return read_token(SECRET, SUBSCRIPTION, url.rpartition("/")[2])


@pytest.mark.parametrize("rate", [2, 4])
def test_one_click_unsubscribe_holds_at_rate(
    fleet: Callable[..., Fleet], echo: Echo, rate: int
) -> None:
    sending = fleet(PEOPLE, workers=0, serve=True, OUTREACH_SEND_RATE=str(rate))
    sending.send()
    order = sending.order()
    assert len(order) == PEOPLE
    settings = Settings(secret_key=SECRET, base_url=sending.product.base_url)
    answered: dict[str, float] = {}
    for number, position in enumerate(TARGETS):
        # The one just before (or two before) has its mail: this one is next in line.
        _wait_for_mail(sending, order[position - 1 - number % 2][1])
        time.sleep(number % 4 / (4 * rate))  # at several points of the pacing interval
        contact_id, address = order[position]
        url = unsubscribe_url(settings, contact_id, sending.campaign_id)
        if not answered:  # the URL is the one the mail carries (same signed payload)
            first = sending.sink.arrived(sending.campaign_id)[0]
            carried = re.search(
                r"<(http[^>]+/unsubscribe/[^>]+)>", first.message["List-Unsubscribe"]
            )
            assert carried and _token_payload(carried.group(1))["k"] == sending.campaign_id
        response = requests.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=10)
        answered[address] = time.time()
        assert response.status_code == 200, response.text
        assert _token_payload(url) == {"c": contact_id, "k": sending.campaign_id}
    done = sending.wait_until_sent(PEOPLE / rate + 60)
    after = sorted(  # (seconds after the answer, address) of mail to those who left
        (arrival.wall - answered[arrival.address], arrival.address)
        for arrival in sending.sink.arrived(sending.campaign_id)
        if arrival.address in answered and arrival.wall > answered[arrival.address]
    )
    late = [(delay, address) for delay, address in after if delay > GRACE]
    outcome = sending.outcome(
        f"one-click-unsubscribe-rate-{rate}",
        None,
        optional=set(answered),
        unsubscribed=len(answered),
        after_answer=len(after),
        late=len(late),
        worst=f"+{after[-1][0]:.2f}s" if after else "none",
    )
    echo(outcome.line())
    assert not late, f"{outcome.line()}: mail after the unsubscribe answered: {late}"
    assert done and outcome.lost == 0 and outcome.duplicates == 0, outcome.line()
