"""Integration-test harness: starts the real gatehouse binary on loopback with a temporary data
directory, and Postfix's smtp-sink (extracted by scripts/install-deps into build/tools) as the
downstream server. Every server is bound to 127.0.0.1 on a free port and stopped by the test;
every wait is bounded."""
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BIN = os.environ.get("GATEHOUSE_BIN", os.path.join(os.path.dirname(__file__), "../../build/src/app/gatehouse"))
TOOLS = os.environ.get("GATEHOUSE_TOOLS", os.path.join(os.path.dirname(__file__), "../../build/tools"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=15.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Gateway:
    """One gatehouse process with its own data directory."""

    def __init__(self, data_dir=None):
        self.dir = data_dir or tempfile.mkdtemp(prefix="gh-it-")
        self.port = free_port()
        self.proc = None
        self.out_path = os.path.join(self.dir, "stdout.log")
        self.cli("config", "set", "smtp.listen", f"127.0.0.1:{self.port}")
        self.cli("config", "set", "smtp.hostname", "gw.test")
        self.cli("config", "set", "delivery.retry_min", "1")
        self.cli("config", "set", "delivery.retry_max", "2")
        self.cli("config", "set", "delivery.connect_timeout", "5")
        self.cli("config", "set", "delivery.command_timeout", "10")
        self.cli("config", "set", "smtp.shutdown_grace", "3")

    def cli(self, *args, check=True):
        r = subprocess.run([BIN, "--data-dir", self.dir, *args], capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise AssertionError(f"gatehouse {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
        return r

    def start(self):
        out = open(self.out_path, "ab")
        self.proc = subprocess.Popen([BIN, "--data-dir", self.dir, "run"], stdout=out, stderr=subprocess.STDOUT)
        out.close()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"gatehouse exited with {self.proc.returncode}: {self.output()}")
            return port_open(self.port)

        wait_until(ready, what="gatehouse to listen")
        return self

    def output(self):
        try:
            with open(self.out_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError("gatehouse did not stop within the deadline")
        return self.proc.returncode if self.proc else None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def add_domain(self, name, sink, *extra):
        self.cli("domain", "add", name, "--mail-server", f"127.0.0.1:{sink.port}", *extra)

    def cleanup(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class SmtpSink:
    """Postfix smtp-sink dumping every transaction into a directory."""

    def __init__(self, *extra, port=None, host="127.0.0.1"):
        self.port = port or free_port()
        self.host = host
        self.extra = list(extra)
        self.dir = tempfile.mkdtemp(prefix="gh-sink-")
        os.chmod(self.dir, 0o777)
        self.proc = None

    def start(self):
        env = dict(os.environ, LD_LIBRARY_PATH=TOOLS)
        args = [os.path.join(TOOLS, "smtp-sink")]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]
        args += ["-d", os.path.join(self.dir, "m."), *self.extra, f"{self.host}:{self.port}", "256"]
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(lambda: port_open(self.port, self.host) or self.proc.poll() is not None,
                   what="smtp-sink to listen")
        if self.proc.poll() is not None:
            raise AssertionError(f"smtp-sink failed: {self.proc.stderr.read().decode()}")
        return self

    def messages(self):
        """Complete transactions only: smtp-sink writes a dump file in pieces (envelope lines at
        MAIL/RCPT, the data at the end), so a file counts once its data is there and it has not
        changed for 100 ms."""
        out = []
        now = time.time()
        for p in sorted(glob.glob(os.path.join(self.dir, "m.*"))):
            try:
                if now - os.path.getmtime(p) < 0.1:
                    continue
                with open(p, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            if b"Received:" in data:
                out.append(data)
        return out

    def message_with(self, needle, timeout=20):
        """The first complete message that contains `needle` (bytes), waiting up to `timeout`."""
        def find():
            return next((m for m in self.messages() if needle in m), None)
        return wait_until(find, timeout=timeout, what=f"delivery of a message with {needle!r}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def smtp_dialogue(port, lines, timeout=10.0):
    """Sends raw bytes (a list of bytes objects, each written separately) and returns everything
    the server answered until it closes the connection or goes quiet."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        s.settimeout(timeout)
        out += s.recv(4096)
        for chunk in lines:
            s.sendall(chunk)
            time.sleep(0.05)
        s.settimeout(1.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = s.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            out += data
    finally:
        s.close()
    return out.decode("utf-8", errors="replace")


class Dnsmasq:
    """dnsmasq serving a few MX/A/TXT records on 127.0.0.1 and a free port (UDP and TCP).
    `args` are extra dnsmasq options such as --mx-host=..., --host-record=..., --txt-record=...,
    --dns-rr=NAME,15,HEX (raw records, e.g. a null MX)."""

    def __init__(self, *args):
        self.port = free_port()
        self.args = list(args)
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix="gh-dnsmasq-", suffix=".log", delete=False)

    def start(self):
        cmd = ["/usr/sbin/dnsmasq", "--keep-in-foreground", "--no-daemon", f"--port={self.port}",
               "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
               "--conf-file=/dev/null", "--log-facility=-", "--user=root", "--group=root", *self.args]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"dnsmasq exited: {open(self.log.name).read()}")
            return port_open(self.port)

        wait_until(ready, what="dnsmasq to listen")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def cleanup(self):
        self.stop()
        self.log.close()
        os.unlink(self.log.name)


def free_port_on(*hosts):
    """A TCP port that is free on every given loopback address."""
    for _ in range(50):
        p = free_port()
        ok = True
        for h in hosts:
            with socket.socket() as s:
                try:
                    s.bind((h, p))
                except OSError:
                    ok = False
                    break
        if ok:
            return p
    raise AssertionError("no common free port")


class FakeSmtp:
    """A minimal SMTP receiver for cases real servers cannot be made to do: it advertises
    STARTTLS but answers the handshake with garbage (a broken TLS peer), then accepts mail in
    plain text. Records every message (envelope + data). Bound to a loopback address."""

    def __init__(self, host="127.0.0.1", port=None, broken_tls=True):
        import threading
        self.host, self.port = host, port or free_port()
        self.broken_tls = broken_tls
        self.messages, self.starttls_attempts = [], 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, self.port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _serve(self):
        import threading
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        conn.settimeout(10)
        f = conn.makefile("rb")
        try:
            conn.sendall(b"220 fake.test ESMTP\r\n")
            env = {"rcpts": []}
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.strip().upper()
                if cmd.startswith(b"EHLO"):
                    conn.sendall(b"250-fake.test\r\n" + (b"250-STARTTLS\r\n" if self.broken_tls else b"") +
                                 b"250 PIPELINING\r\n")
                elif cmd == b"STARTTLS":
                    with self.lock:
                        self.starttls_attempts += 1
                    conn.sendall(b"220 go ahead\r\n")
                    f.read(5)  # the client's ClientHello starts arriving
                    conn.sendall(b"this is not TLS\r\n" * 4)
                    return
                elif cmd.startswith(b"MAIL"):
                    env = {"from": line.strip(), "rcpts": []}
                    conn.sendall(b"250 ok\r\n")
                elif cmd.startswith(b"RCPT"):
                    env["rcpts"].append(line.strip())
                    conn.sendall(b"250 ok\r\n")
                elif cmd == b"DATA":
                    conn.sendall(b"354 go\r\n")
                    data = b""
                    while True:
                        l2 = f.readline()
                        if not l2 or l2 == b".\r\n":
                            break
                        data += l2
                    env["data"] = data
                    with self.lock:
                        self.messages.append(env)
                    conn.sendall(b"250 queued\r\n")
                elif cmd == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")
        except OSError:
            return
        finally:
            conn.close()

    def cleanup(self):
        self.stopping = True
        self.thread.join(timeout=5)
        self.sock.close()


def txt_strings(record, size=255):
    """A TXT record as RFC 1035 character-strings of at most 255 bytes."""
    return [record[i:i + size] for i in range(0, len(record), size)] or [""]


def dkim_record_from_show(output):
    """The TXT record that `gatehouse dkim show` tells the admin to publish, joined."""
    import re
    for line in output.splitlines():
        if "IN TXT" in line:
            return "".join(re.findall(r'"([^"]*)"', line))
    raise AssertionError(f"no TXT record in: {output}")


def can_unshare():
    """True if this machine lets us make a private network + mount namespace (root, no seccomp
    filter against unshare)."""
    r = subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True, timeout=10)
    return r.returncode == 0


def opendkim_verify(message, txt_records):
    """Verifies `message` (bytes) with OpenDKIM's opendkim-testmsg. OpenDKIM resolves through
    /etc/resolv.conf on port 53, so it runs in a private network and mount namespace where
    resolv.conf names a dnsmasq on that namespace's own 127.0.0.1:53 serving `txt_records`
    ({name: record}); nothing outside the namespace is touched, and dnsmasq is stopped with it.
    Returns (exit code, output); opendkim-testmsg prints nothing and exits 0 when every signature
    verifies."""
    work = tempfile.mkdtemp(prefix="gh-odk-")
    try:
        with open(os.path.join(work, "msg"), "wb") as f:
            f.write(message)
        with open(os.path.join(work, "resolv.conf"), "w") as f:
            f.write("nameserver 127.0.0.1\noptions attempts:1 timeout:2\n")
        txt = " ".join("'--txt-record=%s,%s'" % (name, ",".join(txt_strings(rec)))
                       for name, rec in txt_records.items())
        script = f"""
set -e
ip link set lo up
mount --bind {work}/resolv.conf /etc/resolv.conf
/usr/sbin/dnsmasq --keep-in-foreground --no-daemon --port=53 --listen-address=127.0.0.1 --bind-interfaces \\
  --no-resolv --no-hosts --conf-file=/dev/null --user=root --group=root {txt} >{work}/dnsmasq.log 2>&1 &
dns=$!
trap 'kill $dns 2>/dev/null; wait $dns 2>/dev/null || true' EXIT
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/53) 2>/dev/null && break; sleep 0.05; done
set +e
/usr/sbin/opendkim-testmsg -t {work} < {work}/msg
"""
        r = subprocess.run(["unshare", "--net", "--mount", "bash", "-c", script], capture_output=True, text=True,
                           timeout=60)
        return r.returncode, (r.stdout + r.stderr).strip()
    finally:
        shutil.rmtree(work, ignore_errors=True)


DKIMPY_VERIFY = r"""
import sys, dkim
msg = sys.stdin.buffer.read()
records = dict(line.split(" ", 1) for line in sys.argv[1:])
def dns(name, timeout=5):
    return records.get(name.decode().rstrip("."), "").encode()
ok = dkim.verify(msg, dnsfunc=dns)
print("pass" if ok else "fail")
"""


def dkimpy_verify(message, txt_records):
    """dkimpy (python3-dkim) verdict on the first DKIM-Signature of `message`: "pass" or "fail".
    Keys come from `txt_records` ({name: record}), not from the network."""
    args = [f"{name} {rec}" for name, rec in txt_records.items()]
    r = subprocess.run(["/usr/bin/python3", "-c", DKIMPY_VERIFY, *args], input=message, capture_output=True,
                       timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"dkimpy failed: {r.stderr.decode(errors='replace')}")
    return r.stdout.decode().strip()


DKIMPY_SIGN = r"""
import sys, dkim
msg = sys.stdin.buffer.read()
key = open(sys.argv[1], "rb").read()
sig = dkim.sign(msg, sys.argv[2].encode(), sys.argv[3].encode(), key, canonicalize=(b"relaxed", b"relaxed"),
                signature_algorithm=sys.argv[4].encode(), include_headers=[b"from", b"to", b"subject"])
sys.stdout.buffer.write(sig + msg)
"""


def dkimpy_sign(message, key_file, selector, domain, algorithm):
    """`message` signed by dkimpy with the key in `key_file` (PEM for RSA; base64 seed for ed25519)."""
    r = subprocess.run(["/usr/bin/python3", "-c", DKIMPY_SIGN, key_file, selector, domain, algorithm],
                       input=message, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"dkimpy sign failed: {r.stderr.decode(errors='replace')}")
    return r.stdout


def opendkim_sign(message, key_file, selector, domain, algorithm):
    """`message` signed by OpenDKIM itself: the opendkim filter (extracted into build/tools by
    scripts/install-deps) in test mode (-t), relaxed/relaxed, with the PEM key in `key_file`
    (RSA or Ed25519) and `algorithm` rsa-sha256 or ed25519-sha256. Returns the signed message."""
    work = tempfile.mkdtemp(prefix="gh-odksign-")
    try:
        msg_path = os.path.join(work, "msg")
        with open(msg_path, "wb") as f:
            f.write(message)
        conf = os.path.join(work, "opendkim.conf")
        with open(conf, "w") as f:
            f.write(f"Mode s\nDomain {domain}\nSelector {selector}\nKeyFile {key_file}\n"
                    f"Canonicalization relaxed/relaxed\nSignatureAlgorithm {algorithm}\n"
                    "Syslog no\nRequireSafeKeys no\n")
        r = subprocess.run([os.path.join(TOOLS, "opendkim"), "-x", conf, "-t", msg_path], capture_output=True,
                           timeout=60)
        out = (r.stdout + r.stderr).decode(errors="replace").replace("\r", "")
        lines = out.split("\n")
        start = next((i for i, l in enumerate(lines) if l.startswith("DKIM-Signature:")), None)
        if r.returncode != 0 or start is None:
            raise AssertionError(f"opendkim did not sign ({r.returncode}): {out}")
        field = [lines[start]]
        for l in lines[start + 1:]:
            if not l or l[0] not in " \t":
                break
            field.append(l)
        return ("\r\n".join(field) + "\r\n").encode() + message
    finally:
        shutil.rmtree(work, ignore_errors=True)
