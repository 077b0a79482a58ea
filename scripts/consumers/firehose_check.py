#!/usr/bin/env python3
"""Reads a relay's `com.atproto.sync.subscribeRepos` firehose with a consumer library nobody on
this project wrote (Python's `atproto` package, pinned in requirements.txt beside this file) and
checks what it gets.

Usage:
    firehose_check.py --url ws://127.0.0.1:2470 [--cursor 0] [--expect N] [--timeout 60]
                      [--list-events]

`--url` is the relay's websocket address: `ws://host:port`, `.../xrpc`, or the full
`.../xrpc/com.atproto.sync.subscribeRepos` (a `?cursor=` in it is honoured). Without `--cursor`
the stream is read live. The script stops after `--expect` events (frames with a `seq`), or at
`--timeout` seconds; with `--expect`, stopping short of it is an error.

Every frame is decoded by the library (`FirehoseSubscribeReposClient`, `Frame.from_bytes`,
`parse_subscribe_repos_message`) and re-validated with the library's strict string formats
(DIDs, TIDs, datetimes). Checks:
  * seq strictly increases; no error frame arrives; the connection is not dropped early;
  * `#commit` / `#sync`: `blocks` parses with `CAR.from_bytes`, its root is the commit, the
    commit block is in the CAR and names the message's DID and rev (version 3); every block's
    bytes as sent hash to the sha-256 its CID names and decode with libipld (not a re-encoding:
    libipld reads a CID link and a byte string alike, see `raw_blocks`);
  * `#commit`: the CIDs of created and updated records are in the CAR, deletes carry none;
  * per DID, revs strictly increase, and a commit after one already seen on this stream chains
    to it (`since` is the previous rev; `prevData`, when present, the previous `data`).
The library has no MST verification, so the ops are not proven against the tree.

Prints one JSON line: {"ok", "events", "counts" (per type), "ops" (per action), "infos",
"first_seq", "last_seq", "revs" (DID -> last rev), "errors" (the first 50), "error_count",
"timed_out", "elapsed_s"} and, with --list-events, "events_list": one object per event
({"seq", "type", "did", and "rev" + "ops" [[action, path], ...] for commits, "rev" for syncs,
"handle" for identities, "active" + "status" for accounts}). Exits 0 when no check failed,
1 otherwise.
"""

import argparse
import base64
import hashlib
import json
import sys
import threading
import time
import typing as t
from urllib.parse import parse_qs, urlsplit, urlunsplit

from atproto import CAR, CID, FirehoseSubscribeReposClient, models, parse_subscribe_repos_message
from atproto_client.models.common import XrpcError
from atproto_client.models.utils import get_or_create
from atproto_subscription.exceptions import FrameDecodingError, SubscriptionError
from atproto_subscription.frames import MessageFrame

import libipld

METHOD = 'com.atproto.sync.subscribeRepos'
MAX_LISTED_ERRORS = 50
SHA2_256 = 0x12
DAG_CBOR = 0x71

MODELS = {
    '#commit': models.ComAtprotoSyncSubscribeRepos.Commit,
    '#sync': models.ComAtprotoSyncSubscribeRepos.Sync,
    '#identity': models.ComAtprotoSyncSubscribeRepos.Identity,
    '#account': models.ComAtprotoSyncSubscribeRepos.Account,
    '#info': models.ComAtprotoSyncSubscribeRepos.Info,
}


def split_url(url: str, cursor: t.Optional[int]) -> t.Tuple[str, t.Optional[int]]:
    """The library's base URI (ending in /xrpc) and the cursor, from what the user gave."""
    parts = urlsplit(url)
    if parts.scheme not in ('ws', 'wss'):
        raise ValueError(f'--url must start with ws:// or wss://, got {url!r}')
    if cursor is None and parts.query:
        values = parse_qs(parts.query).get('cursor')
        if values:
            cursor = int(values[0])
    path = parts.path.rstrip('/')
    if path.endswith('/' + METHOD):
        path = path[: -len(METHOD) - 1]
    if not path.endswith('/xrpc'):
        path += '/xrpc'
    return urlunsplit((parts.scheme, parts.netloc, path, '', '')), cursor


