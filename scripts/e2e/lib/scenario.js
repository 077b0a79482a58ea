'use strict'
// What the e2e run does to the two PDSes: accounts (did:plc and did:web), record writes, a blob,
// a handle change, deactivation and reactivation, account deletion, a burst of writes and a PDS
// restart. Every write's returned commit {cid, rev} is kept so the run can check that the PDS
// firehoses (the ground truth) hold every commit the API reported.
const { Secp256k1Keypair } = require('@atproto/crypto')
const { createServiceJwt } = require('@atproto/xrpc-server')
const { xrpc, post } = require('./xrpc')
const { didDocument } = require('./didweb')

// A 1x1 PNG, for an avatar blob.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
)
// The collection only the did:web account writes to (listReposByCollection must list it alone).
const WEB_COLLECTION = 'com.atrelay.e2e.note'
const PASSWORD = 'e2e-password'

class Scenario {
  constructor(log) {
    this.log = log
    this.accounts = new Map() // name -> {name, did, handle, pds, token}
    this.produced = [] // {did, rev, cid, what}
    this.n = 0
  }

  note(acct, what, res) {
    if (res?.commit) this.produced.push({ did: acct.did, rev: res.commit.rev, cid: res.commit.cid, what })
    return res
  }

  async createPlcAccount(name, pds) {
    const handle = `${name}.test`
    const res = await xrpc(pds.url, 'com.atproto.server.createAccount', {
      body: { handle, email: `${name}@e2e.test`, password: PASSWORD },
    })
    const acct = { name, did: res.did, handle, pds, token: res.accessJwt }
    this.accounts.set(name, acct)
    return acct
  }

  // did:web account, as the reference notes describe: publish a document with a key we hold,
  // createAccount with a service JWT signed by it (the account starts deactivated), then point the
  // document at the PDS's signing key and activate.
  async createWebAccount(name, pds, web) {
    const handle = `${name}.test`
    const key = await Secp256k1Keypair.create({ exportable: true })
    web.doc = didDocument(web.did, handle, key.did(), pds.url)
    const jwt = await createServiceJwt({
      iss: web.did,
      aud: pds.serviceDid,
      lxm: 'com.atproto.server.createAccount',
      keypair: key,
    })
    const res = await xrpc(pds.url, 'com.atproto.server.createAccount', {
      body: { did: web.did, handle, email: `${name}@e2e.test`, password: PASSWORD },
      token: jwt,
    })
    const creds = await xrpc(pds.url, 'com.atproto.identity.getRecommendedDidCredentials', {
      token: res.accessJwt,
    })
    web.doc = didDocument(web.did, handle, creds.verificationMethods.atproto, pds.url)
    await post(pds.url, 'com.atproto.server.activateAccount', { token: res.accessJwt })
    const acct = { name, did: web.did, handle, pds, token: res.accessJwt }
    this.accounts.set(name, acct)
    return acct
  }

  async login(acct) {
    const res = await xrpc(acct.pds.url, 'com.atproto.server.createSession', {
      body: { identifier: acct.handle, password: PASSWORD },
    })
    acct.token = res.accessJwt
  }

  post(acct, text) {
    const record = { $type: 'app.bsky.feed.post', text: text ?? `post ${++this.n} by ${acct.name}`, createdAt: new Date().toISOString() }
    return this.create(acct, 'app.bsky.feed.post', record, 'createRecord post')
  }

  async create(acct, collection, record, what = 'createRecord') {
    const res = await xrpc(acct.pds.url, 'com.atproto.repo.createRecord', {
      body: { repo: acct.did, collection, record },
      token: acct.token,
    })
    return this.note(acct, what, res)
  }

  async put(acct, collection, rkey, record) {
    const res = await xrpc(acct.pds.url, 'com.atproto.repo.putRecord', {
      body: { repo: acct.did, collection, rkey, record },
      token: acct.token,
    })
    return this.note(acct, 'putRecord', res)
  }

  async del(acct, uri) {
    const [, , , collection, rkey] = uri.split('/')
    const res = await xrpc(acct.pds.url, 'com.atproto.repo.deleteRecord', {
      body: { repo: acct.did, collection, rkey },
      token: acct.token,
    })
    return this.note(acct, 'deleteRecord', res)
  }

  async applyWrites(acct, writes) {
    const res = await xrpc(acct.pds.url, 'com.atproto.repo.applyWrites', {
      body: { repo: acct.did, writes },
      token: acct.token,
    })
    return this.note(acct, 'applyWrites', res)
  }

  async uploadBlob(acct) {
    const res = await xrpc(acct.pds.url, 'com.atproto.repo.uploadBlob', {
      raw: PNG,
      contentType: 'image/png',
      token: acct.token,
    })
    return res.blob
  }

  async updateHandle(acct, handle) {
    await post(acct.pds.url, 'com.atproto.identity.updateHandle', { body: { handle }, token: acct.token })
    acct.handle = handle
  }

  deactivate(acct) {
    return post(acct.pds.url, 'com.atproto.server.deactivateAccount', { body: {}, token: acct.token })
  }

  activate(acct) {
    return post(acct.pds.url, 'com.atproto.server.activateAccount', { token: acct.token })
  }

  async deleteAccount(acct) {
    await post(acct.pds.url, 'com.atproto.admin.deleteAccount', {
      body: { did: acct.did },
      basic: `admin:${acct.pds.adminPassword}`,
    })
    acct.deleted = true
  }

  // `count` posts by `acct`, `concurrency` requests in flight (the PDS serialises them per repo).
  async burst(acct, count, concurrency = 4) {
    let next = 0
    const worker = async () => {
      while (next < count) {
        next++
        await this.post(acct)
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
  }
}

module.exports = { Scenario, WEB_COLLECTION }
