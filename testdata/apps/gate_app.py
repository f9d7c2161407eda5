"""pid_app, behind a gate: at import it connects to the unix socket named
by $POGO_TEST_GATE, says its pid, and waits there until the test lets it
go (sends a byte or closes the socket)."""
import os
import socket

with socket.socket(socket.AF_UNIX) as gate:
    gate.connect(os.environ["POGO_TEST_GATE"])
    gate.sendall(b"%d\n" % os.getpid())
    gate.recv(1)

from pid_app import app  # noqa: E402,F401
