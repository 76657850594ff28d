"""The Twilio adapter's pure parts: the receipts' signature (Twilio's documented example), what a
receipt means, the form a message is sent as, and the segments we record against the ones the
provider stand-in bills (two implementations written apart)."""

import json
import uuid

import httpx
import pytest

from services.notifications import domain, twilio
from services.notifications.delivery import PermanentRefusal, TemporaryFailure
from services.notifications.repository import StoredNotification
from simulators.gateway.twilio import billed_segments, sign

# The worked example of Twilio's webhook security documentation (auth token 12345).
DOCS_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOCS_FIELDS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675310",
    "Digits": "1234",
    "From": "+14158675310",
    "To": "+18005551212",
}
DOCS_SIGNATURE = "GvWf1cFY/Q7PnoempGyD5oXAezc="


def test_the_signature_is_twilios_documented_one() -> None:
    fields = list(DOCS_FIELDS.items())
    assert twilio.signature("12345", DOCS_URL, fields) == DOCS_SIGNATURE
    assert twilio.signature("12345", DOCS_URL, reversed(fields)) == DOCS_SIGNATURE  # any order
    assert sign("12345", DOCS_URL, DOCS_FIELDS) == DOCS_SIGNATURE  # the stand-in signs alike
    assert twilio.signature_is_valid("12345", DOCS_URL, fields, DOCS_SIGNATURE)
    assert not twilio.signature_is_valid("12345", DOCS_URL, fields, None)
    assert not twilio.signature_is_valid("54321", DOCS_URL, fields, DOCS_SIGNATURE)
    assert not twilio.signature_is_valid("12345", DOCS_URL.replace("https", "http"), fields, DOCS_SIGNATURE)
    assert not twilio.signature_is_valid("12345", DOCS_URL, [*fields[:-1], ("To", "+1")], DOCS_SIGNATURE)


@pytest.mark.parametrize(
    ("status", "final"),
    [
        ("delivered", "delivered"),
        ("read", "delivered"),
        ("undelivered", "failed"),
        ("failed", "failed"),
        ("canceled", "failed"),
        ("sent", None),
        ("queued", None),
        ("sending", None),
        ("DELIVERED", "delivered"),
    ],
)
def test_only_final_receipts_change_a_message(status: str, final: str | None) -> None:
    found = twilio.parse_receipt([("MessageSid", "SM1"), ("MessageStatus", status), ("ErrorCode", "30003")])
    assert (found.status if found else None) == final


@pytest.mark.parametrize(
    "fields",
    [
        [],
        [("MessageStatus", "delivered")],
        [("MessageSid", "SM 1"), ("MessageStatus", "delivered")],
        [("MessageSid", "S" * 65), ("MessageStatus", "delivered")],
        [("MessageSid", "SM1")],
    ],
)
def test_a_receipt_without_a_usable_sid_or_status_is_refused_naming_the_field(
    fields: list[tuple[str, str]],
) -> None:
    with pytest.raises(twilio.ReceiptError, match=r"^Message(Sid|Status):"):
        twilio.parse_receipt(fields)


TEXTS = [
    "",
    "a" * 160,
    "a" * 161,
    "a" * 306,
    "a" * 307,
    "€" * 80,  # extension characters: two septets each
    "€" * 81,
    "a" * 152 + "€",  # the escape pair does not fit the first part's last septet
    "ê" * 70,  # not GSM-7: UCS-2
    "ê" * 71,
    "😀" * 35,  # surrogate pairs: two code units each
    "😀" * 36,
    "a" * 66 + "😀" + "a" * 10,
    "Yth. Bapak/Ibu, kepesertaan BPJS Ketenagakerjaan Anda aktif s.d. 31 Desember 2027. KPJ 23041234567.",
]


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_the_segments_we_record_are_the_ones_the_provider_bills(text: str) -> None:
    assert domain.sms_segments(text) == billed_segments(text)


def test_segment_boundaries() -> None:
    assert [billed_segments("a" * n) for n in (160, 161, 306, 307)] == [1, 2, 2, 3]
    assert [billed_segments("ê" * n) for n in (70, 71, 134, 135)] == [1, 2, 2, 3]
    assert billed_segments("€" * 80) == 1 and billed_segments("€" * 81) == 2


def stored(channel: str, recipient: str = "+6281234567890") -> StoredNotification:
    return StoredNotification(
        1, uuid.uuid4(), "enrollment_confirmed", "worker", channel, recipient, None, "Halo", 1, "k-1"
    )


def gateway(handler: httpx.MockTransport, **changes: str | None) -> twilio.TwilioGateway:
    options: dict[str, str | None] = {
        "api_url": "http://provider.test",
        "account_sid": "AC1",
        "auth_token": "secret-token",
        "sms_from": "+6281100000000",
        "whatsapp_from": "whatsapp:+6281100000001",
        "status_callback_url": "https://muba.example/receipts/twilio",
    } | changes
    return twilio.TwilioGateway(transport=handler, **options)  # type: ignore[arg-type]


async def test_a_message_is_posted_as_twilios_form_with_basic_auth_and_its_sid_kept() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"sid": "SMabc123", "status": "queued", "num_segments": "1"})

    sms, wa = gateway(httpx.MockTransport(answer)), gateway(httpx.MockTransport(answer))
    assert (await sms.send(stored("sms"))).message_id == "SMabc123"
    await wa.send(stored("whatsapp"))
    first, second = (dict(httpx.QueryParams(r.content.decode())) for r in seen)
    assert seen[0].url.path == "/2010-04-01/Accounts/AC1/Messages.json"
    assert (
        seen[0].headers["authorization"].startswith("Basic ") and seen[0].headers["idempotency-key"] == "k-1"
    )
    assert first == {
        "To": "+6281234567890",
        "From": "+6281100000000",
        "Body": "Halo",
        "StatusCallback": "https://muba.example/receipts/twilio",
    }
    assert (second["To"], second["From"]) == ("whatsapp:+6281234567890", "whatsapp:+6281100000001")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, PermanentRefusal),
        (404, PermanentRefusal),
        (401, TemporaryFailure),
        (403, TemporaryFailure),
        (429, TemporaryFailure),
        (500, TemporaryFailure),
        (503, TemporaryFailure),
    ],
)
async def test_what_the_providers_answers_mean(status: int, error: type[Exception]) -> None:
    body = json.dumps(
        {"code": 21211, "message": "The 'To' number +6281234567890 is not valid", "status": status}
    )
    handler = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    with pytest.raises(error):
        await gateway(handler).send(stored("sms"))


async def test_a_channel_without_a_sender_is_refused_for_good() -> None:
    handler = httpx.MockTransport(lambda request: httpx.Response(201, json={"sid": "SM1"}))
    with pytest.raises(PermanentRefusal, match="whatsapp"):
        await gateway(handler, whatsapp_from="").send(stored("whatsapp"))
