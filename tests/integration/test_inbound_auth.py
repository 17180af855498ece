"""SPF + DMARC on inbound SMTP (dnsmasq serves the TXT records): a message from an SPF-failing
IP for a domain with p=reject is accepted and marked X-SGDMARC-Fail-policy: reject by default and
refused (550 5.7.1) once auth.dmarc_honour_reject is on; p=quarantine is marked; a forged
X-SGDMARC-Fail-policy field is removed; Authentication-Results is added."""
import smtplib
import time
import unittest

from harness import Dnsmasq, Gateway, SmtpSink, wait_until


class InboundAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = Dnsmasq("--local=/example/", "--local=/org/",
                          "--txt-record=example.org,v=spf1 ip4:192.0.2.1 -all",
                          "--txt-record=_dmarc.example.org,v=DMARC1; p=reject",
                          "--txt-record=quar.example,v=spf1 -all",
                          "--txt-record=_dmarc.quar.example,v=DMARC1; p=quarantine").start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.cleanup()

    def setUp(self):
        self.sink = SmtpSink().start()
        self.gw = Gateway()
        self.gw.add_domain("example.com", self.sink)
        self.gw.cli("config", "set", "dns.servers", f"127.0.0.1:{self.dns.port}")
        self.gw.cli("config", "set", "auth.spf", "on")
        self.gw.cli("config", "set", "auth.dmarc", "on")
        self.gw.start()

    def tearDown(self):
        self.gw.cleanup()
        self.sink.cleanup()

    def send(self, sender, body):
        with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=30) as s:
            s.ehlo("mail.sender.test")
            s.mail(sender)
            s.rcpt("bob@example.com")
            return s.data(body)

    def test_reject_policy_marked_by_default_then_refused_when_honoured(self):
        code, _ = self.send("alice@example.org", b"From: alice@example.org\r\nSubject: x\r\n"
                                                 b"X-SGDMARC-Fail-policy: none\r\n\r\nbody\r\n")
        self.assertEqual(code, 250)
        msg = wait_until(lambda: self.sink.messages(), timeout=20, what="delivery")[0].replace(b"\r\n", b"\n")
        self.assertIn(b"X-SGDMARC-Fail-policy: reject", msg)
        self.assertNotIn(b"X-SGDMARC-Fail-policy: none", msg, "the forged field must be removed")
        self.assertIn(b"Authentication-Results: gw.test;", msg)
        self.assertIn(b"spf=fail", msg)
        self.assertIn(b"dmarc=fail", msg)
        self.assertIn("removed-forged-header", self.gw.output())

        self.gw.cli("config", "set", "auth.dmarc_honour_reject", "on")
        time.sleep(1.0)
        code, text = self.send("alice@example.org", b"From: alice@example.org\r\nSubject: y\r\n\r\nbody\r\n")
        self.assertEqual(code, 550)
        self.assertIn(b"5.7.1", text)

    def test_quarantine_policy_is_marked(self):
        code, _ = self.send("bob@quar.example", b"From: Bob <bob@quar.example>\r\n\r\nhello\r\n")
        self.assertEqual(code, 250)
        msg = wait_until(lambda: self.sink.messages(), timeout=20, what="delivery")[0]
        self.assertIn(b"X-SGDMARC-Fail-policy: quarantine", msg)

    def test_dmarc_alone_is_refused_by_config(self):
        self.gw.cli("config", "set", "auth.spf", "off", check=False)
        r = self.gw.cli("config", "get", "auth.spf")
        self.assertEqual(r.stdout.strip(), "on", "auth.dmarc on needs auth.spf or auth.dkim_verify")


if __name__ == "__main__":
    unittest.main()
