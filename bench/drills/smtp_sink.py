"""An SMTP sink for the drills: accepts every message and appends it to a JSON-lines file.

Runs as its own process so a drill can stop it (the site sees "connection refused", as with a real
mail relay outage) and start it again on the same port; the file keeps what arrived before.

    python -m bench.drills.smtp_sink --port 8625 --store /tmp/sink.jsonl
"""

import argparse
import email
import email.policy
import json
import signal
import threading
import time

from aiosmtpd.controller import Controller


class Recorder:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        html = message.get_body(preferencelist=("html",))
        record = {
            "received_at": time.time(),
            "rcpt_tos": list(envelope.rcpt_tos),
            "to": str(message.get("To", "")),
            "subject": str(message.get("Subject", "")),
            "key": str(message.get("X-Skilldacity-Key", "")),
            "message_id": str(message.get("Message-ID", "")),
            "html": html.get_content() if html is not None else "",
        }
        with self.lock, open(self.path, "a", encoding="utf-8") as store:
            store.write(json.dumps(record) + "\n")
            store.flush()
        return "250 Message accepted for delivery"


def read_store(path):
    try:
        with open(path, encoding="utf-8") as store:
            return [json.loads(line) for line in store if line.strip()]
    except FileNotFoundError:
        return []


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", required=True)
    args = parser.parse_args()
    controller = Controller(Recorder(args.store), hostname="127.0.0.1", port=args.port)
    controller.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    print(f"smtp sink listening on 127.0.0.1:{args.port}", flush=True)
    stopped.wait()
    controller.stop()


if __name__ == "__main__":
    main()
