"""Durability: kill -9 during a stream of messages, restart, and count: every message that got
a 250 must be delivered (at least once)."""
import re
import smtplib
import threading
import time
import unittest

from harness import Gateway, SmtpSink, wait_until

SEQ = re.compile(rb"X-Seq: (\d+)")


class CrashRecoveryTest(unittest.TestCase):
    def test_kill9_during_stream_loses_no_acknowledged_message(self):
        sink = SmtpSink()  # not started yet: every message stays queued until after the crash
        gw = Gateway()
        try:
            gw.add_domain("example.com", sink)
            gw.start()
            acked, lock, stop = set(), threading.Lock(), threading.Event()
            counter = iter(range(1_000_000))

            def sender():
                try:
                    with smtplib.SMTP("127.0.0.1", gw.port, timeout=10) as s:
                        s.ehlo("load.test")
                        for _ in range(10_000):
                            if stop.is_set():
                                return
                            with lock:
                                n = next(counter)
                            body = f"Subject: n{n}\r\nX-Seq: {n}\r\n\r\n".encode() + b"payload line\r\n" * 40
                            s.sendmail("load@sender.org", [f"u{n % 7}@example.com"], body)
                            with lock:
                                acked.add(n)
                except (smtplib.SMTPException, OSError):
                    return  # the gateway was killed under us

            threads = [threading.Thread(target=sender) for _ in range(6)]
            for t in threads:
                t.start()
            wait_until(lambda: len(acked) >= 300, timeout=60, what="300 acknowledged messages")
            gw.kill9()
            stop.set()
            for t in threads:
                t.join(timeout=20)
            with lock:
                acknowledged = set(acked)

            sink.start()
            gw.start()

            def delivered():
                return {int(m.group(1)) for msg in sink.messages() for m in [SEQ.search(msg)] if m}

            wait_until(lambda: acknowledged <= delivered(), timeout=90, interval=0.2,
                       what="every acknowledged message to be delivered after restart")
            got = delivered()
            print(f"\nacknowledged before kill -9: {len(acknowledged)}; delivered after restart: {len(got)}; "
                  f"missing: {len(acknowledged - got)}")
            self.assertEqual(acknowledged - got, set())
            self.assertEqual(gw.stop(), 0)
        finally:
            gw.cleanup()
            sink.cleanup()


if __name__ == "__main__":
    unittest.main()
