"""SPF + DMARC on inbound SMTP (dnsmasq serves the TXT records): a message from an SPF-failing
IP for a domain with p=reject is accepted and marked X-SGDMARC-Fail-policy: reject by default and
refused (550 5.7.1) once auth.dmarc_honour_reject is on; p=quarantine is marked; a forged
X-SGDMARC-Fail-policy field is removed; Authentication-Results is added and incoming ones that
claim our authserv-id are removed (RFC 8601 §5); auth.spf_reject refuses at MAIL FROM
(550 5.7.23); the policy header's name and the invalid-From action are settings; every checked
message is in log/dmarc.log and in reports.db (`gatehouse dmarc results`); a Public Suffix List
dropped into the data directory with PUBLICSUFFIX.SEM is used without a restart."""
import os
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
                          "--txt-record=_dmarc.quar.example,v=DMARC1; p=quarantine",
                          "--local=/test/", "--txt-record=_dmarc.corp.test,v=DMARC1; p=reject").start()

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

    def delivered(self, tag):
        return self.sink.message_with(tag).replace(b"\r\n", b"\n")

    def set(self, key, value):
        self.gw.cli("config", "set", key, value)
        time.sleep(1.0)  # the running gateway republishes its settings within ~250 ms

    def dmarc_log(self):
        path = os.path.join(self.gw.dir, "log", "dmarc.log")
        if not os.path.exists(path):
            return ""
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()

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
        code, text = self.send("alice@example.org", b"From: alice@example.org\r\nSubject: refused-y\r\n\r\nbody\r\n")
        self.assertEqual(code, 550)
        self.assertIn(b"5.7.1", text)
        # The refused message streamed into the spool during DATA; it must never be delivered.
        code, _ = self.send("bob@quar.example", b"From: bob@quar.example\r\nSubject: after-y\r\n\r\nhello\r\n")
        self.assertEqual(code, 250)
        self.delivered(b"after-y")
        self.assertFalse([m for m in self.sink.messages() if b"refused-y" in m])
        wait_until(lambda: "queue is empty" in self.gw.cli("queue", "list").stdout, what="an empty queue")

    def test_quarantine_policy_is_marked(self):
        code, _ = self.send("bob@quar.example", b"From: Bob <bob@quar.example>\r\n\r\nhello\r\n")
        self.assertEqual(code, 250)
        msg = wait_until(lambda: self.sink.messages(), timeout=20, what="delivery")[0]
        self.assertIn(b"X-SGDMARC-Fail-policy: quarantine", msg)

    def test_authentication_results_claiming_our_id_are_removed(self):
        code, _ = self.send("bob@quar.example",
                            b"Authentication-Results: gw.test; spf=pass smtp.mailfrom=bob@quar.example;\r\n"
                            b"\tdmarc=pass header.from=quar.example\r\n"
                            b"Authentication-Results: mx.elsewhere.example; spf=pass\r\n"
                            b"From: bob@quar.example\r\nSubject: ar-1\r\n\r\nhello\r\n")
        self.assertEqual(code, 250)
        msg = self.delivered(b"ar-1")
        self.assertNotIn(b"dmarc=pass header.from=quar.example", msg, "the forged result must be gone")
        self.assertIn(b"Authentication-Results: mx.elsewhere.example; spf=pass", msg, "other ADMDs' results stay")
        self.assertIn(b"Authentication-Results: gw.test;\n\tspf=fail", msg)
        self.assertIn("removed-forged-header name=Authentication-Results count=1", self.gw.output())

    def test_spf_reject_refuses_at_mail_from(self):
        self.set("auth.spf_reject", "on")
        with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=30) as s:
            s.ehlo("mail.sender.test")
            code, text = s.mail("alice@example.org")
            self.assertEqual(code, 550)
            self.assertIn(b"5.7.23", text)
            self.assertIn(b"SPF validation failed: example.org does not allow 127.0.0.1", text)
            # A sender without SPF fail is still welcome in the same session.
            code, _ = s.mail("x@nospf.example")
            self.assertEqual(code, 250)

    def test_header_name_and_invalid_from_settings(self):
        self.set("auth.dmarc_header", "X-Our-Policy")
        code, _ = self.send("bob@quar.example", b"From: bob@quar.example\r\nSubject: hn-1\r\n"
                                                b"X-Our-Policy: none\r\n\r\nhello\r\n")
        self.assertEqual(code, 250)
        msg = self.delivered(b"hn-1")
        self.assertIn(b"X-Our-Policy: quarantine", msg)
        self.assertNotIn(b"X-Our-Policy: none", msg)
        self.assertNotIn(b"X-SGDMARC-Fail-policy", msg)

        two_froms = b"From: a@quar.example\r\nFrom: b@quar.example\r\nSubject: if-1\r\n\r\nhello\r\n"
        code, text = self.send("bob@quar.example", two_froms)
        self.assertEqual(code, 550, "the default for an invalid From is to refuse it")
        self.assertIn(b"5.7.1", text)
        self.assertIn(b"exactly one From", text)
        self.set("auth.dmarc_invalid_from", "mark")
        code, _ = self.send("bob@quar.example", two_froms.replace(b"if-1", b"if-2"))
        self.assertEqual(code, 250)
        self.assertIn(b"X-Our-Policy: invalid-from", self.delivered(b"if-2"))

    def test_dmarc_log_and_results(self):
        code, _ = self.send("alice@example.org", b"From: alice@example.org\r\nSubject: log-1\r\n\r\nbody\r\n")
        self.assertEqual(code, 250)
        self.delivered(b"log-1")
        line = wait_until(lambda: [l for l in self.dmarc_log().splitlines() if "header_from=example.org" in l],
                          what="the DMARC log line")[0]
        self.assertIn("dmarc=fail header_from=example.org policy=reject disposition=reject applied=", line)
        self.assertIn("action=marked override=local_policy spf=fail", line)
        self.assertIn("client=127.0.0.1", line)
        self.assertNotIn("header_from=", self.gw.output(), "DMARC lines go to their own log")

        def results():
            r = self.gw.cli("dmarc", "results", "--domain", "example.org")
            return r.stdout if "header_from=example.org" in r.stdout else None
        out = wait_until(results, what="the DMARC result in reports.db")
        self.assertIn("dmarc=fail", out)
        self.assertIn("p=reject", out)
        self.assertTrue(os.path.exists(os.path.join(self.gw.dir, "reports.db")))

    def test_public_suffix_list_reload_without_restart(self):
        # mail.corp.test has no DMARC record; with the bundled list its organizational domain is
        # corp.test, whose p=reject applies (RFC 7489 §6.6.3 fallback).
        body = b"From: x@mail.corp.test\r\nSubject: %s\r\n\r\nhello\r\n"
        self.assertEqual(self.send("x@mail.corp.test", body % b"psl-1")[0], 250)
        self.assertIn(b"X-SGDMARC-Fail-policy: reject", self.delivered(b"psl-1"))

        # A list that makes corp.test a public suffix: mail.corp.test is its own organization.
        with open(os.path.join(self.gw.dir, "effective_tld_names.dat"), "w") as f:
            f.write("// ===BEGIN ICANN DOMAINS===\ncom\ntest\ncorp.test\n// ===END ICANN DOMAINS===\n")
        sem = os.path.join(self.gw.dir, "PUBLICSUFFIX.SEM")
        open(sem, "w").close()
        wait_until(lambda: not os.path.exists(sem), timeout=15, what="the semaphore to be consumed")
        wait_until(lambda: "psl-reloaded rules=3" in self.gw.output(), what="the reload log line")
        self.assertEqual(self.send("x@mail.corp.test", body % b"psl-2")[0], 250)
        msg = self.delivered(b"psl-2")
        self.assertNotIn(b"X-SGDMARC-Fail-policy", msg)
        self.assertIn(b"dmarc=none", msg)

        # A broken list is refused and the current one stays.
        with open(os.path.join(self.gw.dir, "effective_tld_names.dat"), "w") as f:
            f.write("// ===BEGIN ICANN DOMAINS===\nbad..rule\n")
        open(sem, "w").close()
        wait_until(lambda: "psl-reload-failed" in self.gw.output(), what="the reload failure")
        self.assertEqual(self.send("x@mail.corp.test", body % b"psl-3")[0], 250)
        self.assertNotIn(b"X-SGDMARC-Fail-policy", self.delivered(b"psl-3"))

    def test_dmarc_alone_is_refused_by_config(self):
        self.gw.cli("config", "set", "auth.spf", "off", check=False)
        r = self.gw.cli("config", "get", "auth.spf")
        self.assertEqual(r.stdout.strip(), "on", "auth.dmarc on needs auth.spf or auth.dkim_verify")


if __name__ == "__main__":
    unittest.main()
