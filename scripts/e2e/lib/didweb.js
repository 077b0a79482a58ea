'use strict'
// did:web for the e2e network: a tiny HTTP server on 127.0.0.1 serving one DID document at
// /.well-known/did.json, so the DID is did:web:localhost%3APORT (did:web has no path form in
// atproto, so each did:web account needs a host:port of its own).
const http = require('node:http')

function didDocument(did, handle, signingDidKey, pdsEndpoint) {
  return {
    '@context': [
      'https://www.w3.org/ns/did/v1',
      'https://w3id.org/security/multikey/v1',
      'https://w3id.org/security/suites/secp256k1-2019/v1',
    ],
    id: did,
    alsoKnownAs: [`at://${handle}`],
    verificationMethod: [
      {
        id: `${did}#atproto`,
        type: 'Multikey',
        controller: did,
        publicKeyMultibase: signingDidKey.replace(/^did:key:/, ''),
      },
    ],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: pdsEndpoint }],
  }
}

class DidWebServer {
  constructor(port) {
    this.port = port
    this.did = `did:web:localhost%3A${port}`
    this.doc = null
    this.requests = 0
    this.server = http.createServer((req, res) => {
      this.requests++
      if (req.url === '/.well-known/did.json' && this.doc) {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify(this.doc))
      } else {
        res.writeHead(404)
        res.end()
      }
    })
  }

  listen() {
    return new Promise((resolve) => this.server.listen(this.port, '127.0.0.1', resolve))
  }

  close() {
    this.server.closeAllConnections?.()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

module.exports = { DidWebServer, didDocument }
