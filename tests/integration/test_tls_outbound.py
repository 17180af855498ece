"""TLS outbound: opportunistic STARTTLS to a STARTTLS-capable receiver (a second gatehouse),
the STARTTLS required list (no message in clear; DSN at expiry), TLS-enforced domains (bounce
at once with 503 5.7.0 encryption too weak 0 less than 112), a broken TLS peer gets the message
in clear once and lands on the one-hour fallback list, and the STARTTLS whitelist."""
import email
import email.policy
import smtplib
import unittest

from harness import Dnsmasq, FakeSmtp, Gateway, SmtpSink, free_port_on, wait_until


def dsn_text(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return "\n".join(str(p.get_payload() if p.is_multipart() else p.get_content())
                     for p in msg.iter_parts())


class TlsOutboundTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port_on("127.0.0.6", "127.0.0.7", "127.0.0.8")
        cls.dns = Dnsmasq(
            "--local=/test/",
            "--mx-host=tls.test,mx.tls.test,10", "--host-record=mx.tls.test,127.0.0.6",
            "--mx-host=plain.test,mx.plain.test,10", "--host-record=mx.plain.test,127.0.0.7",
            "--mx-host=broken.test,mx.broken.test,10", "--host-record=mx.broken.test,127.0.0.8",
        ).start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.cleanup()

    def setUp(self):
        self.cleanups = []
        # The receiving side: a second gatehouse with STARTTLS, relaying tls.test to its sink.
        self.rsink = self.track(SmtpSink().start())
        self.receiver = Gateway()
        self.cleanups.append(self.receiver.cleanup)
        self.receiver.cli("config", "set", "smtp.listen", f"127.0.0.6:{self.port}")
        self.receiver.port = self.port
        self.receiver.add_domain("tls.test", self.rsink)
        self.receiver.cli("cert", "create", "--host", "mx.tls.test", "--org", "Receiver", "--key", "ec:p256")
        self.receiver.cli("config", "set", "tls.enabled", "on")
        self.receiver.start_host = "127.0.0.6"
        self.start_receiver()
        self.plain = self.track(SmtpSink(host="127.0.0.7", port=self.port).start())
        self.home = self.track(SmtpSink().start())
        self.gw = Gateway()
        self.cleanups.append(self.gw.cleanup)
        self.gw.add_domain("example.com", self.home)
        self.gw.cli("relay", "allow", "127.0.0.0/8")
        self.gw.cli("config", "set", "dns.servers", f"127.0.0.1:{self.dns.port}")
        self.gw.cli("config", "set", "delivery.mx_port", str(self.port))
        self.gw.cli("config", "set", "tls.outbound_starttls", "on")
        self.gw.start()

    def start_receiver(self):
        import os
        import subprocess
        from harness import BIN
        out = open(self.receiver.out_path, "ab")
        self.receiver.proc = subprocess.Popen([BIN, "--data-dir", self.receiver.dir, "run"], stdout=out,
                                              stderr=subprocess.STDOUT)
        out.close()
        import socket

        def up():
            try:
                socket.create_connection(("127.0.0.6", self.port), timeout=0.5).close()
                return True
            except OSError:
                return False

        wait_until(up, what="the receiving gatehouse")

    def track(self, sink):
        self.cleanups.append(sink.cleanup)
        return sink

    def tearDown(self):
        for c in reversed(self.cleanups):
            c()

    def send(self, rcpt):
        with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=10) as s:
            self.assertEqual(s.sendmail("alice@example.com", [rcpt], b"Subject: tls\r\n\r\nsecret\r\n"), {})

    def test_opportunistic_starttls_to_capable_receiver(self):
        self.send("bob@tls.test")
        msg = wait_until(lambda: self.rsink.messages(), timeout=30, what="delivery over TLS")[0]
        self.assertIn(b"with ESMTPS", msg)
        self.assertIn("tls-established peer=mx.tls.test", self.gw.output())
        self.assertIn('subject="/O=Receiver/CN=mx.tls.test"', self.gw.output())

    def test_required_list_without_starttls_sends_nothing_and_bounces_with_reason(self):
        self.gw.cli("list", "add", "starttls-required", "mx.plain.test")
        self.gw.cli("config", "set", "delivery.max_queue_lifetime", "4")
        import time
        time.sleep(1.0)
        self.send("carol@plain.test")
        dsns = wait_until(lambda: self.home.messages(), timeout=40, what="the DSN after expiry")
        self.assertEqual(self.plain.messages(), [], "nothing may go out in clear text")
        text = dsn_text(dsns[0])
        self.assertIn("TLS is required", text)

    def test_enforced_domain_bounces_at_once(self):
        self.gw.cli("list", "add", "tls-domains", "plain.test")
        import time
        time.sleep(1.0)
        self.send("dave@plain.test")
        dsns = wait_until(lambda: self.home.messages(), timeout=20, what="the immediate DSN")
        self.assertEqual(self.plain.messages(), [])
        self.assertIn("503 5.7.0 encryption too weak 0 less than 112", dsn_text(dsns[0]))

    def test_broken_tls_peer_gets_message_in_clear_once_and_is_listed(self):
        fake = FakeSmtp(host="127.0.0.8", port=self.port).start()
        self.cleanups.append(fake.cleanup)
        self.send("erin@broken.test")
        wait_until(lambda: fake.messages, timeout=30, what="delivery in clear after the failed handshake")
        self.assertEqual(fake.starttls_attempts, 1)
        self.assertIn("tls-fallback peer=mx.broken.test", self.gw.output())
        self.send("frank@broken.test")  # on the one-hour list now: no STARTTLS at all
        wait_until(lambda: len(fake.messages) >= 2, timeout=30, what="second delivery")
        self.assertEqual(fake.starttls_attempts, 1)

    def test_whitelisted_host_gets_no_starttls(self):
        self.gw.cli("list", "add", "starttls-whitelist", "mx.tls.test")
        import time
        time.sleep(1.0)
        self.send("gina@tls.test")
        msg = wait_until(lambda: self.rsink.messages(), timeout=30, what="delivery")[0]
        self.assertNotIn(b"with ESMTPS", msg)
        self.assertIn(b"with ESMTP id", msg)


if __name__ == "__main__":
    unittest.main()
