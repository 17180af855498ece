"""DKIM on the wire (issue "Email authentication" items 2 and 3).
Signing: `gatehouse dkim generate` makes a key that starts disabled; once `dkim enable` is run,
mail from a relay-allowed client (127.0.0.2) is signed on its way through the gateway, and the
delivered message verifies with dkimpy and with OpenDKIM's opendkim-testmsg (rsa-sha256 and
ed25519-sha256); mail from other clients is not signed.
Verifying: messages signed by dkimpy and by OpenDKIM's filter (rsa-sha256 and ed25519-sha256),
with keys served by dnsmasq, arrive with dkim=pass in Authentication-Results; a tampered one gets
dkim=fail."""
import base64
import os
import re
import shutil
import smtplib
import subprocess
import tempfile
import time
import unittest

from harness import (Dnsmasq, Gateway, SmtpSink, can_unshare, dkim_record_from_show, dkimpy_sign, dkimpy_verify,
                     opendkim_sign, opendkim_verify, txt_strings)

MESSAGE = (b"From: Alice <alice@%s>\r\n"
           b"To: Bob <bob@remote.example>\r\n"
           b"Subject: DKIM through the gateway\r\n"
           b"Date: Sun, 06 Dec 2026 12:00:00 +0000\r\n"
           b"Message-ID: <%s@gatehouse.test>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=us-ascii\r\n"
           b"\r\n"
           b"Hello Bob,\r\n"
           b"  spaces   and\ttabs  \r\n"
           b"\r\n"
           b"..a line that starts with a dot\r\n"
           b"\r\n\r\n")


def delivered_with_id(sink, tag):
    """The message whose Message-ID is <tag@...>, once the sink has it."""
    return sink.message_with(b"<%s@" % tag.encode())


def signed_part(delivered):
    """The message as the next hop got it: smtp-sink's dump starts with its own envelope lines
    (no colon-free header), so keep everything from the first header we wrote (Received)."""
    i = delivered.find(b"Received:")
    return delivered[i:] if i >= 0 else delivered


class DkimSigningTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # `dkim show|enable` look the key record up; this DNS server knows none of them.
        cls.dns = Dnsmasq("--local=/example/", "--local=/com/", "--local=/net/").start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.cleanup()

    def setUp(self):
        self.sink = SmtpSink().start()
        self.gw = Gateway()
        self.gw.cli("config", "set", "dns.servers", f"127.0.0.1:{self.dns.port}")
        self.gw.add_domain("example.com", self.sink)
        self.gw.add_domain("example.net", self.sink)
        self.gw.add_domain("remote.example", self.sink)
        self.gw.cli("relay", "allow", "127.0.0.2/32")
        self.gw.start()

    def tearDown(self):
        self.gw.cleanup()
        self.sink.cleanup()

    def send(self, domain, tag, source="127.0.0.2"):
        with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=30, source_address=(source, 0)) as s:
            s.ehlo("client.example.com")
            code, _ = s.docmd("MAIL FROM:<alice@%s>" % domain)
            self.assertEqual(code, 250)
            s.rcpt("bob@remote.example")
            code, _ = s.data(MESSAGE % (domain.encode(), tag.encode()))
            self.assertEqual(code, 250)

    def delivered(self, tag):
        return signed_part(delivered_with_id(self.sink, tag))

    def generate(self, domain, selector, *extra):
        r = self.gw.cli("dkim", "generate", domain, "--selector", selector, *extra)
        self.assertIn("signing:  off", r.stdout)
        show = self.gw.cli("dkim", "show", domain).stdout
        self.assertNotIn("PRIVATE", show)
        self.assertIn(f"{selector}._domainkey.{domain}. IN TXT (", show)
        return {f"{selector}._domainkey.{domain}": dkim_record_from_show(show)}

    def enable(self, domain):
        self.gw.cli("dkim", "enable", domain)
        self.assertIn("signing:  on", self.gw.cli("dkim", "show", domain).stdout)
        time.sleep(1.0)  # the running gateway republishes its settings within ~250 ms

    def check_interop(self, msg, records):
        self.assertEqual(dkimpy_verify(msg, records), "pass", msg.decode(errors="replace"))
        if not can_unshare():
            self.skipTest("opendkim-testmsg needs a private network namespace (unshare --net --mount) to be "
                          "pointed at the test DNS server, and this machine refuses one")
        code, out = opendkim_verify(msg, records)
        self.assertEqual((code, out), (0, ""), "opendkim-testmsg did not verify the gateway's signature")

    def test_rsa_signature_verifies_with_dkimpy_and_opendkim(self):
        records = self.generate("example.com", "s2026")
        self.send("example.com", "before-enable-1")
        self.assertNotIn(b"DKIM-Signature:", self.delivered("before-enable-1"), "a disabled key must not sign")
        self.enable("example.com")
        self.send("example.com", "signed-1")
        msg = self.delivered("signed-1")
        sig = re.search(rb"DKIM-Signature:(.*?)\r?\n(?=\S)", msg, re.S).group(1)
        flat = re.sub(rb"\s+", b"", sig)
        for tag in (b"v=1", b"a=rsa-sha256", b"c=relaxed/relaxed", b"d=example.com", b"s=s2026"):
            self.assertIn(tag, flat.split(b";"), sig)
        self.assertRegex(flat, rb"h=from:to:subject:date:message-id:mime-version:content-type:from;")
        self.assertIn("dkim-signed d=example.com s=s2026", self.gw.output())
        self.check_interop(msg, records)
        # Tampering breaks it (the check is real).
        self.assertEqual(dkimpy_verify(msg.replace(b"Hello Bob", b"Hello Eve"), records), "fail")

    def test_ed25519_signature_verifies_with_dkimpy_and_opendkim(self):
        records = self.generate("example.net", "ed", "--key", "ed25519")
        self.enable("example.net")
        self.send("example.net", "signed-ed")
        msg = self.delivered("signed-ed")
        self.assertIn(b"a=ed25519-sha256", re.sub(rb"\s+", b"", msg))
        self.check_interop(msg, records)

    def test_subdomain_signed_with_parent_key_and_untrusted_clients_are_not_signed(self):
        records = self.generate("example.com", "sel")
        self.enable("example.com")
        self.send("mail.example.com", "sub-1")
        msg = self.delivered("sub-1")
        self.assertIn(b"d=example.com", re.sub(rb"\s+", b"", msg))
        self.assertEqual(dkimpy_verify(msg, records), "pass")
        # 127.0.0.1 may not relay: its mail to a local domain is inbound, never signed.
        self.send("example.com", "inbound-1", source="127.0.0.1")
        self.assertNotIn(b"DKIM-Signature:", self.delivered("inbound-1"))

    def test_forged_verdicts_removed_from_outgoing_and_unchecked_mail(self):
        records = self.generate("example.com", "sel")
        self.enable("example.com")
        forged = (b"Authentication-Results: gw.test; dmarc=pass header.from=bank.example\r\n"
                  b"Authentication-Results: mx.other.example; spf=pass\r\n"
                  b"X-SGDMARC-Fail-policy: none\r\n")
        for source, tag in (("127.0.0.2", "forged-out"), ("127.0.0.1", "forged-in")):
            with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=30, source_address=(source, 0)) as s:
                s.ehlo("client.example.com")
                s.mail("alice@example.com")
                s.rcpt("bob@remote.example")
                code, _ = s.data(forged + MESSAGE % (b"example.com", tag.encode()))
                self.assertEqual(code, 250)
            msg = self.delivered(tag)
            self.assertNotIn(b"bank.example", msg, source)
            self.assertNotIn(b"X-SGDMARC-Fail-policy", msg, source)
            self.assertIn(b"Authentication-Results: mx.other.example; spf=pass", msg, source)
        # The outgoing one was signed after the clean-up, so it still verifies.
        self.assertEqual(dkimpy_verify(self.delivered("forged-out"), records), "pass")

    def test_header_section_over_1_mib_is_refused(self):
        filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"x" * 1900) for i in range(600))
        with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=60) as s:
            s.ehlo("client.example.com")
            s.mail("alice@example.org")
            s.rcpt("bob@example.com")
            code, text = s.data(filler + b"Subject: big\r\n\r\nbody\r\n")
            self.assertEqual(code, 552)
            self.assertIn(b"5.3.4", text)
            # The session goes on.
            self.assertEqual(s.noop()[0], 250)

    def test_show_and_enable_check_the_published_record(self):
        records = self.generate("example.com", "pub")
        r = self.gw.cli("dkim", "enable", "example.com")
        self.assertIn("dns:      pub._domainkey.example.com has no TXT record yet", r.stdout)
        self.assertIn("warning: signing is on, but", r.stderr)
        name, record = next(iter(records.items()))
        published = Dnsmasq(f"--txt-record={name}," + ",".join(txt_strings(record))).start()
        try:
            self.gw.cli("config", "set", "dns.servers", f"127.0.0.1:{published.port}")
            r = self.gw.cli("dkim", "show", "example.com")
            self.assertIn("dns:      published: pub._domainkey.example.com holds this key's record", r.stdout)
            r = self.gw.cli("dkim", "enable", "example.com")
            self.assertNotIn("warning", r.stderr)
        finally:
            published.cleanup()

    def test_cli_refusals(self):
        r = self.gw.cli("dkim", "generate", "not-ours.example", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a local domain", r.stderr)
        r = self.gw.cli("dkim", "enable", "example.com", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("has no DKIM key", r.stderr)
        r = self.gw.cli("dkim", "generate", "example.com", "--key", "dsa", check=False)
        self.assertIn("key: 'dsa'", r.stderr)
        self.gw.cli("dkim", "generate", "example.com", "--selector", "a")
        r = self.gw.cli("dkim", "generate", "example.com", "--selector", "b", check=False)
        self.assertIn("--replace", r.stderr)
        listing = self.gw.cli("dkim", "list").stdout
        self.assertIn("example.com selector=a key=rsa-2048 signing=off", listing)


class DkimVerifyingTest(unittest.TestCase):
    """dkimpy and OpenDKIM sign; the gateway (auth.dkim_verify on) verifies with keys from dnsmasq."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="gh-dkimkeys-")
        cls.rsa_key = os.path.join(cls.tmp, "rsa.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
                        cls.rsa_key], check=True, capture_output=True)
        pub = subprocess.run(["openssl", "pkey", "-in", cls.rsa_key, "-pubout", "-outform", "DER"], check=True,
                             capture_output=True).stdout
        rsa_record = "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode()
        # Ed25519: PEM for OpenDKIM; for dkimpy the base64 of the 32-byte seed (the last 32 bytes
        # of the PKCS#8 DER); the record holds the raw public key.
        cls.ed_pem = os.path.join(cls.tmp, "ed.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", cls.ed_pem], check=True,
                       capture_output=True)
        der = subprocess.run(["openssl", "pkey", "-in", cls.ed_pem, "-outform", "DER"], check=True,
                             capture_output=True).stdout
        cls.ed_key = os.path.join(cls.tmp, "ed.key")
        with open(cls.ed_key, "wb") as f:
            f.write(base64.b64encode(der[-32:]))
        ed_pub = subprocess.run(["openssl", "pkey", "-inform", "DER", "-pubout", "-outform", "DER"], input=der,
                                check=True, capture_output=True).stdout
        ed_record = "v=DKIM1; k=ed25519; p=" + base64.b64encode(ed_pub[-32:]).decode()
        cls.dns = Dnsmasq("--local=/example/", "--local=/org/",
                          "--txt-record=rsa._domainkey.signer.example," + ",".join(txt_strings(rsa_record)),
                          "--txt-record=ed._domainkey.signer.example," + ed_record).start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.sink = SmtpSink().start()
        self.gw = Gateway()
        self.gw.add_domain("example.com", self.sink)
        self.gw.cli("config", "set", "dns.servers", f"127.0.0.1:{self.dns.port}")
        self.gw.cli("config", "set", "auth.dkim_verify", "on")
        self.gw.start()

    def tearDown(self):
        self.gw.cleanup()
        self.sink.cleanup()

    def send(self, data):
        with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=30) as s:
            s.ehlo("mail.signer.example")
            s.mail("news@signer.example")
            s.rcpt("bob@example.com")
            code, _ = s.data(data)
            self.assertEqual(code, 250)

    def received(self, tag):
        return delivered_with_id(self.sink, tag)

    def test_dkimpy_and_opendkim_rsa_and_ed25519_signatures_pass(self):
        for selector, key, algo in (("rsa", self.rsa_key, "rsa-sha256"), ("ed", self.ed_key, "ed25519-sha256")):
            tag = f"from-dkimpy-{selector}"
            msg = dkimpy_sign(MESSAGE % (b"signer.example", tag.encode()), key, selector, "signer.example", algo)
            self.send(msg)
            got = self.received(tag)
            ar = re.search(rb"Authentication-Results: gw.test;(.*?)\r?\n(?=\S)", got, re.S).group(1)
            self.assertIn(b"dkim=pass header.d=signer.example header.s=" + selector.encode(), ar)

        for selector, key, algo in (("rsa", self.rsa_key, "rsa-sha256"), ("ed", self.ed_pem, "ed25519-sha256")):
            tag = f"from-opendkim-{selector}"
            msg = opendkim_sign(MESSAGE % (b"signer.example", tag.encode()), key, selector, "signer.example", algo)
            self.assertIn(b"a=" + algo.encode(), msg)
            self.send(msg)
            got = self.received(tag)
            ar = re.search(rb"Authentication-Results: gw.test;(.*?)\r?\n(?=\S)", got, re.S).group(1)
            self.assertIn(b"dkim=pass header.d=signer.example header.s=" + selector.encode(), ar, got)

        tag = "from-dkimpy-tampered"
        msg = dkimpy_sign(MESSAGE % (b"signer.example", tag.encode()), self.rsa_key, "rsa", "signer.example",
                          "rsa-sha256")
        self.send(msg.replace(b"Hello Bob", b"Hello Eve"))
        got = self.received(tag)
        self.assertIn(b"dkim=fail (body hash mismatch) header.d=signer.example", got)


if __name__ == "__main__":
    unittest.main()
