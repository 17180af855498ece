"""Outbound delivery end to end, with dnsmasq as the DNS server and smtp-sink receivers on
loopback addresses (127.0.0.x, one shared port, as MX hosts all listen on delivery.mx_port):
best MX, fall-over to the next MX, 4xx then success on retry, 5xx -> DSN back to the sender's
domain server, partial success across recipients, null MX bounce."""
import email
import email.policy
import smtplib
import time
import unittest

from harness import Dnsmasq, Gateway, SmtpSink, free_port, free_port_on, wait_until


def dsn_of(raw):
    """(top-level message, list of per-recipient field dicts, human text) of a DSN dump."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = list(msg.iter_parts())
    human = parts[0].get_content()
    status = parts[1]
    assert status.get_content_type() in ("message/delivery-status", "message/global-delivery-status")
    blocks = status.get_payload()
    recipients = [dict((k.lower(), str(v)) for k, v in b.items()) for b in blocks[1:]]
    return msg, recipients, human


class OutboundTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port_on("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
        cls.dns = Dnsmasq(
            "--mx-host=best.test,mx1.best.test,10", "--mx-host=best.test,mx2.best.test,20",
            "--host-record=mx1.best.test,127.0.0.2", "--host-record=mx2.best.test,127.0.0.3",
            "--mx-host=failover.test,dead.failover.test,10", "--mx-host=failover.test,alive.failover.test,20",
            "--host-record=dead.failover.test,127.0.0.4", "--host-record=alive.failover.test,127.0.0.3",
            "--mx-host=reject.test,mx.reject.test,10", "--host-record=mx.reject.test,127.0.0.5",
            "--mx-host=flaky.test,mx.flaky.test,10", "--host-record=mx.flaky.test,127.0.0.5",
            "--dns-rr=nullmx.test,15,000000", "--local=/test/",
        ).start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.cleanup()

    def setUp(self):
        self.home = SmtpSink().start()  # the sender domain's own server (receives DSNs)
        self.mx1 = SmtpSink(host="127.0.0.2", port=self.port).start()
        self.mx2 = SmtpSink(host="127.0.0.3", port=self.port).start()
        self.sinks = [self.home, self.mx1, self.mx2]
        self.gw = Gateway()
        self.gw.add_domain("example.com", self.home)
        self.gw.cli("relay", "allow", "127.0.0.0/8")
        self.gw.cli("config", "set", "dns.servers", f"127.0.0.1:{self.dns.port}")
        self.gw.cli("config", "set", "delivery.mx_port", str(self.port))
        self.gw.start()

    def tearDown(self):
        self.gw.cleanup()
        for s in self.sinks:
            s.cleanup()

    def send(self, rcpts, body=b"Subject: out\r\n\r\noutbound\r\n", sender="alice@example.com"):
        with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=10) as s:
            refused = s.sendmail(sender, rcpts, body)
            self.assertEqual(refused, {})

    def test_best_mx_gets_the_message(self):
        self.send(["bob@best.test"])
        msgs = wait_until(lambda: self.mx1.messages(), what="delivery to the best MX")
        self.assertIn(b"X-Rcpt-Args: <bob@best.test>", msgs[0])
        time.sleep(0.3)
        self.assertEqual(self.mx2.messages(), [])

    def test_fall_over_to_next_mx_when_first_refuses_connections(self):
        self.send(["carol@failover.test"])
        msgs = wait_until(lambda: self.mx2.messages(), what="delivery to the second MX")
        self.assertIn(b"X-Rcpt-Args: <carol@failover.test>", msgs[0])
        self.assertIn("connect-failed", self.gw.output())

    def test_4xx_then_success_on_retry(self):
        flaky = SmtpSink("-r", "RCPT", host="127.0.0.5", port=self.port).start()
        self.sinks.append(flaky)
        self.send(["dave@flaky.test"])
        wait_until(lambda: "deferred to=<dave@flaky.test>" in self.gw.output(), what="a 4xx deferral")
        flaky.stop()
        good = SmtpSink(host="127.0.0.5", port=self.port).start()
        self.sinks.append(good)
        msgs = wait_until(lambda: good.messages(), timeout=30, what="delivery on retry")
        self.assertIn(b"X-Rcpt-Args: <dave@flaky.test>", msgs[0])

    def test_5xx_returns_a_dsn_to_the_sender_domain_server(self):
        bad = SmtpSink("-f", "RCPT", "-B", "550 5.1.1 No such user here", host="127.0.0.5", port=self.port).start()
        self.sinks.append(bad)
        self.send(["erin@reject.test"], sender="alice@example.com")
        dsns = wait_until(lambda: self.home.messages(), timeout=30, what="the DSN at the sender's server")
        raw = dsns[0]
        self.assertIn(b"X-Mail-Args: <>", raw, "a DSN has the null sender")
        self.assertIn(b"X-Rcpt-Args: <alice@example.com>", raw)
        msg, rcpts, human = dsn_of(raw)
        self.assertEqual(len(rcpts), 1)
        r = rcpts[0]
        self.assertEqual(r["final-recipient"].replace(" ", "").lower(), "rfc822;erin@reject.test")
        self.assertEqual(r["action"], "failed")
        self.assertEqual(r["status"], "5.1.1")
        self.assertIn("550 5.1.1 No such user here", r["diagnostic-code"])
        self.assertIn("mx.reject.test", r["remote-mta"])
        self.assertIn("erin@reject.test", human)

    def test_partial_success_bounces_only_the_failed_recipient(self):
        bad = SmtpSink("-f", "RCPT", host="127.0.0.5", port=self.port).start()
        self.sinks.append(bad)
        self.send(["ok@best.test", "no@reject.test"])
        wait_until(lambda: self.mx1.messages(), what="the good recipient's delivery")
        dsns = wait_until(lambda: self.home.messages(), timeout=30, what="the DSN")
        _, rcpts, _ = dsn_of(dsns[0])
        self.assertEqual([r["final-recipient"].split(";")[1].strip() for r in rcpts], ["no@reject.test"])

    def test_null_mx_bounces_at_once(self):
        self.send(["frank@nullmx.test"])
        dsns = wait_until(lambda: self.home.messages(), timeout=20, what="the null-MX DSN")
        _, rcpts, _ = dsn_of(dsns[0])
        self.assertEqual(rcpts[0]["status"], "5.1.10")
        self.assertIn("null MX", self.gw.output())

    def test_nxdomain_bounces(self):
        self.send(["gina@does-not-exist.test"])
        dsns = wait_until(lambda: self.home.messages(), timeout=20, what="the NXDOMAIN DSN")
        _, rcpts, _ = dsn_of(dsns[0])
        self.assertEqual(rcpts[0]["status"], "5.1.2")


if __name__ == "__main__":
    unittest.main()
