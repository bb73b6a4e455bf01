"""Slow and idle clients: a connection that stops sending is closed by the server after its
idle timeout (`--idle-timeout`), whether it sent nothing, half a request line, or half a body,
and the server keeps answering everyone else meanwhile."""
import http.client
import socket
import time

from charter_process import NO_LIMITS


def healthz(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    finally:
        connection.close()


def wait_for_close(sock: socket.socket, deadline_seconds: float) -> float:
    """Seconds until the server closes the connection (recv returns b'' or the peer resets)."""
    start = time.monotonic()
    sock.settimeout(deadline_seconds)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                break
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise AssertionError(f"the server kept a stalled connection open past {deadline_seconds} s")
    return time.monotonic() - start


def test_stalled_connections_are_cut_and_others_are_served(charter, workdir):
    server = charter.server(workdir / "charter.sqlite", extra=[*NO_LIMITS, "--idle-timeout", "1"]).start()
    stalled = []
    for opening in [b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
                    b"POST /api/v1/conversations/x/participants HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"xi"]:
        sock = socket.create_connection(("127.0.0.1", server.port))
        if opening:
            sock.sendall(opening)
        stalled.append(sock)
    # Everyone else is served while those connections hang.
    assert healthz(server.port) == 200
    for sock in stalled:
        waited = wait_for_close(sock, deadline_seconds=15)
        assert waited < 15
        sock.close()
    assert healthz(server.port) == 200
