#!/usr/bin/env python3
"""Measures the relay's memory under hostile firehose consumers.

Starts `atrelay serve` (the binary given as the first argument) on loopback with a scratch
SQLite database, opens N websocket consumers (default 100) that each announce a 16 MiB frame
and send all of it but its last byte, then prints the relay's peak and current RSS.

    python3 scripts/security/hostile_consumers.py target/debug/atrelay [N]
"""

import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

FRAME = 16 << 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def wait_up(port, deadline):
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /xrpc/_health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(12).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("relay did not start")


def hostile(port, results, i):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(
            b"GET /xrpc/com.atproto.sync.subscribeRepos HTTP/1.1\r\nHost: x\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(1)
            if not chunk:
                results[i] = "closed before upgrade"
                return
            head += chunk
        s.sendall(bytes([0x82, 0x80 | 127]) + struct.pack(">Q", FRAME) + b"\x01\x02\x03\x04")
        chunk = bytes(1 << 20)
        sent = 0
        while sent < FRAME - 1:
            n = min(len(chunk), FRAME - 1 - sent)
            s.sendall(chunk[:n])
            sent += n
        results[i] = f"sent {sent}"
        time.sleep(15)
        s.close()
    except OSError as e:
        results[i] = f"refused: {e.__class__.__name__}"


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    port, metrics = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        relay = subprocess.Popen(
            [binary, "serve", "--db-url", f"sqlite://{tmp}/relay.sqlite",
             "--persist-dir", f"{tmp}/persist", "--bind", f"127.0.0.1:{port}",
             "--metrics-listen", f"127.0.0.1:{metrics}", "--admin-password", "x",
             "--max-consumers-per-ip", str(n)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_up(port, time.time() + 60)
            base = rss_kib(relay.pid)
            results = [None] * n
            threads = [threading.Thread(target=hostile, args=(port, results, i)) for i in range(n)]
            for t in threads:
                t.start()
            peak = base
            while any(t.is_alive() for t in threads):
                peak = max(peak, rss_kib(relay.pid))
                time.sleep(0.2)
            outcomes = {}
            for r in results:
                key = (r or "?").split(":")[0]
                outcomes[key] = outcomes.get(key, 0) + 1
            print(f"consumers: {n}; outcomes: {outcomes}")
            print(f"RSS before: {base / 1024:.1f} MiB; peak during the attack: {peak / 1024:.1f} MiB; "
                  f"VmHWM: {rss_kib(relay.pid, 'VmHWM') / 1024:.1f} MiB")
        finally:
            relay.terminate()
            relay.wait(timeout=30)


if __name__ == "__main__":
    main()
