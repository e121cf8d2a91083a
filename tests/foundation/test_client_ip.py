"""One helper decides a request's client IP (skilldacity/clientip.py)."""

import pytest
from django.test import RequestFactory

from skilldacity.clientip import client_ip, rate_limit_key


def request(remote="127.0.0.1", forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().post("/contact/", **extra)


def test_without_a_trusted_proxy_the_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request("198.51.100.4", "203.0.113.5")) == "198.51.100.4"


@pytest.mark.parametrize("remote", ["", "unix:/run/gunicorn.sock", "junk", "1.2.3.4:80"])
def test_a_connecting_address_that_is_not_an_ip_gives_none(settings, remote):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request(remote)) is None
    assert rate_limit_key("g", request(remote)) == "unknown"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (1, "10.0.0.1, 203.0.113.5", "203.0.113.5"),
        (2, "10.0.0.1, 203.0.113.5, 192.0.2.10", "203.0.113.5"),
        (2, "203.0.113.5", "127.0.0.1"),  # a proxy was skipped: fall back to the connection
    ],
)
def test_behind_proxies_the_client_is_the_entry_our_first_proxy_appended(
    settings, proxies, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    assert client_ip(request(forwarded=forwarded)) == expected


def test_ipv6_clients_share_a_rate_limit_bucket_per_64(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    one = rate_limit_key("g", request("2001:db8:1:2::1"))
    other = rate_limit_key("g", request("2001:db8:1:2:ffff::9"))
    assert one == other == "2001:db8:1:2::/64"
