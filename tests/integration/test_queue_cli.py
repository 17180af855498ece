"""Queue management from the CLI: list, show, retry, delete, bounce — through the running
gateway's control socket, and directly on the spool when the gateway is stopped."""
import re
import smtplib
import unittest

from harness import Gateway, SmtpSink, wait_until

QID = re.compile(r"queued as ([0-9a-f]{16})")


class QueueCliTest(unittest.TestCase):
    def setUp(self):
        self.sink = SmtpSink()  # downstream is down: messages stay queued
        self.gw = Gateway()
        self.gw.add_domain("example.com", self.sink)
        self.gw.cli("config", "set", "delivery.retry_max", "120")
        self.gw.cli("config", "set", "delivery.retry_min", "60")
        self.gw.start()

    def tearDown(self):
        self.gw.cleanup()
        self.sink.cleanup()

    def send(self, rcpt):
        with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=10) as s:
            s.ehlo("c.test")
            s.mail("a@sender.org")
            s.rcpt(rcpt)
            code, text = s.data(b"Subject: q\r\n\r\nqueued\r\n")
            self.assertEqual(code, 250)
            return QID.search(text.decode()).group(1)

    def test_list_show_retry_delete_bounce(self):
        qid = self.send("one@example.com")
        wait_until(lambda: f"{qid}: deferred" in self.gw.output(), what="first attempt to fail")
        out = self.gw.cli("queue", "list").stdout
        self.assertIn(qid, out)
        self.assertIn("<a@sender.org>", out)
        show = self.gw.cli("queue", "show", qid).stdout
        self.assertIn("rcpt: <one@example.com> status=pending attempts=1", show)
        self.assertIn("451 4.4.1", show)

        self.sink.start()
        self.gw.cli("queue", "retry", qid)
        wait_until(lambda: self.sink.messages(), what="delivery after queue retry")
        wait_until(lambda: qid not in self.gw.cli("queue", "list").stdout, what="message to leave the queue")

        self.sink.stop()
        qid2 = self.send("two@example.com")
        wait_until(lambda: f"{qid2}: deferred" in self.gw.output(), what="deferral")
        self.gw.cli("queue", "delete", qid2)
        self.assertNotIn(qid2, self.gw.cli("queue", "list").stdout)

        qid3 = self.send("three@example.com")
        wait_until(lambda: f"{qid3}: deferred" in self.gw.output(), what="deferral")
        self.gw.cli("queue", "bounce", qid3)
        wait_until(lambda: "bounced by the administrator" in self.gw.output(), what="bounce")
        wait_until(lambda: qid3 not in self.gw.cli("queue", "list").stdout, what="bounced message to leave")

    def test_errors_and_offline_listing(self):
        r = self.gw.cli("queue", "show", "0123456789abcdef", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not in the queue", r.stderr)
        r = self.gw.cli("queue", "show", "zz", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("16 hexadecimal digits", r.stderr)
        qid = self.send("off@example.com")
        self.assertEqual(self.gw.stop(), 0)
        out = self.gw.cli("queue", "list").stdout
        self.assertIn(qid, out)
        r = self.gw.cli("queue", "bounce", qid, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("running gateway", r.stderr)


if __name__ == "__main__":
    unittest.main()
