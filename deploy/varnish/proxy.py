"""Start the reference Varnish (xkey purges) in front of the site, on loopback.

python -m deploy.varnish.proxy --listen 127.0.0.1:6081 --upstream 127.0.0.1:8000
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARNISHD = os.environ.get("VARNISHD", shutil.which("varnishd") or "/usr/sbin/varnishd")


class VarnishProxy:
    def __init__(self, *, listen, upstream, workdir, site_host=None, session_cookie="sessionid"):
        self.listen, self.upstream, self.site_host = listen, upstream, site_host or listen
        self.dir = Path(workdir).resolve()
        self.session_cookie = session_cookie
        self.process = None

    @property
    def url(self):
        return f"http://{self.listen}"

    def backend_settings(self):
        return {
            "varnish": {
                "BACKEND": "skilldacity.edgecache.backends.VarnishXkeyBackend",
                "LOCATION": self.url,
            }
        }

    def render(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        host, port = self.upstream.rsplit(":", 1)
        values = {
            "UPSTREAM_HOST": host,
            "UPSTREAM_PORT": port,
            "SITE_HOST": self.site_host,
            "SESSION_COOKIE": self.session_cookie,
        }
        text = (HERE / "default.vcl.template").read_text()
        for name, value in values.items():
            text = text.replace("{{" + name + "}}", value)
        vcl = self.dir / "default.vcl"
        vcl.write_text(text)
        return vcl

    def argv(self):
        return [
            VARNISHD, "-F", "-j", "none", "-a", self.listen, "-f", str(self.render()),
            "-n", str(self.dir / "instance"), "-s", "malloc,128m",
        ]  # fmt: skip

    def start(self, timeout=20):
        log = open(self.dir.parent / f"{self.dir.name}-varnishd.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.argv(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"varnishd exited ({self.process.returncode})")
            try:
                urllib.request.urlopen(self.url + "/", timeout=1).close()  # noqa: S310
                return self
            except urllib.error.HTTPError:
                return self  # answering, even if the origin is not
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"varnishd not answering on {self.url}")

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:6081")
    parser.add_argument("--upstream", default="127.0.0.1:8000")
    parser.add_argument("--site-host", help="the Host the origin gets (default: --listen)")
    parser.add_argument("--dir", default=str(HERE.parents[1] / ".proxy-varnish"))
    args = parser.parse_args(argv)
    proxy = VarnishProxy(
        listen=args.listen, upstream=args.upstream, site_host=args.site_host, workdir=args.dir
    )
    print(f"export EDGE_CACHE_BACKENDS='{json.dumps(proxy.backend_settings())}'", file=sys.stderr)
    os.execv(VARNISHD, proxy.argv())


if __name__ == "__main__":
    main()
