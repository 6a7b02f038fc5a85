"""Isolation of every worker (autograder/channel/sandbox/isolation.py, landlock.py): each attack
for real.

Each attack is a function of a small submission written under ``tmp_path`` and called through a
real worker. Where a layer is what makes the attack fail, the same attack is also run with that
layer off (``Limits(namespaces=False, sandbox=False)``) and must then succeed: the assertion can
fail. A machine whose kernel refuses a layer says so: the test checks the worker's report of the
missing layer (its reason) and skips with that reason, never passes silently.
"""
import os
import resource
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from autograder.channel.proxy import Submission
from autograder.channel.transport import Limits

SANDBOX = Path(__file__).resolve().parents[3] / "autograder" / "channel" / "sandbox"
REPO = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"),
                                 reason="the namespaces and seccomp layers are Linux-only")]

ATTACKS = '''
import ctypes, os, resource, signal, socket, stat, struct, time


def detach(marker):
    """A grandchild in a session of its own, holding ``marker`` open for 300 s."""
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            fh = open(marker, "w")
            time.sleep(300)
        os._exit(0)
    os.wait()
    return "detached"


def lower_limit(pid):
    try:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (16, 16))
    except OSError as exc:
        return type(exc).__name__
    return "lowered"


def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(b"leak", ("127.0.0.1", port))
    except OSError as exc:
        return type(exc).__name__
    return "sent"


def tcp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"leak")
    except OSError as exc:
        return type(exc).__name__
    return "connected"


def unix(path):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(b"leak")
    except OSError as exc:
        return type(exc).__name__
    return "connected"


def unix_datagram(path):
    """The way round a filter of socket() alone: a socketpair, then sendto the host's path."""
    try:
        one, _ = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        one.sendto(b"leak", path)
    except OSError as exc:
        return type(exc).__name__
    return "sent"


def make_nodes():
    out = {}
    for name, make in (("fifo", lambda: os.mkfifo("fifo")),
                       ("null-device", lambda: os.mknod("null", stat.S_IFCHR | 0o666,
                                                        os.makedev(1, 3))),
                       ("disk-device", lambda: os.mknod("disk", stat.S_IFBLK | 0o600,
                                                        os.makedev(8, 0)))):
        try:
            make()
            out[name] = "made"
        except OSError as exc:
            out[name] = type(exc).__name__
    return out


def identity():
    libc = ctypes.CDLL(None, use_errno=True)
    header = ctypes.create_string_buffer(struct.pack("<Ii", 0x20080522, 0))
    data = ctypes.create_string_buffer(24)
    libc.capget(header, data)
    effective, permitted, inheritable = struct.unpack("<III", data.raw[:12])
    bounding = [cap for cap in range(64) if libc.prctl(23, cap, 0, 0, 0) == 1]
    return {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
            "groups": os.getgroups(), "effective": effective, "permitted": permitted,
            "bounding": bounding, "no_new_privs": libc.prctl(39, 0, 0, 0, 0)}


def processes():
    try:
        names = os.listdir("/proc")
    except OSError as exc:
        return type(exc).__name__
    out = {}
    for name in names:
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as fh:
                    out[name] = fh.read().decode("utf-8", "replace")
            except OSError:
                out[name] = "?"
    return out


def own_argv_and_environ():
    with open("/proc/self/cmdline", "rb") as fh:
        cmdline = fh.read().decode("utf-8", "replace")
    with open("/proc/self/environ", "rb") as fh:
        environ = fh.read().decode("utf-8", "replace")
    return cmdline, environ
'''

FULL = Limits(call_seconds=30)
NO_LANDLOCK = Limits(call_seconds=30, sandbox=False)          # namespaces alone
NOTHING = Limits(call_seconds=30, sandbox=False, namespaces=False)  # the control: no layers


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("isolation")
    (root / "mytorch").mkdir()
    (root / "mytorch" / "__init__.py").write_text("")
    (root / "mytorch" / "attacks.py").write_text(textwrap.dedent(ATTACKS))
    return root


