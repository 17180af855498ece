"""SMTP AUTH with swaks: PLAIN and LOGIN only after STARTTLS, CRAM-MD5 only when auth.cram_md5
is on, authenticated clients may relay, wrong passwords refused and throttled."""
import os
import subprocess
import tempfile
import time
import unittest

from harness import Gateway, SmtpSink, wait_until


class AuthTest(unittest.TestCase):
    def setUp(self):
        self.sink = SmtpSink().start()
        self.gw = Gateway()
        self.gw.add_domain("example.com", self.sink)
        self.gw.cli("cert", "create", "--host", "mail.example.com", "--org", "Auth Test", "--key", "ec:p256")
        self.gw.cli("config", "set", "tls.enabled", "on")
        self.pwfile = tempfile.NamedTemporaryFile("w", delete=False)
        self.pwfile.write("s3cret-pass\n")
        self.pwfile.close()
        self.gw.cli("config", "set", "auth.cram_md5", "on")
        self.gw.cli("user", "add", "relayuser", "--password-file", self.pwfile.name)
        self.gw.start()

    def tearDown(self):
        self.gw.cleanup()
        self.sink.cleanup()
        os.unlink(self.pwfile.name)

    def swaks(self, *args):
        r = subprocess.run(["swaks", "--server", f"127.0.0.1:{self.gw.port}", "--from", "u@example.com", *args],
                           capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout + r.stderr

    def test_plain_and_login_over_tls_allow_relay(self):
        for mech in ("PLAIN", "LOGIN"):
            rc, out = self.swaks("--to", "someone@elsewhere.test", "--tls", "--auth", mech,
                                 "--auth-user", "relayuser", "--auth-password", "s3cret-pass", "--quit-after", "RCPT")
            self.assertEqual(rc, 0, out)
            self.assertIn("235 2.7.0", out)
            self.assertIn("250 2.1.5", out)

    def test_plain_not_offered_without_tls(self):
        rc, out = self.swaks("--to", "bob@example.com", "--auth", "PLAIN", "--auth-user", "relayuser",
                             "--auth-password", "s3cret-pass", "--quit-after", "AUTH")
        self.assertNotEqual(rc, 0)
        self.assertNotIn("235 ", out)

    def test_cram_md5_on_and_off(self):
        rc, out = self.swaks("--to", "someone@elsewhere.test", "--auth", "CRAM-MD5", "--auth-user", "relayuser",
                             "--auth-password", "s3cret-pass", "--quit-after", "RCPT")
        self.assertEqual(rc, 0, out)
        self.assertIn("235 2.7.0", out)
        self.gw.cli("config", "set", "auth.cram_md5", "off")
        time.sleep(1.0)
        rc, out = self.swaks("--to", "bob@example.com", "--auth", "CRAM-MD5", "--auth-user", "relayuser",
                             "--auth-password", "s3cret-pass", "--quit-after", "AUTH")
        self.assertNotEqual(rc, 0)
        self.assertNotIn("235 ", out)

    def test_wrong_password_refused_and_throttled(self):
        self.gw.cli("config", "set", "auth.max_failures", "2")
        time.sleep(1.0)
        codes = []
        for _ in range(3):
            rc, out = self.swaks("--to", "bob@example.com", "--tls", "--auth", "PLAIN", "--auth-user", "relayuser",
                                 "--auth-password", "wrong-pass", "--quit-after", "AUTH")
            codes.append("535 5.7.8" in out or "421 4.7.0" in out)
            last = out
        self.assertTrue(all(codes))
        self.assertIn("421 4.7.0", last)
        self.assertNotIn("wrong-pass", self.gw.output())


if __name__ == "__main__":
    unittest.main()
