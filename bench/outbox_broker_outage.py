"""How long does publishing an e-mail task block when Redis is refused, black-holed or hung?

Uses a private redis-server on a free port (never the shared one) and the site's Celery
settings; prints the wait of one publish in each state (the outbox then leaves the row to the
sweep, and the process stops trying for OUTBOX_PUBLISH_PAUSE_SECONDS).

    .venv/bin/python bench/outbox_broker_outage.py
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main():
    port = free_port()
    os.environ["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{port}/0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "skilldacity.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from skilldacity.outbox.tasks import send_email

    def redis_server():
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        return process

    def publish(label):
        started = time.monotonic()
        try:
            send_email.apply_async((0,))
            outcome = "published"
        except Exception as exc:  # noqa: BLE001 - the outcome is what we measure
            outcome = type(exc).__name__
        print(f"{label:<34} {time.monotonic() - started:5.2f} s  {outcome}", flush=True)

    server = redis_server()
    black_hole = []
    try:
        publish("Redis up")
        server.send_signal(signal.SIGSTOP)
        publish("hung (SIGSTOP), pooled connection")
        publish("hung (SIGSTOP), again")
        server.send_signal(signal.SIGCONT)
        server.terminate()
        server.wait()
        publish("refused (stopped)")
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(0)
        black_hole.append(listener)
        for _ in range(3):  # fill the accept queue: from now on the kernel drops every SYN
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            black_hole.append(filler)
        publish("black-holed (SYN dropped)")
        for sock in black_hole:
            sock.close()
        black_hole.clear()
        server = redis_server()
        publish("Redis back")
        with send_email.app.connection_for_write() as conn:
            conn.default_channel.queue_purge(send_email.app.conf.task_default_queue)
    finally:
        for sock in black_hole:
            sock.close()
        if server.poll() is None:
            server.send_signal(signal.SIGCONT)
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
