"""TLS inbound: STARTTLS offered only when enabled with an active certificate, openssl s_client
sees the active certificate and a newly activated one without restart, TLS recorded in the
Received header, pipelined commands after STARTTLS discarded, whitelisted clients not offered
STARTTLS, and no protocol below TLS 1.2."""
import re
import smtplib
import socket
import ssl
import subprocess
import time
import unittest

from harness import Dnsmasq, Gateway, SmtpSink, wait_until


def s_client(port, *extra):
    r = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{port}",
                        "-servername", "mail.example.com", *extra],
                       input="QUIT\n", capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


class TlsInboundTest(unittest.TestCase):
    def setUp(self):
        self.sink = SmtpSink().start()
        self.gw = Gateway()
        self.gw.add_domain("example.com", self.sink)
        out = self.gw.cli("cert", "create", "--host", "mail.example.com", "--org", "First Org",
                          "--key", "ec:p256").stdout
        self.first_id = out.strip().splitlines()[-1]
        self.gw.cli("config", "set", "tls.enabled", "on")
        self.gw.start()

    def tearDown(self):
        self.gw.cleanup()
        self.sink.cleanup()

    def test_s_client_sees_active_certificate_and_a_new_one_without_restart(self):
        rc, out = s_client(self.gw.port)
        self.assertIn("O = First Org", out)
        self.assertRegex(out, r"(Protocol *: |New, )TLSv1\.[23]")
        new_id = self.gw.cli("cert", "create", "--host", "mail.example.com", "--org", "Second Org",
                             "--key", "rsa:2048").stdout.strip().splitlines()[-1]
        self.gw.cli("cert", "activate", new_id)
        wait_until(lambda: "O = Second Org" in s_client(self.gw.port)[1], timeout=10, interval=0.3,
                   what="the newly activated certificate")

    def test_old_protocols_refused(self):
        for flag in ("-tls1", "-tls1_1"):
            rc, out = s_client(self.gw.port, flag)
            self.assertIn("Cipher is (NONE)", out, f"{flag} handshake must fail: {out[-400:]}")

    def test_sslscan_reports_no_old_protocols_and_no_weak_ciphers(self):
        r = subprocess.run(["sslscan", "--no-colour", "--starttls-smtp", f"127.0.0.1:{self.gw.port}"],
                           capture_output=True, text=True, timeout=120)
        out = r.stdout
        for proto in ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"):
            self.assertRegex(out, rf"{re.escape(proto)}\s+disabled", out)
        self.assertRegex(out, r"TLSv1\.2\s+enabled")
        ciphers = re.findall(r"^(?:Preferred|Accepted)\s+\S+\s+(\d+) bits", out, re.M)
        self.assertTrue(ciphers, out)
        self.assertTrue(all(int(b) >= 128 for b in ciphers), out)

    def test_swaks_tls_and_received_header_records_tls(self):
        r = subprocess.run(["swaks", "--server", f"127.0.0.1:{self.gw.port}", "--tls", "--from", "a@sender.org",
                            "--to", "bob@example.com", "--body", "over tls"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        msg = wait_until(lambda: self.sink.messages(), what="delivery")[0]
        self.assertIn(b"with ESMTPS id", msg)
        self.assertRegex(msg.decode(errors="replace"), r"version=TLSv1\.[23] cipher=\S+ bits=\d+")

    def test_starttls_not_offered_when_disabled(self):
        self.gw.cli("config", "set", "tls.enabled", "off")

        def no_starttls():
            with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=10) as s:
                s.ehlo("c.test")
                return not s.has_extn("starttls")

        wait_until(no_starttls, timeout=5, interval=0.2, what="STARTTLS to disappear")

    def test_whitelisted_client_is_not_offered_starttls(self):
        self.gw.cli("list", "add", "starttls-whitelist", "127.0.0.1")

        def no_starttls():
            with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=10) as s:
                s.ehlo("c.test")
                return not s.has_extn("starttls")

        wait_until(no_starttls, timeout=5, interval=0.2, what="whitelist to apply")

    def test_whitelisted_host_name_via_forward_confirmed_rdns(self):
        dns = Dnsmasq("--local=/test/", "--ptr-record=1.0.0.127.in-addr.arpa,client.partner.test",
                      "--host-record=client.partner.test,127.0.0.1").start()
        try:
            self.gw.cli("config", "set", "dns.servers", f"127.0.0.1:{dns.port}")
            self.gw.cli("list", "add", "starttls-whitelist", "*.partner.test")

            def no_starttls():
                with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=15) as s:
                    s.ehlo("anything.example")
                    return not s.has_extn("starttls")

            wait_until(no_starttls, timeout=10, interval=0.3, what="the host-name whitelist entry to apply")
        finally:
            dns.cleanup()

    def test_commands_pipelined_after_starttls_are_discarded(self):
        raw = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        f = raw.makefile("rb")
        f.readline()
        raw.sendall(b"EHLO c.test\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        raw.sendall(b"STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n")
        self.assertTrue(f.readline().startswith(b"220"))
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        tls = ctx.wrap_socket(raw, server_hostname="mail.example.com")
        tf = tls.makefile("rb")
        tls.sendall(b"EHLO c.test\r\n")
        while not tf.readline().startswith(b"250 "):
            pass
        tls.sendall(b"RCPT TO:<bob@example.com>\r\n")
        reply = tf.readline()
        self.assertTrue(reply.startswith(b"503"), reply)  # the injected MAIL FROM was not executed
        tls.close()
        self.assertIn("starttls-pipelining", self.gw.output())


if __name__ == "__main__":
    unittest.main()