def read_varint(data: bytes, pos: int) -> t.Tuple[int, int]:
    """An unsigned LEB128 varint at `pos`: its value and the position after it."""
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError('truncated or overlong varint')
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def raw_blocks(car: bytes) -> t.Dict[str, t.Tuple[int, int, bytes, bytes]]:
    """The CAR's blocks exactly as sent: {CID text: (codec, hash code, digest, block bytes)}.

    The hash check must see these bytes, not a re-encoding of the decoded block: libipld decodes
    a CID link and a byte string alike, so a signature that happens to parse as a CID would be
    written back as a link and its block would seem not to match its CID.
    """
    header_len, pos = read_varint(car, 0)
    pos += header_len
    blocks = {}
    while pos < len(car):
        section_len, pos = read_varint(car, pos)
        end = pos + section_len
        start = pos
        version, pos = read_varint(car, pos)
        if version != 1:
            raise ValueError(f'CID version {version} in a repository CAR')
        codec, pos = read_varint(car, pos)
        hash_code, pos = read_varint(car, pos)
        digest_len, pos = read_varint(car, pos)
        digest = car[pos:pos + digest_len]
        pos += digest_len
        text = 'b' + base64.b32encode(car[start:pos]).decode().lower().rstrip('=')
        blocks[text] = (codec, hash_code, digest, car[pos:end])
        pos = end
    return blocks


def cid_str(value: t.Any) -> t.Optional[str]:
    """A CID as a string, whatever form the library handed it in."""
    if value is None:
        return None
    if isinstance(value, CID):
        return value.encode()
    if isinstance(value, (bytes, bytearray)):
        return CID.decode(bytes(value)).encode()
    return str(value)


