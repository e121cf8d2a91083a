"""The client's IP address: the one helper every rate limit and every stored IP goes through.

Behind reverse proxies (nginx in production) REMOTE_ADDR is the nearest proxy, and the client is
in X-Forwarded-For. Only the entries our own proxies appended can be believed: each proxy adds the
address it received the connection from at the right-hand end, while anything further left came
from the client and may be forged. So with TRUSTED_PROXY_COUNT = n (the number of proxies in
front of the site), the client is the n-th entry from the right; with 0 (the default, no proxy)
X-Forwarded-For is ignored altogether.

Whatever the headers say, the answer is a normalised IP address string or None, never the raw
text: junk must not reach an `inet` column (a 500 on PostgreSQL) or split rate-limit buckets.
"""

import ipaddress

from django.conf import settings

# Longer than any address with its separators; an absurdly long header is not parsed at all.
MAX_FORWARDED_LENGTH = 2000


def parse_ip(value):
    """`value` as a normalised IP address string, or None when it is not exactly one address."""
    if not isinstance(value, str) or not value or len(value) > 45:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if getattr(address, "scope_id", None):
        return None  # fe80::1%eth0 names a local interface, not a client
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def trusted_proxy_count():
    return max(0, int(settings.TRUSTED_PROXY_COUNT))


def client_ip(request):
    """The client's IP address as a string, or None when the request does not tell reliably."""
    proxies = trusted_proxy_count()
    if not proxies:
        return parse_ip(request.META.get("REMOTE_ADDR", ""))
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not isinstance(forwarded, str) or len(forwarded) > MAX_FORWARDED_LENGTH:
        return None
    hops = [hop.strip() for hop in forwarded.split(",")]
    if len(hops) < proxies or not forwarded.strip():
        # Fewer hops than proxies: the request skipped a proxy (or one is misconfigured), so the
        # header cannot be trusted; the connecting address is the best we know.
        return parse_ip(request.META.get("REMOTE_ADDR", ""))
    return parse_ip(hops[-proxies])


def rate_limit_key(group, request):
    """django-ratelimit key: one bucket per client, a shared one for clients we cannot place.

    An IPv6 client usually holds a whole /64, so that is one bucket (as django-ratelimit's own
    "ip" key does), or a visitor could step through addresses to dodge the limit.
    """
    ip = client_ip(request)
    if ip is None:
        return "unknown"
    if ":" in ip:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return ip
