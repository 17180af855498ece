"""Core gateway end to end: swaks and smtplib send to a local domain, smtp-sink receives, the
test checks the delivered bytes; relay policy; size limit; smuggling; config changes while
running; retries and permanent failures; limits; graceful stop."""
import os
import signal
import smtplib
import socket
import subprocess
import time
import unittest

from harness import Gateway, SmtpSink, smtp_dialogue, wait_until


class CoreGatewayTest(unittest.TestCase):
    def setUp(self):
        self.sink = SmtpSink().start()
        self.gw = Gateway()
        self.gw.add_domain("example.com", self.sink)
        self.gw.start()

    def tearDown(self):
        self.gw.cleanup()
        self.sink.cleanup()

    def wait_messages(self, n, sink=None, timeout=20):
        sink = sink or self.sink
        return wait_until(lambda: len(sink.messages()) >= n and sink.messages(), timeout=timeout,
                          what=f"{n} message(s) at the sink")

    def test_swaks_to_local_domain_is_relayed_byte_for_byte(self):
        body = "Line one\r\n.leading dot\r\nLast line"
        r = subprocess.run(["swaks", "--server", f"127.0.0.1:{self.gw.port}", "--from", "alice@sender.org",
                            "--to", "bob@example.com", "--header", "Subject: swaks test", "--body", body],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"250 2\.0\.0 Ok: queued as [0-9a-f]{16}")
        msg = self.wait_messages(1)[0].replace(b"\r\n", b"\n")
        self.assertIn(b"X-Mail-Args: <alice@sender.org>", msg)
        self.assertIn(b"X-Rcpt-Args: <bob@example.com>", msg)
        self.assertIn(b"Received: from ", msg)
        self.assertIn(b"by gw.test (Gatehouse) with ESMTP id ", msg)
        self.assertIn(b"Subject: swaks test", msg)
        self.assertIn(b"Line one\n.leading dot\nLast line", msg)

    def test_smtplib_several_recipients_share_one_delivery(self):
        with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=10) as s:
            code, _ = s.ehlo("client.test")
            self.assertEqual(code, 250)
            self.assertTrue(s.has_extn("pipelining"))
            self.assertTrue(s.has_extn("chunking"))
            self.assertTrue(s.has_extn("smtputf8"))
            refused = s.sendmail("a@sender.org", ["one@example.com", "two@example.com"],
                                 b"Subject: two\r\n\r\nhello both\r\n")
            self.assertEqual(refused, {})
        msgs = self.wait_messages(1)
        time.sleep(0.3)
        msgs = self.sink.messages()
        self.assertEqual(len(msgs), 1, "both recipients should travel in one transaction")
        m = msgs[0]
        self.assertIn(b"X-Rcpt-Args: <one@example.com>", m)
        self.assertIn(b"X-Rcpt-Args: <two@example.com>", m)
        self.assertIn(b"hello both", m)

    def test_open_relay_refused_then_allowed_without_restart(self):
        with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=10) as s:
            s.ehlo("client.test")
            s.mail("spammer@bad.example")
            code, text = s.rcpt("victim@elsewhere.net")
            self.assertEqual(code, 554)
            self.assertIn(b"5.7.1", text)
            self.assertIn(b"Relay access denied", text)
        self.gw.cli("relay", "allow", "127.0.0.0/8")

        def relay_ok():
            with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=10) as s:
                s.ehlo("client.test")
                s.mail("app@inside.example")
                code, _ = s.rcpt("someone@elsewhere.net")
                s.rset()
                return code == 250

        wait_until(relay_ok, timeout=5, interval=0.2, what="relay permission to apply")
        out = self.gw.cli("relay", "list").stdout
        self.assertIn("127.0.0.0/8", out)

    def test_oversize_message_refused(self):
        self.gw.cli("config", "set", "smtp.max_message_size", "2048")

        def size_applied():
            with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=10) as s:
                s.ehlo("client.test")
                return s.esmtp_features.get("size") == "2048"

        wait_until(size_applied, timeout=5, interval=0.2, what="new size limit")
        with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=10) as s:
            s.ehlo("client.test")
            code, text = s.mail("a@sender.org", ["SIZE=100000"])
            self.assertEqual(code, 552)
            self.assertIn(b"5.3.4", text)
            s.rset()
            s.mail("a@sender.org")
            s.rcpt("bob@example.com")
            code, text = s.data(b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n" * 0 + (b"y" * 78 + b"\r\n") * 100)
            self.assertEqual(code, 552)
            self.assertIn(b"5.3.4", text)
        time.sleep(0.5)
        self.assertEqual(self.sink.messages(), [])

    def test_smuggling_bare_lf_dot_never_ends_data(self):
        smuggled = (b"Subject: first\r\n\r\nbody\n.\nMAIL FROM:<evil@bad.example>\r\n"
                    b"RCPT TO:<bob@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n")
        out = smtp_dialogue(self.gw.port, [b"EHLO c.test\r\n", b"MAIL FROM:<a@sender.org>\r\n",
                                           b"RCPT TO:<bob@example.com>\r\n", b"DATA\r\n", smuggled,
                                           b"QUIT\r\n"])
        self.assertIn("550 5.5.2", out)
        self.assertNotIn("queued as", out)
        time.sleep(0.5)
        self.assertEqual(self.sink.messages(), [])

    def test_cr_lf_dot_cr_variant_is_not_end_of_data(self):
        data = b"Subject: x\r\n\r\nbody\r\n.\rMAIL FROM:<e@bad.example>\r\n.\r\n"
        out = smtp_dialogue(self.gw.port, [b"EHLO c.test\r\nMAIL FROM:<a@sender.org>\r\nRCPT TO:<bob@example.com>\r\n",
                                           b"DATA\r\n", data, b"QUIT\r\n"])
        self.assertIn("550 5.5.2", out)
        self.assertEqual(out.count("queued as"), 0)

    def test_pipelined_commands_in_one_packet(self):
        out = smtp_dialogue(self.gw.port, [
            b"EHLO c.test\r\nMAIL FROM:<a@sender.org>\r\nRCPT TO:<x@example.com>\r\nRCPT TO:<y@nowhere.net>\r\nDATA\r\n",
            b"Subject: p\r\n\r\npipelined\r\n.\r\nQUIT\r\n"])
        self.assertIn("250 2.1.0", out)
        self.assertIn("554 5.7.1", out)
        self.assertIn("354 ", out)
        self.assertRegex(out, r"250 2\.0\.0 Ok: queued as [0-9a-f]{16}")
        self.assertIn("221 2.0.0", out)
        msg = self.wait_messages(1)[0]
        self.assertIn(b"X-Rcpt-Args: <x@example.com>", msg)
        self.assertNotIn(b"nowhere.net>", msg.split(b"Received:")[0])

    def test_bdat_chunking(self):
        out = smtp_dialogue(self.gw.port, [
            b"EHLO c.test\r\nMAIL FROM:<a@sender.org>\r\nRCPT TO:<z@example.com>\r\n",
            b"BDAT 18\r\nSubject: chunk\r\n\r\n", b"BDAT 7 LAST\r\nhello\r\n", b"QUIT\r\n"])
        self.assertIn("250 2.0.0 18 octets received", out)
        self.assertRegex(out, r"250 2\.0\.0 Ok: queued as [0-9a-f]{16}")
        msg = self.wait_messages(1)[0]
        self.assertIn(b"Subject: chunk", msg)
        self.assertIn(b"hello", msg)

    def test_downstream_down_then_up_is_retried(self):
        self.sink.stop()
        with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=10) as s:
            s.sendmail("a@sender.org", ["later@example.com"], b"Subject: retry\r\n\r\nretry me\r\n")
        wait_until(lambda: "deferred to=<later@example.com>" in self.gw.output(), what="a deferral in the log")
        sink2 = SmtpSink(port=self.sink.port).start()
        try:
            msgs = self.wait_messages(1, sink=sink2, timeout=30)
            self.assertIn(b"retry me", msgs[0])
        finally:
            sink2.cleanup()

    def test_permanent_failure_is_recorded(self):
        bad = SmtpSink("-f", "RCPT", "-B", "550 5.1.1 No such user").start()
        try:
            self.gw.cli("domain", "add", "rejecting.test", "--mail-server", f"127.0.0.1:{bad.port}")
            wait_until(lambda: self._rcpt_code("u@rejecting.test") == 250, timeout=5, interval=0.2,
                       what="new domain to apply")
            with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=10) as s:
                s.sendmail("a@sender.org", ["u@rejecting.test"], b"Subject: nope\r\n\r\nx\r\n")
            wait_until(lambda: "failed to=<u@rejecting.test>" in self.gw.output(), what="permanent failure log")
            self.assertIn("550 5.1.1 No such user", self.gw.output())
        finally:
            bad.cleanup()

    def _rcpt_code(self, rcpt):
        with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=10) as s:
            s.ehlo("client.test")
            s.mail("a@sender.org")
            code, _ = s.rcpt(rcpt)
            s.rset()
            return code

    def test_per_ip_connection_limit(self):
        self.gw.cli("config", "set", "smtp.max_connections_per_ip", "2")
        time.sleep(1.0)
        socks = []
        try:
            for _ in range(2):
                c = socket.create_connection(("127.0.0.1", self.gw.port), timeout=5)
                self.assertTrue(c.recv(1024).startswith(b"220"))
                socks.append(c)
            third = socket.create_connection(("127.0.0.1", self.gw.port), timeout=5)
            socks.append(third)
            self.assertTrue(third.recv(1024).startswith(b"421 4.7.0"))
        finally:
            for c in socks:
                c.close()

    def test_command_timeout_says_421(self):
        self.gw.cli("config", "set", "smtp.command_timeout", "1")
        time.sleep(1.0)
        c = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        try:
            data = b""
            deadline = time.monotonic() + 8
            while b"421" not in data and time.monotonic() < deadline:
                chunk = c.recv(1024)
                if not chunk:
                    break
                data += chunk
            self.assertIn(b"421 4.4.2", data)
        finally:
            c.close()

    def test_sigterm_says_421_to_idle_session_and_exits_cleanly(self):
        c = socket.create_connection(("127.0.0.1", self.gw.port), timeout=10)
        try:
            self.assertTrue(c.recv(1024).startswith(b"220"))
            self.gw.proc.send_signal(signal.SIGTERM)
            data = c.recv(1024)
            self.assertIn(b"421 4.3.2", data)
        finally:
            c.close()
        self.assertEqual(self.gw.stop(), 0)

    def test_vrfy_help_noop_rset(self):
        out = smtp_dialogue(self.gw.port, [b"EHLO c.test\r\n", b"VRFY bob\r\n", b"HELP\r\n", b"NOOP\r\n",
                                           b"RSET\r\n", b"BOGUS\r\n", b"QUIT\r\n"])
        self.assertIn("252 2.5.2", out)
        self.assertIn("214 2.0.0", out)
        self.assertIn("500 5.5.2", out)
        self.assertIn("221 2.0.0", out)


if __name__ == "__main__":
    unittest.main()
