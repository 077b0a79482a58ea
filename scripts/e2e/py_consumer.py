"""Reads atrelay's firehose with the Python `atproto` SDK and writes what it saw as JSON.

Usage: py_consumer.py WS_BASE CURSOR UNTIL_SEQ TIMEOUT_S OUT.json

WS_BASE is e.g. ws://127.0.0.1:2470/xrpc. Starting after CURSOR, it reads until an event with
seq >= UNTIL_SEQ arrives (or TIMEOUT_S passes). UNTIL_SEQ may be `@PATH`: the seq is then read
from PATH once that file appears, so a consumer started before the events exist reads them live
and learns only at the end where to stop. It parses every frame with
`parse_subscribe_repos_message`, opens every #commit and #sync CAR with `CAR.from_bytes`, and
checks that the CAR root is the commit and that every created or updated record's block is in it.
Frames the SDK cannot decode (it skips them silently by default) are counted as errors.
"""

import json
import sys
import threading
import time

from atproto import CAR, FirehoseSubscribeReposClient, models, parse_subscribe_repos_message

SRM = models.ComAtprotoSyncSubscribeRepos


class CountingClient(FirehoseSubscribeReposClient):
    """The SDK's client, but a frame it cannot decode is recorded instead of dropped quietly."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.decode_errors = []

    def _handle_frame_decoding_error(self, exception):
        self.decode_errors.append(f"{type(exception).__name__}: {exception}")


def main():
    ws_base, cursor, until_arg, timeout_s, out_path = sys.argv[1:6]
    cursor, timeout_s = int(cursor), float(timeout_s)
    # float("inf") until the file names the seq to stop at.
    until = {"seq": float("inf") if until_arg.startswith("@") else int(until_arg)}
    events, errors = [], []
    state = {"cursor": cursor, "frames": 0, "blocks": 0}
    client = CountingClient(params={"cursor": cursor}, base_uri=ws_base, recv_timeout=30)

    def on_message(message):
        state["frames"] += 1
        try:
            msg = parse_subscribe_repos_message(message)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"parse: {type(exc).__name__}: {exc}")
            return
        seq = getattr(msg, "seq", None)
        ev = {"seq": seq}
        if isinstance(msg, SRM.Commit):
            ev.update(type="commit", did=msg.repo, rev=msg.rev, commit=str(msg.commit), since=msg.since)
            ev["ops"] = [
                {"action": op.action, "path": op.path, "cid": str(op.cid) if op.cid else None}
                for op in msg.ops
            ]
            try:
                car = CAR.from_bytes(msg.blocks)
                state["blocks"] += len(car.blocks)
                if str(car.root) != str(msg.commit):
                    errors.append(f"seq {seq}: CAR root {car.root} is not the commit {msg.commit}")
                if msg.commit not in car.blocks:
                    errors.append(f"seq {seq}: commit block missing from CAR")
                for op in msg.ops:
                    if op.action in ("create", "update") and op.cid not in car.blocks:
                        errors.append(f"seq {seq}: record block {op.cid} of {op.path} missing from CAR")
            except Exception as exc:  # noqa: BLE001
                errors.append(f"seq {seq}: CAR: {type(exc).__name__}: {exc}")
        elif isinstance(msg, SRM.Sync):
            ev.update(type="sync", did=msg.did, rev=msg.rev)
            try:
                car = CAR.from_bytes(msg.blocks)
                ev["commit"] = str(car.root)
                if car.root not in car.blocks:
                    errors.append(f"seq {seq}: #sync CAR lacks its root block")
            except Exception as exc:  # noqa: BLE001
                errors.append(f"seq {seq}: #sync CAR: {type(exc).__name__}: {exc}")
        elif isinstance(msg, SRM.Identity):
            ev.update(type="identity", did=msg.did, handle=msg.handle)
        elif isinstance(msg, SRM.Account):
            ev.update(type="account", did=msg.did, active=msg.active, status=msg.status)
        elif isinstance(msg, SRM.Info):
            ev.update(type="info", name=msg.name, message=msg.message)
        else:
            ev.update(type=type(msg).__name__)
        events.append(ev)
        if isinstance(seq, int):
            state["cursor"] = seq
            client.update_params({"cursor": seq})  # a reconnect resumes here, not at the start
            if seq >= until["seq"]:
                client.stop()

    def on_error(exc):
        errors.append(f"callback: {type(exc).__name__}: {exc}")

    timed_out = {"value": False}

    def give_up():
        timed_out["value"] = True
        client.stop()

    def watch_until_file(path):
        while not timed_out["value"]:
            try:
                with open(path) as f:
                    until["seq"] = int(f.read().strip())
            except (OSError, ValueError):
                time.sleep(0.2)
                continue
            if state["cursor"] >= until["seq"]:
                client.stop()
            return

    if until_arg.startswith("@"):
        threading.Thread(target=watch_until_file, args=(until_arg[1:],), daemon=True).start()
    timer = threading.Timer(timeout_s, give_up)
    timer.start()
    started = time.monotonic()
    try:
        client.start(on_message, on_error)
    except Exception as exc:  # noqa: BLE001
        errors.append(f"client: {type(exc).__name__}: {exc}")
    timer.cancel()
    errors.extend(f"undecodable frame: {e}" for e in client.decode_errors)
    if timed_out["value"]:
        errors.append(f"timed out after {timeout_s}s at seq {state['cursor']} (wanted {until['seq']})")
    with open(out_path, "w") as f:
        json.dump(
            {
                "events": events,
                "errors": errors,
                "frames": state["frames"],
                "car_blocks": state["blocks"],
                "seconds": round(time.monotonic() - started, 2),
            },
            f,
        )


if __name__ == "__main__":
    main()
