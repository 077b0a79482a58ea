'use strict'
// A raw subscribeRepos reader: decodes every frame itself (no lexicon layer in between), keeps
// each event's fields in a flat, comparable form, and reconnects from its last seq when the
// server goes away (a clean close included, which @atproto/ws-client treats as the end).
// Used on each PDS (the ground truth: what the PDSes produced) and on atrelay (byte-level
// comparison of what the relay passes on).
const crypto = require('node:crypto')
const { WebSocket } = require('ws')
const { Frame } = require('@atproto/xrpc-server')

const str = (cid) => (cid == null ? null : cid.toString())

function normalize(type, body) {
  const ev = { seq: body.seq, type: type.replace(/^#/, ''), did: body.repo ?? body.did ?? null }
  if (ev.type === 'commit') {
    ev.rev = body.rev
    ev.since = body.since ?? null
    ev.commit = str(body.commit)
    ev.prevData = str(body.prevData)
    ev.tooBig = !!body.tooBig
    ev.ops = (body.ops ?? []).map((op) => ({
      action: op.action,
      path: op.path,
      cid: str(op.cid),
      prev: str(op.prev),
    }))
  } else if (ev.type === 'sync') {
    ev.rev = body.rev
  } else if (ev.type === 'identity') {
    ev.handle = body.handle ?? null
  } else if (ev.type === 'account') {
    ev.active = body.active
    ev.status = body.status ?? null
  } else if (ev.type === 'info') {
    ev.name = body.name
    ev.message = body.message
  }
  if (body.blocks) {
    ev.blocksLen = body.blocks.length
    ev.blocksSha = crypto.createHash('sha256').update(body.blocks).digest('hex').slice(0, 16)
  }
  return ev
}

class RawTap {
  constructor(name, service, { cursor = 0 } = {}) {
    this.name = name
    this.service = service
    this.cursor = cursor
    this.events = []
    this.errors = []
    this.errorFrames = []
    this.connects = 0
    this.stopped = false
    this.ws = null
    this.lastEventAt = 0
  }

  start() {
    this.connect()
    return this
  }

  connect() {
    if (this.stopped) return
    const url = `${this.service}/xrpc/com.atproto.sync.subscribeRepos?cursor=${this.cursor}`
    const ws = new WebSocket(url, { maxPayload: 8 * 1024 * 1024 })
    this.ws = ws
    ws.on('open', () => {
      this.connects++
    })
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        this.errors.push(`text frame: ${String(data).slice(0, 100)}`)
        return
      }
      let frame
      try {
        frame = Frame.fromBytes(new Uint8Array(data))
      } catch (err) {
        this.errors.push(`undecodable frame: ${err.message}`)
        return
      }
      if (frame.isError()) {
        this.errorFrames.push(frame.body)
        return
      }
      const ev = normalize(frame.type ?? '', frame.body)
      if (typeof ev.seq === 'number') {
        if (ev.seq <= this.cursor && ev.type !== 'info') {
          this.errors.push(`seq ${ev.seq} not after ${this.cursor}`)
        }
        if (ev.type !== 'info') this.cursor = ev.seq
      }
      this.lastEventAt = Date.now()
      this.events.push(ev)
    })
    ws.on('error', () => {
      // 'close' follows; reconnect there
    })
    ws.on('close', () => {
      if (this.stopped) return
      setTimeout(() => this.connect(), 300)
    })
  }

  stop() {
    this.stopped = true
    try {
      this.ws?.terminate()
    } catch {
      // closed
    }
  }

  // Events other than #info.
  repoEvents() {
    return this.events.filter((e) => e.type !== 'info')
  }
}

module.exports = { RawTap, normalize }
