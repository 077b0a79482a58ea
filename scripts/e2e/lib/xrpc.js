'use strict'
// A small XRPC client over fetch: JSON in, JSON out, errors as XrpcError {status, error, message}.
const net = require('node:net')

class XrpcError extends Error {
  constructor(method, status, body) {
    super(`${method}: HTTP ${status} ${body?.error ?? ''} ${body?.message ?? ''}`.trim())
    this.status = status
    this.error = body?.error ?? `HTTP${status}`
    this.body = body
  }
}

async function xrpc(base, method, { params, body, token, basic, headers = {}, raw, contentType, httpMethod } = {}) {
  const url = new URL(`/xrpc/${method}`, base)
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v !== undefined) url.searchParams.set(k, String(v))
  }
  const h = { ...headers }
  if (token) h.authorization = `Bearer ${token}`
  if (basic) h.authorization = `Basic ${Buffer.from(basic).toString('base64')}`
  let payload
  if (raw !== undefined) {
    payload = raw
    h['content-type'] = contentType ?? 'application/octet-stream'
  } else if (body !== undefined) {
    payload = JSON.stringify(body)
    h['content-type'] = 'application/json'
  }
  const res = await fetch(url, {
    method: httpMethod ?? (payload !== undefined ? 'POST' : 'GET'),
    headers: h,
    body: payload,
    redirect: 'manual',
    signal: AbortSignal.timeout(30000),
  })
  const text = await res.text()
  let json
  try {
    json = text ? JSON.parse(text) : {}
  } catch {
    json = { error: `HTTP${res.status}`, message: text.slice(0, 200) }
  }
  if (!res.ok) throw new XrpcError(method, res.status, json)
  return json
}

// A procedure call: POST, with a JSON body only when `opts.body` is given.
const post = (base, method, opts = {}) => xrpc(base, method, { httpMethod: 'POST', ...opts })

// Calls fn until it returns a truthy value or timeoutMs passes; returns the value or null.
async function waitFor(fn, timeoutMs, intervalMs = 200) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch {
      // not yet
    }
    if (Date.now() > deadline) return null
    await sleep(intervalMs)
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

module.exports = { xrpc, post, XrpcError, waitFor, sleep, freePort }