@pytest.fixture
def worker(folder):
    """``worker(limits)`` -> a started Submission on the attack folder (closed after the test)."""
    started = []

    def start(limits=FULL):
        sub = Submission(folder, limits)
        started.append(sub)
        sub.function("mytorch.attacks.identity")  # boots it; the greeting is now known
        return sub

    yield start
    for sub in started:
        sub.close()


def attack(sub, name, *args):
    return sub.function(f"mytorch.attacks.{name}")(*args)


def requires(sub, *layers):
    """Skip, naming the worker's own reason, when a layer is missing; never pass silently."""
    report = sub.worker.info["sandbox"]
    for layer in layers:
        if layer not in report["active"]:
            why = report["missing"].get(layer)
            assert why, f"{layer} is neither active nor reported missing: {report}"
            pytest.skip(f"{layer} is not available here: {why}")


def holders(path):
    """Pids of the host's processes holding ``path`` open (our own user's, at least)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                    found.append(int(pid))
            except OSError:
                pass
    return found


def wait_until(predicate, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# --------------------------------------------------------------------------- the report

def test_the_greeting_lists_every_layer(worker):
    report = worker().worker.info["sandbox"]
    layers = {"user-ns", "pid-ns", "net-ns", "ipc-ns", "own-proc", "rlimits", "landlock",
              "caps-dropped", "no-new-privs", "seccomp", "unprivileged"}
    assert set(report["active"]) | set(report["missing"]) == layers
    assert not set(report["active"]) & set(report["missing"])
    assert all(isinstance(why, str) and why for why in report["missing"].values())
    assert set(report["weak"]) <= set(report["missing"])


# --------------------------------------------------------------------------- processes

@pytest.mark.parametrize("layers", ["full", "namespaces only"])
def test_a_setsid_child_dies_with_its_worker(worker, folder, layers):
    sub = worker(FULL if layers == "full" else NO_LANDLOCK)
    requires(sub, "pid-ns")
    marker = folder / f"detached-{layers.replace(' ', '-')}.txt"
    assert attack(sub, "detach", str(marker)) == "detached"
    assert wait_until(lambda: holders(marker)), "the detached child never started"
    sub.close()
    assert wait_until(lambda: not holders(marker)), f"still alive: {holders(marker)}"


def test_without_the_pid_namespace_a_setsid_child_survives(worker, folder):
    sub = worker(NOTHING)
    marker = folder / "detached-control.txt"
    attack(sub, "detach", str(marker))
    assert wait_until(lambda: holders(marker))
    sub.close()
    time.sleep(0.5)
    survivors = holders(marker)
    for pid in survivors:  # the control's survivor, killed by hand
        os.kill(pid, 9)
    assert survivors, "the control should show what the PID namespace prevents"


@pytest.fixture
def bystander():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


def test_prlimit_on_other_processes_fails(worker, bystander):
    sub = worker(NO_LANDLOCK)
    requires(sub, "pid-ns")
    other = worker(FULL)
    before = resource.prlimit(bystander.pid, resource.RLIMIT_NOFILE)
    mine = resource.getrlimit(resource.RLIMIT_NOFILE)
    for pid in (bystander.pid, os.getpid(), other.worker.proc.pid):
        assert attack(sub, "lower_limit", pid) in ("ProcessLookupError", "PermissionError")
    assert resource.prlimit(bystander.pid, resource.RLIMIT_NOFILE) == before
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == mine
    assert attack(other, "identity")["uid"] == attack(sub, "identity")["uid"]  # still served
    control = worker(NOTHING)
    assert attack(control, "lower_limit", bystander.pid) == "lowered"
    assert resource.prlimit(bystander.pid, resource.RLIMIT_NOFILE) == (16, 16)


def test_proc_shows_only_the_workers_processes(worker):
    sub = worker(NO_LANDLOCK)
    requires(sub, "pid-ns", "own-proc")
    seen = attack(sub, "processes")
    assert sorted(seen, key=int) == ["1", "2"], seen  # its namespace's PID 1, and itself
    assert not any("pytest" in cmdline for cmdline in seen.values())
    assert attack(worker(FULL), "processes") == "PermissionError"  # Landlock: no /proc at all
    control = attack(worker(NOTHING), "processes")
    assert len(control) > 2 and str(os.getpid()) in control


# --------------------------------------------------------------------------- network

@pytest.fixture
def udp_listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.5)
    yield s
    s.close()


def received(listener):
    try:
        return listener.recv(100)
    except (socket.timeout, BlockingIOError):
        return None


def test_udp_to_the_host_fails(worker, udp_listener):
    sub = worker(FULL)
    requires(sub, "net-ns")
    port = udp_listener.getsockname()[1]
    assert attack(sub, "udp", port) == "OSError"  # network unreachable: no interface is up
    assert received(udp_listener) is None
    assert attack(worker(NOTHING), "udp", port) == "sent"
    assert received(udp_listener) == b"leak"


def test_tcp_to_the_host_fails_even_without_landlock(worker):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        sub = worker(NO_LANDLOCK)
        requires(sub, "net-ns")
        assert attack(sub, "tcp", port) == "OSError"
        with pytest.raises(socket.timeout):
            server.accept()
        assert attack(worker(NOTHING), "tcp", port) == "connected"
        server.accept()[0].close()
    finally:
        server.close()


def test_host_unix_sockets_are_out_of_reach(worker, tmp_path):
    path = tmp_path / "host.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(5)
    server.settimeout(0.5)
    os.chmod(tmp_path, 0o755)
    os.chmod(path, 0o777)
    try:
        for limits in (FULL, NOTHING):  # the filter holds without the other layers too
            sub = worker(limits)
            requires(sub, "seccomp")
            assert attack(sub, "unix", str(path)) == "PermissionError"
            with pytest.raises(socket.timeout):
                server.accept()
    finally:
        server.close()


def test_the_socket_filter_refuses_every_way_to_a_unix_socket_and_only_those():
    # the filter on its own, in a child of this test: before it a unix socket can be made
    code = textwrap.dedent('''
        import ctypes, os, socket, sys
        sys.path.insert(0, sys.argv[1])
        import isolation
        socket.socket(socket.AF_UNIX).close()
        for sock in socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM):
            sock.close()
        caps, nnp = isolation.drop_capabilities()
        assert nnp is None, nnp
        assert isolation.block_unix_sockets() is None
        socket.socket(socket.AF_INET).close()
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
        refused = []
        for make in (lambda: socket.socket(socket.AF_UNIX),
                     lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM),
                     lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM),
                     lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM),
                     lambda: socket.socketpair()):
            try:
                make()
            except PermissionError:
                refused.append(True)
        libc = ctypes.CDLL(None, use_errno=True)
        pidfd = libc.syscall(434, os.getppid(), 0)  # pidfd_open: allowed
        if libc.syscall(438, pidfd, 0, 0) == -1 and ctypes.get_errno() == 13:  # pidfd_getfd
            refused.append(True)
        print("refused", len(refused))
    ''')
    proc = subprocess.run([sys.executable, "-c", code, str(SANDBOX)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "refused 6", (proc.stdout, proc.stderr)


def test_a_host_datagram_socket_is_out_of_reach_by_socketpair_and_sendto(worker, tmp_path):
    path = tmp_path / "host-dgram.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.settimeout(0.5)
    os.chmod(tmp_path, 0o755)
    os.chmod(path, 0o777)
    try:
        for limits in (FULL, NOTHING):  # the filter holds without the other layers too
            sub = worker(limits)
            requires(sub, "seccomp")
            assert attack(sub, "unix_datagram", str(path)) == "PermissionError"
            with pytest.raises(socket.timeout):
                server.recv(100)
    finally:
        server.close()


# --------------------------------------------------------------------------- files and identity

def test_no_device_nodes_or_fifos_in_the_writable_folder(worker, folder):
    sub = worker(FULL)
    requires(sub, "landlock")
    made = attack(sub, "make_nodes")
    assert made == {"fifo": "PermissionError", "null-device": "PermissionError",
                    "disk-device": "PermissionError"}, made
    assert not any((folder / n).exists() for n in ("fifo", "null", "disk"))
    control = attack(worker(NOTHING), "make_nodes")
    try:
        assert control["fifo"] == "made"  # what Landlock refuses above
        # device nodes stay refused there too: capabilities are dropped in every worker
        assert control["disk-device"] == "PermissionError"
    finally:
        for name in ("fifo", "null", "disk"):
            (folder / name).unlink(missing_ok=True)


def test_the_worker_holds_nothing_privileged(worker):
    sub = worker(FULL)
    requires(sub, "user-ns", "caps-dropped", "no-new-privs")
    who = attack(sub, "identity")
    assert who["uid"] != 0 and who["euid"] != 0 and who["gid"] != 0
    assert 0 not in who["groups"]
    assert who["effective"] == who["permitted"] == 0 and who["bounding"] == []
    assert who["no_new_privs"] == 1
    if os.geteuid() == 0:
        control = attack(worker(NOTHING), "identity")
        assert control["uid"] == 0  # what the user namespace changes


def test_argv_and_environment_hold_no_grader_path_or_secret(worker, monkeypatch, tmp_path):
    secret = "isolation-test-secret-4242"
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(secret)
    monkeypatch.setenv("MYTORCH_GRADER_SECRET", secret)
    monkeypatch.setenv("MYTORCH_SECRET_FILE", str(secret_file))
    sub = worker(NO_LANDLOCK)
    cmdline, environ = attack(sub, "own_argv_and_environ")
    outside = [open(f"/proc/{sub.worker.proc.pid}/{name}", "rb").read().decode()
               for name in ("cmdline", "environ")]
    for text in [cmdline, environ] + outside:
        assert "worker.py" in text or "TMPDIR" in text  # the right process's
        for needle in (secret, str(secret_file), str(REPO), str(sub.path)):
            assert needle not in text, (needle, text)


def test_a_required_layer_that_is_missing_stops_the_worker_before_student_code(folder, tmp_path):
    marker = tmp_path / "ran.txt"
    (folder / "mytorch" / "side_effect.py").write_text(
        f"open({str(marker)!r}, 'w').write('student code ran')\ndef f():\n    return 1\n")
    limits = Limits(call_seconds=30, namespaces=False, require_layers=("pid-ns",))
    sub = Submission(folder, limits)
    try:
        with pytest.raises(Exception, match="could not isolate your code"):
            sub.function("mytorch.side_effect.f")()
    finally:
        sub.close()
        (folder / "mytorch" / "side_effect.py").unlink()
    assert not marker.exists()
    assert limits.sandbox_failures and "pid-ns" in limits.sandbox_failures[0]


def test_refused_user_namespaces_are_reported_not_hidden(folder, tmp_path):
    """A kernel (or container) that refuses user namespaces, for real: the worker runs inside a
    user namespace whose limit on nested ones is 0. The report must name user-ns as missing, with
    the kernel's reason, and list it among the weak layers."""
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux's unshare to build a namespace that refuses user namespaces")
    wrapper = tmp_path / "python-without-userns"
    wrapper.write_text("#!/bin/sh\nexec unshare --user --map-root-user sh -c "
                       "'echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" \"$@\"' "
                       f"{sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    probe = subprocess.run([str(wrapper), "-c", "print('ok')"], capture_output=True, text=True)
    if probe.stdout.strip() != "ok":
        pytest.skip(f"cannot build a namespace refusing user namespaces here: {probe.stderr}")
    sub = Submission(folder, Limits(call_seconds=30), python=str(wrapper))
    try:
        sub.function("mytorch.attacks.identity")
        report = sub.worker.info["sandbox"]
    finally:
        sub.close()
    assert "user-ns" in report["missing"] and "user-ns" in report["weak"], report
    assert "refused" in report["missing"]["user-ns"]
    from autograder.channel.privilege import sandbox_problems
    assert any(p.startswith("user-ns is missing") for p in sandbox_problems(report))
