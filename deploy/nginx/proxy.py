"""Start the reference caching proxy (nginx) in front of the site, on loopback.

    scripts/proxy --listen 127.0.0.1:8080 --upstream 127.0.0.1:8000

renders nginx.conf.template into a work directory (default .proxy/), runs nginx in the foreground
and prints the EDGE_CACHE_BACKENDS value that makes the site purge it. The bench, the drills and
the integration tests start it through `NginxProxy`.
"""

import argparse
import grp
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NGINX = os.environ.get("NGINX", shutil.which("nginx") or "/usr/sbin/nginx")


class NginxProxy:
    def __init__(
        self,
        *,
        listen,
        upstream,
        workdir,
        site_host=None,
        workers=2,
        session_cookie="sessionid",
        access_log=False,
    ):
        # The Host the origin sees: the address readers use, as a CDN or a proxy named after the
        # site would send it (Django checks a form post's Origin against it).
        self.listen, self.upstream, self.site_host = listen, upstream, site_host or listen
        self.dir = Path(workdir).resolve()
        self.workers, self.session_cookie, self.access_log = workers, session_cookie, access_log
        self.process = None

    @property
    def url(self):
        return f"http://{self.listen}"

    @property
    def conf(self):
        return self.dir / "nginx.conf"

    def backend_settings(self):
        """The EDGE_CACHE_BACKENDS entry that purges this proxy."""
        return {
            "nginx": {
                "BACKEND": "skilldacity.edgecache.backends.NginxGenerationBackend",
                "GENERATION_FILE": str(self.dir / "generation.conf"),
                "PID_FILE": str(self.dir / "nginx.pid"),
            }
        }

    def render(self, daemon=False):
        for sub in ("tmp", "cache", "static"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        generation = self.dir / "generation.conf"
        if not generation.exists():
            generation.write_text(f'set $edge_generation "{time.time_ns()}";\n')
        values = {
            "DIR": str(self.dir),
            "LISTEN": self.listen,
            "UPSTREAM": self.upstream,
            "SITE_HOST": self.site_host,
            "SESSION_COOKIE": self.session_cookie,
            # Workers run as whoever started the proxy, so they can use its work directory.
            "USER": f"{pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name}",
            "WORKERS": str(self.workers),
            "DAEMON": "on" if daemon else "off",
            "ACCESS_LOG": (
                f"{self.dir}/access.log edge buffer=64k flush=100ms" if self.access_log else "off"
            ),
        }
        text = (HERE / "nginx.conf.template").read_text()
        for name, value in values.items():
            text = text.replace("{{" + name + "}}", value)
        self.conf.write_text(text)
        # nginx -t also checks the config it would run, before anything listens.
        subprocess.run(
            [NGINX, "-t", "-q", "-p", str(self.dir), "-c", str(self.conf)],
            check=True,
            capture_output=True,
        )
        return self.conf

    def start(self, timeout=10):
        self.render()
        log = open(self.dir / "nginx.out", "ab")  # noqa: SIM115 - kept open for the process's life
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.dir), "-c", str(self.conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.error_log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_edge/generation", timeout=1):  # noqa: S310
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx not answering on {self.url}: {self.error_log()}")

    def error_log(self):
        path = self.dir / "error.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish requests in flight
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--listen", default=os.environ.get("PROXY_LISTEN", "127.0.0.1:8080"))
    parser.add_argument("--upstream", default=os.environ.get("PROXY_UPSTREAM", "127.0.0.1:8000"))
    parser.add_argument(
        "--site-host",
        default=os.environ.get("PROXY_SITE_HOST"),
        help="the Host header the origin gets, whatever the client sent (in ALLOWED_HOSTS); "
        "default: the --listen address, i.e. the address readers use",
    )
    parser.add_argument("--dir", default=os.environ.get("PROXY_DIR", str(ROOT / ".proxy")))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    proxy = NginxProxy(
        listen=args.listen,
        upstream=args.upstream,
        site_host=args.site_host,
        workdir=args.dir,
        workers=args.workers,
        access_log=args.access_log,
    )
    conf = proxy.render()
    print(f"proxy on {proxy.url} -> {args.upstream} (config {conf})", file=sys.stderr)
    print("for the site and its Celery worker, to purge on change:", file=sys.stderr)
    print(f"  export EDGE_CACHE_BACKENDS='{json.dumps(proxy.backend_settings())}'", file=sys.stderr)
    os.execv(NGINX, [NGINX, "-p", str(proxy.dir), "-c", str(conf)])


if __name__ == "__main__":
    main()
