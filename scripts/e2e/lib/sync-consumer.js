'use strict'
// atrelay's firehose read by @atproto/sync's Firehose with full verification: commit proofs
// against the signing key from the DID document (PLC or did:web), identity events with their
// handles checked through the handle's PDS. Every error the library reports is kept.
//
// Library quirks this works around (sync 0.1.x): a plain `getCursor` option is ignored, so the
// start cursor goes through MemoryRunner; commits come out as one event per op (so commits
// without ops, e.g. a repository's first commit, produce nothing), and a commit whose op does not
// verify is silently left out, so the caller compares op lists against the PDSes' ground truth.
const http = require('node:http')
const { Firehose, MemoryRunner } = require('@atproto/sync')
const { IdResolver } = require('@atproto/identity')

// Resolves a handle with GET /.well-known/atproto-did and a Host header, asking each PDS in turn
// (the handles of the test network, *.test, are not in DNS).
function wellKnownResolver(pdsPorts) {
  const ask = (port, handle) =>
    new Promise((resolve) => {
      const req = http.get(
        { host: '127.0.0.1', port, path: '/.well-known/atproto-did', headers: { host: handle }, timeout: 3000 },
        (res) => {
          let body = ''
          res.on('data', (c) => (body += c))
          res.on('end', () => {
            const did = body.trim()
            resolve(res.statusCode === 200 && did.startsWith('did:') ? did : undefined)
          })
        },
      )
      req.on('error', () => resolve(undefined))
      req.on('timeout', () => req.destroy())
    })
  return async (handle) => {
    for (const port of pdsPorts()) {
      const did = await ask(port, handle)
      if (did) return did
    }
    return undefined
  }
}

class SyncConsumer {
  constructor(name, relayWs, { plcUrl, pdsPorts, startCursor = 0 }) {
    this.name = name
    this.commits = new Map() // seq -> {seq, did, rev, commit, ops}
    this.others = [] // identity/account/sync events
    this.errors = []
    this.maxSeq = 0
    const idResolver = new IdResolver({ plcUrl, timeout: 5000 })
    const resolve = wellKnownResolver(pdsPorts)
    idResolver.handle.resolve = resolve
    this.firehose = new Firehose({
      service: relayWs,
      idResolver,
      runner: new MemoryRunner({ startCursor }),
      unauthenticatedCommits: false,
      unauthenticatedHandles: false,
      subscriptionReconnectDelay: 500,
      handleEvent: async (evt) => this.onEvent(evt),
      onError: (err) => this.onError(err),
    })
  }

  start() {
    this.firehose.start().catch((err) => this.onError(err))
    return this
  }

  async stop() {
    await Promise.race([this.firehose.destroy(), new Promise((r) => setTimeout(r, 2000))])
  }

  onEvent(evt) {
    this.maxSeq = Math.max(this.maxSeq, evt.seq)
    if (evt.event === 'create' || evt.event === 'update' || evt.event === 'delete') {
      let c = this.commits.get(evt.seq)
      if (!c) {
        c = { seq: evt.seq, type: 'commit', did: evt.did, rev: evt.rev, commit: evt.commit.toString(), ops: [] }
        this.commits.set(evt.seq, c)
      }
      c.ops.push({ action: evt.event, path: `${evt.collection}/${evt.rkey}`, cid: evt.cid ? evt.cid.toString() : null })
    } else if (evt.event === 'identity') {
      this.others.push({ seq: evt.seq, type: 'identity', did: evt.did, handle: evt.handle ?? null, hasDoc: !!evt.didDocument })
    } else if (evt.event === 'account') {
      this.others.push({ seq: evt.seq, type: 'account', did: evt.did, active: evt.active, status: evt.status ?? null })
    } else if (evt.event === 'sync') {
      this.others.push({ seq: evt.seq, type: 'sync', did: evt.did, rev: evt.rev, commit: evt.cid.toString() })
    }
  }

  onError(err) {
    const cause = err?.cause
    const evt = err?.event ?? err?.value
    this.errors.push({
      kind: err?.constructor?.name ?? 'Error',
      message: String(err?.message ?? err),
      cause: cause ? String(cause.message ?? cause) : undefined,
      seq: evt?.seq,
      did: evt?.repo ?? evt?.did,
    })
  }

  events() {
    return [...this.commits.values(), ...this.others].sort((a, b) => a.seq - b.seq)
  }
}

module.exports = { SyncConsumer, wellKnownResolver }
