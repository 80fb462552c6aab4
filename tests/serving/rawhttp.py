"""Raw HTTP/1.1 over a socket, for what httpx will not do: declare a body and not send it,
stream a chunked body until the server answers, send bytes that are not JSON."""

from __future__ import annotations

import select
import socket


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def declare_only(
    port: int, path: str, headers: dict[str, str], declared: int, timeout: float = 30
) -> tuple[int, dict[str, str], bytes]:
    """Send the head of a request declaring ``declared`` body bytes, send none, read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(
            _head("POST", path, {**headers, "Content-Type": "application/json", "Content-Length": str(declared)})
        )
        return read_response(sock)


def send_body(
    port: int, path: str, headers: dict[str, str], body: bytes, timeout: float = 30
) -> tuple[int, dict[str, str], bytes]:
    """One request with exactly these body bytes (need not be JSON or UTF-8)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(
            _head("POST", path, {"Content-Type": "application/json", **headers, "Content-Length": str(len(body))})
            + body
        )
        return read_response(sock)


def stream_until_answered(
    port: int, path: str, headers: dict[str, str], chunk: bytes, max_bytes: int, timeout: float = 30
) -> tuple[int, int]:
    """Stream a chunked body until the server answers (or ``max_bytes`` were sent): (status, bytes sent)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(
            _head("POST", path, {**headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        )
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        while sent < max_bytes:
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        status, _, _ = read_response(sock)
        return status, sent
