class CacheTagMiddleware:
    """Cloudflare reads a page's tags from `Cache-Tag` (comma-separated), Fastly and our Varnish
    from `Surrogate-Key` (space-separated): the views set the latter, this copies it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        keys = response.get("Surrogate-Key")
        if keys and not response.has_header("Cache-Tag"):
            response["Cache-Tag"] = ",".join(keys.split())
        return response
