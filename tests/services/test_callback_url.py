"""The public address a webhook subscription is made for: https with a real host name or IP."""

import pytest

from services.webhook_subscriptions import callback_url_for


@pytest.mark.parametrize(
    "given",
    ["https://exa mple.com", "https://exa\tmple.com", "https://example.com /x",
     "https://ex_ample.com", "https://-example.com", "https://example-.com",
     "https://exa..mple.com", "https://" + "a" * 64 + ".com", "https://exa\nmple.com",
     "https://exämple.com%00", "https://[::1", "https://999.1.1.1", "https://.example.com"],
)  # fmt: skip
def test_a_host_that_is_no_dns_name_or_ip_address_is_refused(given):
    with pytest.raises(ValueError):
        callback_url_for(given)


@pytest.mark.parametrize(
    ("given", "host"),
    [("https://webinare.example.org", "webinare.example.org"),
     ("https://10.0.0.7:8443", "10.0.0.7:8443"),
     ("https://[2001:db8::1]", "[2001:db8::1]"),
     ("https://localhost", "localhost"),
     ("https://xn--exmple-cua.de", "xn--exmple-cua.de")],
)  # fmt: skip
def test_real_host_names_and_addresses_are_accepted(given, host):
    assert callback_url_for(given) == f"https://{host}/api/infowebinar/webhook"
