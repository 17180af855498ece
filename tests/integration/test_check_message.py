"""`gatehouse check-message`: SPF, DKIM and DMARC verdicts and the Authentication-Results field
for a message file, with DNS from a zone file."""
import os
import subprocess
import tempfile
import unittest

from harness import BIN

ZONE = '''example.org TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.example.org TXT "v=DMARC1; p=reject"
quar.example TXT "v=spf1 -all"
_dmarc.quar.example TXT "v=DMARC1; p=quarantine"
'''


class CheckMessageTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gh-check-")
        self.zone = os.path.join(self.dir, "zone.txt")
        with open(self.zone, "w") as f:
            f.write(ZONE)

    def tearDown(self):
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)

    def check(self, ip, mail_from, message):
        path = os.path.join(self.dir, "msg.eml")
        with open(path, "w") as f:
            f.write(message)
        r = subprocess.run([BIN, "--data-dir", os.path.join(self.dir, "data"), "check-message", "--ip", ip,
                            "--helo", "mail.sender.test", "--mail-from", mail_from, "--dns-zone", self.zone, path],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_spf_fail_with_p_reject_is_marked_not_refused_by_default(self):
        out = self.check("203.0.113.9", "alice@example.org", "From: alice@example.org\nSubject: x\n\nbody\n")
        self.assertIn("spf: fail", out)
        self.assertIn("dmarc: fail from=example.org policy=reject", out)
        self.assertIn("action: accept and add X-SGDMARC-Fail-policy: reject", out)
        self.assertIn("Authentication-Results: ", out)
        self.assertIn("spf=fail smtp.mailfrom=alice@example.org", out)
        self.assertIn("dmarc=fail (p=reject", out)

    def test_pass_and_quarantine(self):
        out = self.check("192.0.2.1", "alice@example.org", "From: alice@example.org\n\nbody\n")
        self.assertIn("spf: pass", out)
        self.assertIn("dmarc: pass", out)
        self.assertIn("action: accept\n", out)
        out = self.check("198.51.100.7", "bob@quar.example", "From: Bob <bob@quar.example>\n\nbody\n")
        self.assertIn("action: accept and add X-SGDMARC-Fail-policy: quarantine", out)

    def test_two_from_fields_are_invalid(self):
        out = self.check("192.0.2.1", "alice@example.org",
                         "From: alice@example.org\nFrom: eve@example.org\n\nbody\n")
        self.assertIn("dmarc: not evaluated", out)
        self.assertIn("action: reject 550 5.7.1", out)


if __name__ == "__main__":
    unittest.main()
