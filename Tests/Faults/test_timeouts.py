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


def trickle_until_closed(sock: socket.socket, pieces, interval: float, give_up_after: float) -> float:
    """Sends one piece every `interval` seconds, never pausing long enough to look idle, until
    the server closes the connection; returns the seconds that took."""
    start = time.monotonic()
    sock.settimeout(interval)
    for piece in pieces:
        if time.monotonic() - start > give_up_after:
            raise AssertionError(f"the server let a trickling client hold a connection for {give_up_after} s")
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - start
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - start
        except socket.timeout:
            continue
        except ConnectionResetError:
            return time.monotonic() - start
    raise AssertionError("ran out of pieces before the server closed the connection")


def test_a_request_trickled_byte_by_byte_is_cut_while_an_honest_slow_upload_is_not(charter, workdir):
    # The idle timeout is far away: only the request deadlines can cut these clients.
    server = charter.server(workdir / "charter.sqlite", extra=[
        *NO_LIMITS, "--idle-timeout", "60", "--header-timeout", "2", "--body-timeout", "2"]).start()

    head = socket.create_connection(("127.0.0.1", server.port))
    head.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    headers = (f"X-Slow-{i}: {'a' * 8}\r\n".encode() for i in range(10_000))
    took = trickle_until_closed(head, headers, interval=0.25, give_up_after=20)
    assert 1.5 <= took < 20, took
    head.close()

    body = socket.create_connection(("127.0.0.1", server.port))
    body.sendall(b"POST /api/v1/conversations/x/participants HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n")
    took = trickle_until_closed(body, (b" " for _ in range(60_000)), interval=0.25, give_up_after=20)
    assert 1.5 <= took < 20, took
    body.close()

    # 48 kB over about three seconds, past the body timeout, but at far more than 500 bytes a
    # second: it earns its time and gets an answer (404: there is no conversation x).
    honest = socket.create_connection(("127.0.0.1", server.port))
    honest.settimeout(30)
    payload = b'{"xid": "' + b"a" * (48_000 - 11) + b'"}'
    honest.sendall(b"POST /api/v1/conversations/x/participants HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Type: application/json\r\nContent-Length: " + str(len(payload)).encode() + b"\r\n\r\n")
    for i in range(0, len(payload), 12_000):
        time.sleep(1)
        honest.sendall(payload[i:i + 12_000])
    answer = honest.recv(4096)
    assert answer.startswith(b"HTTP/1.1 404"), answer[:80]

    # A keep-alive connection is given the head timeout again after each answer: a second
    # request sent right away is served.
    honest.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert honest.recv(4096).startswith(b"HTTP/1.1 200")
    # The time the upload earned does not carry over: a head trickled next on the same
    # connection is cut at the head timeout, not a minute and a half later.
    honest.sendall(b"GET /healthz HTTP/1.1\r\n")
    headers = (f"X-Slow-{i}: {'a' * 8}\r\n".encode() for i in range(10_000))
    took = trickle_until_closed(honest, headers, interval=0.25, give_up_after=20)
    assert took < 20, took
    honest.close()
    assert healthz(server.port) == 200