class Checker:
    """Checks one stream's messages and keeps the summary."""

    def __init__(self, expect: t.Optional[int], list_events: bool) -> None:
        self.expect = expect
        self.list_events = list_events
        self.events = 0
        self.counts: t.Dict[str, int] = {}
        self.ops: t.Dict[str, int] = {}
        self.infos: t.List[str] = []
        self.first_seq: t.Optional[int] = None
        self.last_seq: t.Optional[int] = None
        self.revs: t.Dict[str, str] = {}
        self.data: t.Dict[str, str] = {}
        self.blocks_checked = 0
        self.errors: t.List[str] = []
        self.error_count = 0
        self.listed: t.List[t.Dict[str, t.Any]] = []
        self.done = threading.Event()
        self.on_done: t.Callable[[], None] = lambda: None

    def error(self, text: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append(text)

    def on_frame(self, frame: MessageFrame) -> None:
        """One decoded message frame (the library's callback)."""
        kind = frame.type
        self.counts[kind] = self.counts.get(kind, 0) + 1
        where = f'frame {self.events + len(self.infos) + 1} ({kind})'
        model = MODELS.get(kind)
        if model is None:
            self.error(f'{where}: unknown message type')
            return
        try:
            message = parse_subscribe_repos_message(frame)
            get_or_create(frame.body, model, strict_string_format=True)
        except Exception as e:  # noqa: BLE001 - any parse failure is a finding
            self.error(f'{where}: does not parse as {kind}: {e!r}'[:2000])
            return
        if kind == '#info':
            self.infos.append(message.name)
            return

        seq = message.seq
        where = f'seq {seq} ({kind})'
        if self.last_seq is not None and seq <= self.last_seq:
            self.error(f'{where}: seq does not increase (previous {self.last_seq})')
        if self.first_seq is None:
            self.first_seq = seq
        self.last_seq = seq
        self.events += 1
        try:
            listed = self.check(kind, message, where)
        except Exception as e:  # noqa: BLE001 - a check that cannot run is a finding too
            self.error(f'{where}: {e!r}'[:2000])
            listed = {}
        if self.list_events:
            self.listed.append({'seq': seq, 'type': kind, 'did': message.repo if kind == '#commit' else message.did, **listed})
        if self.expect is not None and self.events >= self.expect:
            self.done.set()
            self.on_done()

    def check(self, kind: str, message: t.Any, where: str) -> t.Dict[str, t.Any]:
        if kind == '#commit':
            return self.check_commit(message, where)
        if kind == '#sync':
            # A #sync names its commit only as the CAR's root.
            self.check_repo_event(message.did, message.rev, None, message.blocks, where)
            return {'rev': message.rev}
        if kind == '#identity':
            return {'handle': message.handle}
        return {'active': message.active, 'status': message.status}

    def check_commit(self, message: t.Any, where: str) -> t.Dict[str, t.Any]:
        did = message.repo
        previous_rev = self.revs.get(did)
        previous_data = self.data.get(did)
        car = self.check_repo_event(did, message.rev, cid_str(message.commit), message.blocks, where)
        if previous_rev is not None:
            if message.since != previous_rev:
                self.error(f'{where}: since {message.since} does not chain to the previous rev {previous_rev}')
            prev_data = cid_str(message.prev_data)
            if prev_data is not None and prev_data != previous_data:
                self.error(f'{where}: prevData {prev_data} is not the previous data {previous_data}')
        ops = []
        for op in message.ops:
            self.ops[op.action] = self.ops.get(op.action, 0) + 1
            ops.append([op.action, op.path])
            cid = cid_str(op.cid)
            if op.action in ('create', 'update'):
                if cid is None:
                    self.error(f'{where}: {op.action} of {op.path} without a cid')
                elif car is not None and cid not in car:
                    self.error(f'{where}: record {cid} of {op.path} is not in the CAR')
            elif op.action == 'delete':
                if cid is not None:
                    self.error(f'{where}: delete of {op.path} carries cid {cid}')
            else:
                self.error(f'{where}: unknown op action {op.action!r}')
        return {'rev': message.rev, 'ops': ops}

    def check_repo_event(
        self, did: str, rev: str, commit_cid: t.Optional[str], blocks: t.Any, where: str
    ) -> t.Optional[t.Set[str]]:
        """Checks a #commit's or #sync's CAR and rev order; returns the CIDs in the CAR."""
        previous = self.revs.get(did)
        if previous is not None and rev <= previous:
            self.error(f'{where}: rev {rev} of {did} is not after {previous}')
        self.revs[did] = rev
        if not isinstance(blocks, (bytes, bytearray)):
            self.error(f'{where}: blocks is not bytes')
            return None
        car = CAR.from_bytes(bytes(blocks))
        raw = raw_blocks(bytes(blocks))
        root = car.root.encode()
        if commit_cid is not None and root != commit_cid:
            self.error(f'{where}: CAR root {root} is not the commit {commit_cid}')
        cids = set()
        by_cid = {}
        for cid, block in car.blocks.items():
            text = cid.encode()
            cids.add(text)
            by_cid[text] = block
            if text not in raw:
                self.error(f'{where}: block {text} is missing from the raw CAR')
                continue
            self.check_block(text, raw[text], where)
        commit = by_cid.get(root)
        if commit is None:
            self.error(f'{where}: the commit block {root} is not in the CAR')
            return cids
        if not isinstance(commit, dict):
            self.error(f'{where}: the commit block is not a map')
            return cids
        if commit.get('did') != did:
            self.error(f'{where}: commit block did {commit.get("did")!r} is not {did}')
        if commit.get('rev') != rev:
            self.error(f'{where}: commit block rev {commit.get("rev")!r} is not {rev}')
        if commit.get('version') != 3:
            self.error(f'{where}: commit version {commit.get("version")!r}, expected 3')
        data = cid_str(commit.get('data'))
        if data is None:
            self.error(f'{where}: commit block has no data CID')
        else:
            self.data[did] = data
        return cids

    def check_block(
        self, text: str, raw: t.Tuple[int, int, bytes, bytes], where: str
    ) -> None:
        """The block's bytes as sent hash to its CID, and they are DAG-CBOR that libipld reads."""
        codec, hash_code, digest, data = raw
        if codec != DAG_CBOR or hash_code != SHA2_256:
            return
        if hashlib.sha256(data).digest() != digest:
            self.error(f'{where}: block {text} does not hash to its CID')
        try:
            libipld.decode_dag_cbor(data)
        except Exception as error:  # noqa: BLE001 - any decoding failure is the finding
            self.error(f'{where}: block {text} is not DAG-CBOR libipld reads: {error}')
        self.blocks_checked += 1

    def summary(self, timed_out: bool, elapsed: float) -> t.Dict[str, t.Any]:
        out = {
            'ok': self.error_count == 0,
            'events': self.events,
            'counts': self.counts,
            'ops': self.ops,
            'infos': self.infos,
            'first_seq': self.first_seq,
            'last_seq': self.last_seq,
            'revs': self.revs,
            'blocks_checked': self.blocks_checked,
            'errors': self.errors,
            'error_count': self.error_count,
            'timed_out': timed_out,
            'elapsed_s': round(elapsed, 3),
        }
        if self.list_events:
            out['events_list'] = self.listed
        return out


class CheckingClient(FirehoseSubscribeReposClient):
    """The library's synchronous client, made strict: it never reconnects (a reconnect would
    replay from the first cursor) and reports frames the library would skip silently."""

    def __init__(self, base_uri: str, cursor: t.Optional[int], checker: Checker) -> None:
        params = {'cursor': cursor} if cursor is not None else None
        super().__init__(params=params, base_uri=base_uri, recv_timeout=None)
        self.checker = checker
        self.closed_early: t.Optional[str] = None

    def _handle_frame_decoding_error(self, exception: Exception) -> None:
        if isinstance(exception, SubscriptionError) and not isinstance(exception, FrameDecodingError):
            raise exception  # an error frame: ends the stream
        self.checker.error(f'a frame does not decode: {exception!r}'[:2000])

    def _handle_websocket_error_or_stop(self, exception: Exception) -> bool:
        if not self._stopped:
            if isinstance(exception, SubscriptionError) and exception.args and isinstance(exception.args[0], XrpcError):
                frame = exception.args[0]
                self.closed_early = f'error frame {frame.error}: {frame.message}'
            else:
                self.closed_early = f'connection ended: {exception!r}'
            self.checker.done.set()
        return True


def main(argv: t.Optional[t.List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--url', required=True, help='ws://host:port of the relay, or its subscribeRepos URL')
    parser.add_argument('--cursor', type=int, default=None, help='replay after this seq (absent: live)')
    parser.add_argument('--expect', type=int, default=None, help='stop after this many events; fewer is an error')
    parser.add_argument('--timeout', type=float, default=60.0, help='give up after this many seconds')
    parser.add_argument('--list-events', action='store_true', help='add every event to the summary')
    args = parser.parse_args(argv)

    base_uri, cursor = split_url(args.url, args.cursor)
    checker = Checker(args.expect, args.list_events)
    client = CheckingClient(base_uri, cursor, checker)
    checker.on_done = client.stop
    started = time.monotonic()
    errors_before_start: t.List[str] = []

    def run() -> None:
        try:
            client.start(checker.on_frame, lambda e: checker.error(f'check failed: {e!r}'[:2000]))
        except Exception as e:  # noqa: BLE001
            errors_before_start.append(f'client failed: {e!r}')
        finally:
            checker.done.set()

    thread = threading.Thread(target=run, name='firehose', daemon=True)
    thread.start()
    timed_out = not checker.done.wait(args.timeout)
    client.stop()
    thread.join(5)

    for text in errors_before_start:
        checker.error(text)
    if client.closed_early is not None:
        checker.error(client.closed_early)
    if args.expect is not None and checker.events < args.expect:
        checker.error(f'{checker.events} of {args.expect} expected events arrived')
    if thread.is_alive():
        checker.error('the client did not stop within 5 s')
    summary = checker.summary(timed_out, time.monotonic() - started)
    print(json.dumps(summary, sort_keys=True), flush=True)
    return 0 if summary['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
