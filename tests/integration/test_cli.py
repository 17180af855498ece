"""Command-line contract: config/domain/relay commands, clear one-line errors, non-zero exits."""
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN


class CliTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gh-cli-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_cli(self, *args, env=None):
        return subprocess.run([BIN, "--data-dir", self.dir, *args], capture_output=True, text=True, timeout=30,
                              env=env)

    def test_defaults_and_set_get(self):
        r = self.run_cli("config", "get", "smtp.listen")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "0.0.0.0:25,[::]:25")
        self.assertEqual(self.run_cli("config", "set", "smtp.max_recipients", "50").returncode, 0)
        self.assertEqual(self.run_cli("config", "get", "smtp.max_recipients").stdout.strip(), "50")
        listing = self.run_cli("config", "list").stdout
        for key in ("smtp.listen", "smtp.max_message_size", "smtp.max_recipients", "dns.servers",
                    "delivery.mx_port", "log.level"):
            self.assertIn(key, listing)

    def test_errors_name_the_field(self):
        r = self.run_cli("config", "set", "smtp.nope", "1")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("smtp.nope", r.stderr)
        r = self.run_cli("config", "set", "smtp.max_recipients", "abc")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("smtp.max_recipients", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        r = self.run_cli("config", "set", "log.level", "loud")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("log.level", r.stderr)
        r = self.run_cli("config", "set", "smtp.listen", "localhost")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("smtp.listen", r.stderr)

    def test_domains(self):
        r = self.run_cli("domain", "add", "Example.COM", "--mail-server", "10.0.0.5:25", "--bind-ip", "192.0.2.1",
                         "--smtp-hostname", "mx.example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = self.run_cli("domain", "list").stdout
        self.assertIn("example.com mail-server=10.0.0.5:25 bind-ip=192.0.2.1 smtp-hostname=mx.example.com", out)
        r = self.run_cli("domain", "add", "example.com", "--mail-server", "10.0.0.5:25")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("example.com", r.stderr)
        r = self.run_cli("domain", "add", "other.com", "--mail-server", "nohostport")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--mail-server", r.stderr)
        r = self.run_cli("domain", "add", "other.com")
        self.assertNotEqual(r.returncode, 0)
        r = self.run_cli("domain", "add", "other.com", "--mail-server", "10.0.0.5:25", "--bind-ip", "not-an-ip")
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.run_cli("domain", "remove", "example.com").returncode, 0)
        r = self.run_cli("domain", "remove", "example.com")
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.run_cli("domain", "list").stdout.strip(), "")

    def test_relay_networks(self):
        self.assertEqual(self.run_cli("relay", "list").stdout.strip(), "", "no network may relay by default")
        self.assertEqual(self.run_cli("relay", "allow", "192.0.2.0/24").returncode, 0)
        self.assertEqual(self.run_cli("relay", "allow", "2001:db8::/32").returncode, 0)
        r = self.run_cli("relay", "allow", "192.0.2.1/24")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("192.0.2.1/24", r.stderr)
        out = self.run_cli("relay", "list").stdout
        self.assertIn("192.0.2.0/24", out)
        self.assertIn("2001:db8::/32", out)
        self.assertEqual(self.run_cli("relay", "remove", "192.0.2.0/24").returncode, 0)
        self.assertNotEqual(self.run_cli("relay", "remove", "192.0.2.0/24").returncode, 0)

    def test_data_dir_from_environment(self):
        import os
        env = dict(os.environ, GATEHOUSE_DATA_DIR=self.dir)
        r = subprocess.run([BIN, "config", "set", "smtp.max_errors", "5"], capture_output=True, text=True, env=env,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.run_cli("config", "get", "smtp.max_errors").stdout.strip(), "5")

    def test_unknown_command(self):
        r = self.run_cli("frobnicate")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("frobnicate", r.stderr)


if __name__ == "__main__":
    unittest.main()
