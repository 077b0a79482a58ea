'use strict'
// The e2e run: starts a PLC directory, atrelay and two reference PDS hosts on 127.0.0.1, drives
// the PDSes through a scenario, reads everything back through atrelay with three independent
// consumers, and checks it against the PDSes' own firehoses and sync endpoints.
// Started by run.sh (which installs the packages and builds atrelay); see README.md.
//
// Environment: E2E_RUN_DIR (scratch dir, logs), ATRELAY_BIN, E2E_PYTHON (venv python),
// E2E_BURST (records in the burst, default 200), E2E_TIMEOUT_S (whole run, default 300).
const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const { Secp256k1Keypair } = require('@atproto/crypto')
const { Procs } = require('./lib/procs')
const { xrpc, waitFor, sleep, freePort } = require('./lib/xrpc')
const { RawTap } = require('./lib/tap')
const { SyncConsumer } = require('./lib/sync-consumer')
const { DidWebServer } = require('./lib/didweb')
const { Scenario, WEB_COLLECTION } = require('./lib/scenario')
const cmp = require('./lib/compare')

const RUN_DIR = path.resolve(process.env.E2E_RUN_DIR ?? 'e2e-run')
const ATRELAY_BIN = process.env.ATRELAY_BIN
const PYTHON = process.env.E2E_PYTHON
const BURST = Number(process.env.E2E_BURST ?? 200)
const TIMEOUT_S = Number(process.env.E2E_TIMEOUT_S ?? 300)
const HERE = __dirname
const started = Date.now()

const checks = []
const timings = {}
const counts = {}
const secs = () => ((Date.now() - started) / 1000).toFixed(1)
const log = (msg) => console.log(`[${secs().padStart(5)}s] ${msg}`)

function check(name, ok, detail = '') {
  checks.push({ name, ok, detail })
  console.log(`  ${ok ? 'PASS' : 'FAIL'}  ${name}${detail ? ` — ${detail}` : ''}`)
}

function listProblems(problems, max = 8) {
  if (problems.length === 0) return ''
  const shown = problems.slice(0, max).join('\n          ')
  const more = problems.length > max ? `\n          … and ${problems.length - max} more` : ''
  return `\n          ${shown}${more}`
}

async function phase(name, fn) {
  const t = Date.now()
  log(`${name} …`)
  const v = await fn()
  timings[name] = (Date.now() - t) / 1000
  return v
}

// The JSON summary a py_consumer.py run wrote, with an error when it did not finish cleanly.
function readPython(name, outPath, exit, logPath) {
  let result = { events: [], errors: [`${name} consumer did not finish (exit ${JSON.stringify(exit)})`] }
  if (fs.existsSync(outPath)) result = JSON.parse(fs.readFileSync(outPath, 'utf8'))
  if (exit && exit.code !== 0) result.errors.push(`${name} consumer exited with ${exit.code}; see ${logPath}`)
  return result
}

async function main() {
  if (!ATRELAY_BIN || !PYTHON) throw new Error('run through run.sh (ATRELAY_BIN and E2E_PYTHON must be set)')
  fs.mkdirSync(RUN_DIR, { recursive: true })
  const procs = new Procs(RUN_DIR)
  const unexpected = []
  procs.onUnexpectedExit = (name, code, signal) => {
    unexpected.push(`${name} exited (code ${code}, signal ${signal})`)
    log(`!! ${name} exited unexpectedly (code ${code}, signal ${signal}); see ${procs.logPath(name)}`)
  }
  const cleanup = () => procs.killAllNow()
  process.on('exit', cleanup)
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      cleanup()
      process.exit(130)
    })
  }
  const watchdog = setTimeout(() => {
    console.log(`\nE2E FAIL: the run took longer than ${TIMEOUT_S}s; logs in ${RUN_DIR}/logs`)
    cleanup()
    process.exit(1)
  }, TIMEOUT_S * 1000)
  watchdog.unref()

  const [plcPort, pds1Port, pds2Port, webPort, relayPort, metricsPort] = await Promise.all(
    Array.from({ length: 6 }, freePort),
  )
  const plcUrl = `http://127.0.0.1:${plcPort}`
  const relayUrl = `http://127.0.0.1:${relayPort}`
  const relayWs = `ws://127.0.0.1:${relayPort}`
  const nodeBin = process.execPath

  // ---- network
  await phase('start PLC directory', async () => {
    procs.start('plc', nodeBin, [path.join(HERE, 'plc.js')], { env: { ...process.env, PLC_PORT: String(plcPort) } })
    if (!(await waitFor(() => fetch(`${plcUrl}/_health`).then((r) => r.ok), 20000))) throw new Error('PLC did not start')
  })

  await phase('start atrelay', async () => {
    procs.start(
      'atrelay',
      ATRELAY_BIN,
      [
        'serve',
        '--allow-insecure-hosts',
        '--plc-host', plcUrl,
        '--bind', `127.0.0.1:${relayPort}`,
        '--metrics-listen', `127.0.0.1:${metricsPort}`,
        '--db-url', `sqlite://${RUN_DIR}/relay.sqlite`,
        '--persist-dir', `${RUN_DIR}/persist`,
      ],
      { env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' } },
    )
    if (!(await waitFor(() => fetch(`${relayUrl}/xrpc/_health`).then((r) => r.ok), 30000))) {
      throw new Error('atrelay did not start')
    }
  })

  // PDS settings shared by both starts of a PDS (the restart must find the same keys and data).
  const pdsPorts = () => [pds1Port, pds2Port]
  const pdses = [1, 2].map((n) => {
    const port = n === 1 ? pds1Port : pds2Port
    const dir = path.join(RUN_DIR, `pds${n}`)
    return {
      n,
      name: `pds${n}`,
      port,
      url: `http://localhost:${port}`,
      hostname: `localhost:${port}`,
      serviceDid: `did:web:localhost%3A${port}`,
      adminPassword: `admin-${crypto.randomBytes(8).toString('hex')}`,
      dir,
      env: null,
    }
  })
  for (const pds of pdses) {
    const rotation = await Secp256k1Keypair.create({ exportable: true })
    fs.mkdirSync(path.join(pds.dir, 'blobs'), { recursive: true })
    pds.env = {
      ...process.env,
      PDS_PORT: String(pds.port),
      PDS_HOSTNAME: 'localhost',
      PDS_SERVICE_DID: pds.serviceDid,
      PDS_SERVICE_NAME: `e2e ${pds.name}`,
      PDS_DATA_DIRECTORY: pds.dir,
      PDS_BLOBSTORE_DISK_LOCATION: path.join(pds.dir, 'blobs'),
      PDS_BLOBSTORE_DISK_TMP_LOCATION: path.join(pds.dir, 'blobs-tmp'),
      PDS_DID_PLC_URL: plcUrl,
      PDS_JWT_SECRET: crypto.randomBytes(16).toString('hex'),
      PDS_ADMIN_PASSWORD: pds.adminPassword,
      PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: Buffer.from(await rotation.export()).toString('hex'),
      PDS_INVITE_REQUIRED: 'false',
      PDS_DEV_MODE: 'true',
      PDS_DISABLE_SSRF_PROTECTION: 'true',
      PDS_SERVICE_HANDLE_DOMAINS: '.test',
      PDS_CRAWLERS: relayUrl,
      LOG_ENABLED: 'true',
      LOG_LEVEL: process.env.E2E_PDS_LOG_LEVEL ?? 'info',
    }
  }
  const startPds = async (pds) => {
    procs.start(pds.name, nodeBin, [path.join(HERE, 'pds.js')], { env: pds.env })
    const up = await waitFor(
      () => fetch(`${pds.url}/xrpc/com.atproto.server.describeServer`).then((r) => r.ok),
      30000,
    )
    if (!up) throw new Error(`${pds.name} did not start; see ${procs.logPath(pds.name)}`)
  }

  // Consumers that are there from the start: atrelay's firehose from cursor 0, live.
  const relayRaw = new RawTap('relay raw', relayWs).start()
  const syncLive = new SyncConsumer('sync-live', relayWs, { plcUrl, pdsPorts }).start()
  // Python's client, also there from the start; it learns the seq to stop at from a file.
  const pyLiveOut = path.join(RUN_DIR, 'python-live-consumer.json')
  const pyLiveUntil = path.join(RUN_DIR, 'python-live-until')
  fs.rmSync(pyLiveUntil, { force: true })
  procs.start('python-live', PYTHON, [path.join(HERE, 'py_consumer.py'), `${relayWs}/xrpc`, '0', `@${pyLiveUntil}`, '900', pyLiveOut], { expectExit: true })

  await phase('start PDS hosts', async () => {
    await Promise.all(pdses.map(startPds))
  })
  // The ground truth: each PDS's own firehose, from cursor 0, across the restart.
  const truthTaps = pdses.map((pds) => new RawTap(pds.name, `ws://127.0.0.1:${pds.port}`).start())

  const web = new DidWebServer(webPort)
  await web.listen()

  // ---- scenario
  const sc = new Scenario(log)
  const [pds1, pds2] = pdses
  let alice, bob, carol, dan, erin, webAcct
  await phase('create accounts', async () => {
    alice = await sc.createPlcAccount('alice', pds1)
    bob = await sc.createPlcAccount('bob', pds1)
    carol = await sc.createPlcAccount('carol', pds1)
    dan = await sc.createPlcAccount('dan', pds2)
    erin = await sc.createPlcAccount('erin', pds2)
    webAcct = await sc.createWebAccount('wendy', pds2, web)
  })

  await phase('records, blob, handle change, deactivate/reactivate', async () => {
    const posts = {}
    for (const a of [alice, bob, carol, dan, erin]) {
      posts[a.name] = []
      for (let i = 0; i < 3; i++) posts[a.name].push((await sc.post(a)).uri)
    }
    // a profile with an avatar blob (stored on the PDS's disk), then an update
    const avatar = await sc.uploadBlob(alice)
    const profile = { $type: 'app.bsky.actor.profile', displayName: 'Alice', avatar }
    await sc.put(alice, 'app.bsky.actor.profile', 'self', profile)
    await sc.put(alice, 'app.bsky.actor.profile', 'self', { ...profile, displayName: 'Alice A.' })
    // deletes, and one commit with several ops
    await sc.del(bob, posts.bob[0])
    await sc.del(erin, posts.erin[1])
    const now = new Date().toISOString()
    await sc.applyWrites(bob, [
      { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', value: { $type: 'app.bsky.feed.post', text: 'multi 1', createdAt: now } },
      { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.feed.post', value: { $type: 'app.bsky.feed.post', text: 'multi 2', createdAt: now } },
      { $type: 'com.atproto.repo.applyWrites#update', collection: 'app.bsky.feed.post', rkey: posts.bob[2].split('/').pop(), value: { $type: 'app.bsky.feed.post', text: 'edited in a multi-op commit', createdAt: now } },
      { $type: 'com.atproto.repo.applyWrites#delete', collection: 'app.bsky.feed.post', rkey: posts.bob[1].split('/').pop() },
    ])
    // the did:web account: notes in a collection of its own (one with a blob), a post, an edit
    const note = (text, extra = {}) => ({ $type: WEB_COLLECTION, text, createdAt: new Date().toISOString(), ...extra })
    const n1 = await sc.create(webAcct, WEB_COLLECTION, note('first note'))
    await sc.create(webAcct, WEB_COLLECTION, note('note with a blob', { attachment: await sc.uploadBlob(webAcct) }))
    await sc.post(webAcct, 'hello from did:web')
    await sc.put(webAcct, WEB_COLLECTION, n1.uri.split('/').pop(), note('first note, edited'))
    // handle change
    await sc.updateHandle(bob, 'bobby.test')
    await sc.post(bob, 'after my handle change')
    // deactivate and reactivate
    await sc.deactivate(carol)
    await sleep(300)
    await sc.activate(carol)
    await sc.post(carol, 'back again')
  })

  await phase(`burst of ${BURST} records on both hosts`, async () => {
    // alice (pds1) writes half; dan (pds2) writes a quarter now and a quarter after the restart
    await Promise.all([sc.burst(alice, BURST / 2), sc.burst(dan, BURST / 4)])
  })

  await phase(`restart ${pds2.name} mid-run`, async () => {
    await procs.stop(pds2.name)
    await sleep(500)
    await startPds(pds2)
    await sc.login(dan)
    await sc.login(webAcct)
  })

  await phase('writes after the restart, account deletion, final deactivation', async () => {
    await Promise.all([sc.burst(dan, BURST / 4), sc.post(alice, 'while pds2 came back')])
    await sc.create(webAcct, WEB_COLLECTION, { $type: WEB_COLLECTION, text: 'after the restart', createdAt: new Date().toISOString() })
    await sc.deleteAccount(erin)
    await sc.deactivate(dan) // stays deactivated: statuses are compared below
  })
  timings.scenario_done_at = Number(secs())

  // ---- wait until atrelay has passed on everything the PDSes emitted
  const names = new Map([...sc.accounts.values()].map((a) => [a.did, a.name]))
  const truth = () => cmp.relayExpected(truthTaps.flatMap((t) => t.repoEvents()))[0]
  const caughtUp = await phase('wait for atrelay to pass everything on', () =>
    waitFor(() => {
      const want = cmp.perDid(truth(), cmp.fullKey)
      const got = cmp.perDid(relayRaw.repoEvents(), cmp.fullKey)
      const gotLib = cmp.perDid(syncLive.events(), cmp.libKey)
      const wantLib = cmp.perDid(truth(), cmp.libKey, cmp.libVisible)
      return (
        cmp.compareSequences(want, got, names).length === 0 &&
        cmp.compareSequences(wantLib, gotLib, names).length === 0
      )
    }, 60000, 250),
  )
  await sleep(500) // anything extra (duplicates) would show up now
  const headSeq = Math.max(0, ...relayRaw.repoEvents().map((e) => e.seq))

  // ---- replay from cursor 0 with a second @atproto/sync consumer and the Python client
  const pyOut = path.join(RUN_DIR, 'python-consumer.json')
  const [syncReplay, pyResult] = await phase('replay from cursor 0 (@atproto/sync and Python atproto)', async () => {
    const replay = new SyncConsumer('sync-replay', relayWs, { plcUrl, pdsPorts }).start()
    procs.start('python', PYTHON, [path.join(HERE, 'py_consumer.py'), `${relayWs}/xrpc`, '0', String(headSeq), '60', pyOut], { expectExit: true })
    const py = procs.children.get('python')
    // the last event @atproto/sync reports (it reports nothing for commits without ops)
    const libHead = Math.max(0, ...relayRaw.repoEvents().filter(cmp.libVisible).map((e) => e.seq))
    const seen = () => {
      const evs = replay.events()
      return evs.length > 0 && evs[evs.length - 1].seq >= libHead
    }
    await waitFor(seen, 60000, 200)
    await sleep(300)
    const pyExit = await Promise.race([py.exited, sleep(65000).then(() => null)])
    await replay.stop()
    return [replay, readPython('python', pyOut, pyExit, procs.logPath('python'))]
  })
  const pyLiveResult = await phase('Python atproto live consumer reaches the head', async () => {
    fs.writeFileSync(pyLiveUntil, String(headSeq))
    const exit = await Promise.race([procs.children.get('python-live').exited, sleep(65000).then(() => null)])
    return readPython('python-live', pyLiveOut, exit, procs.logPath('python-live'))
  })

  // ---- checks
  console.log('\nChecks')
  const allTruth = truthTaps.flatMap((t) => t.repoEvents())
  const [truthEvents, ignoredSyncs] = cmp.relayExpected(allTruth)
  const truthByType = cmp.countByType(allTruth)
  counts.pds = truthByType
  counts['pds, #sync not newer (ignored by rule)'] = ignoredSyncs.length
  counts.relay = cmp.countByType(relayRaw.repoEvents())

  check('no process of the network exited unexpectedly', unexpected.length === 0, unexpected.join('; '))
  check(
    'PDS firehoses (ground truth) read cleanly from cursor 0, across the restart',
    truthTaps.every((t) => t.errors.length === 0 && t.errorFrames.length === 0),
    truthTaps.map((t) => `${t.name}: ${t.repoEvents().length} events, ${t.connects} connections${t.errors.length ? `, errors ${t.errors.join('; ')}` : ''}${t.errorFrames.length ? `, error frames ${JSON.stringify(t.errorFrames)}` : ''}`).join('; '),
  )
  {
    const truthCommits = new Set(allTruth.filter((e) => e.type === 'commit').map((e) => `${e.did} ${e.rev} ${e.commit}`))
    const missing = sc.produced.filter((p) => !truthCommits.has(`${p.did} ${p.rev} ${p.cid}`))
    check(
      'every commit the PDS APIs reported is in the PDS firehoses',
      missing.length === 0,
      `${sc.produced.length} API writes${listProblems(missing.map((m) => `${names.get(m.did)} ${m.what} rev ${m.rev}`))}`,
    )
  }
  const typesPresent = ['commit', 'identity', 'account', 'sync'].filter((t) => truthByType[t] > 0)
  check(
    'the scenario produced #commit, #identity, #account (and #sync) events',
    ['commit', 'identity', 'account'].every((t) => truthByType[t] > 0),
    JSON.stringify(truthByType),
  )
  check('atrelay caught up with both PDS hosts', !!caughtUp, caughtUp ? `head seq ${headSeq}` : 'timed out after 60 s')

  // raw frames from atrelay, live from cursor 0
  {
    const want = cmp.perDid(truthEvents, cmp.fullKey)
    const got = cmp.perDid(relayRaw.repoEvents(), cmp.fullKey)
    const problems = [...relayRaw.errors, ...relayRaw.errorFrames.map((f) => `error frame ${JSON.stringify(f)}`), ...cmp.seqProblems(relayRaw.events)]
    check('raw firehose (live from cursor 0): frames decode, seq strictly increases', problems.length === 0, `${relayRaw.events.length} frames${listProblems(problems)}`)
    const seqProblems = cmp.compareSequences(want, got, names)
    check(
      'raw firehose: every PDS event, per account in PDS order (#commit/#sync/#identity/#account)',
      seqProblems.length === 0,
      `${relayRaw.repoEvents().length} events for ${got.size} accounts${listProblems(seqProblems)}`,
    )
    // field-by-field: the relay passes frames on unchanged but for seq (and time)
    const byKey = new Map(relayRaw.repoEvents().map((e) => [`${e.did} ${cmp.fullKey(e)}`, e]))
    const diffs = []
    for (const t of truthEvents) {
      const r = byKey.get(`${t.did} ${cmp.fullKey(t)}`)
      if (!r) continue
      for (const f of ['since', 'prevData', 'tooBig', 'blocksSha', 'blocksLen', 'handle', 'active', 'status']) {
        if (JSON.stringify(t[f]) !== JSON.stringify(r[f])) diffs.push(`${names.get(t.did)} ${t.type} seq ${t.seq}→${r.seq}: ${f} ${JSON.stringify(t[f])} ≠ ${JSON.stringify(r[f])}`)
      }
      if (JSON.stringify(t.ops) !== JSON.stringify(r.ops)) diffs.push(`${names.get(t.did)} commit ${t.rev}: ops differ`)
    }
    check('raw firehose: event bodies equal the PDS originals (ops, since, prevData, blocks bytes, handle, status)', diffs.length === 0, listProblems(diffs))
    // per host order (beyond the per-account guarantee): informative
    const hostOrder = []
    for (const tap of truthTaps) {
      const order = new Map(tap.repoEvents().map((e, i) => [`${e.did} ${cmp.fullKey(e)}`, i]))
      let last = -1
      let inversions = 0
      for (const e of relayRaw.repoEvents()) {
        const i = order.get(`${e.did} ${cmp.fullKey(e)}`)
        if (i === undefined) continue
        if (i < last) inversions++
        last = Math.max(last, i)
      }
      hostOrder.push(`${tap.name}: ${inversions} events out of host order`)
    }
    console.log(`  info  host order: ${hostOrder.join('; ')}`)
  }

  // @atproto/sync, live and replay
  for (const c of [syncLive, syncReplay]) {
    const want = cmp.perDid(truthEvents, cmp.libKey, cmp.libVisible)
    const got = cmp.perDid(c.events(), cmp.libKey)
    const verification = c.errors.filter((e) => e.kind !== 'FirehoseSubscriptionError')
    const subscription = c.errors.filter((e) => e.kind === 'FirehoseSubscriptionError')
    check(
      `@atproto/sync ${c.name}: zero verification failures (signatures, MST proofs, lexicon, handles)`,
      verification.length === 0 && subscription.length === 0,
      `${c.events().length} events${listProblems([...verification, ...subscription].map((e) => `${e.kind} seq ${e.seq ?? '?'} ${e.did ? names.get(e.did) ?? e.did : ''}: ${e.message}${e.cause ? ` (${e.cause})` : ''}`))}`,
    )
    const problems = cmp.compareSequences(want, got, names)
    check(`@atproto/sync ${c.name}: every commit with ops, #identity, #account, #sync, per account in order`, problems.length === 0, listProblems(problems))
    // every op verified: the library silently leaves out ops whose proof fails
    const commits = new Map(c.events().filter((e) => e.type === 'commit').map((e) => [`${e.did} ${e.rev}`, e]))
    const opProblems = []
    for (const t of truthEvents.filter((e) => e.type === 'commit' && e.ops.length > 0)) {
      const got = commits.get(`${t.did} ${t.rev}`)
      const want = t.ops.map((o) => `${o.action} ${o.path} ${o.cid}`).sort().join(', ')
      const have = got ? got.ops.map((o) => `${o.action} ${o.path} ${o.cid}`).sort().join(', ') : 'nothing'
      if (want !== have) opProblems.push(`${names.get(t.did)} rev ${t.rev}: want [${want}] got [${have}]`)
    }
    check(`@atproto/sync ${c.name}: every op of every commit verified`, opProblems.length === 0, `${truthEvents.filter((e) => e.type === 'commit').reduce((n, e) => n + e.ops.length, 0)} ops${listProblems(opProblems)}`)
    counts[c.name] = cmp.countByType(c.events())
  }

  // Python atproto, live from the start
  {
    const evs = pyLiveResult.events ?? []
    const errors = [...(pyLiveResult.errors ?? []), ...cmp.seqProblems(evs)]
    check(
      'Python atproto (live from the start): every frame parsed, every CAR read, no errors',
      errors.length === 0,
      `${pyLiveResult.frames ?? 0} frames, ${pyLiveResult.car_blocks ?? 0} CAR blocks${listProblems(errors)}`,
    )
    const problems = cmp.compareSequences(cmp.perDid(truthEvents, cmp.fullKey), cmp.perDid(evs, cmp.fullKey), names)
    check('Python atproto live: every PDS event, per account in order', problems.length === 0, listProblems(problems))
    counts['python-live'] = cmp.countByType(evs)
  }

  // Python atproto, replay
  {
    const evs = pyResult.events ?? []
    const want = cmp.perDid(truthEvents, cmp.fullKey)
    const got = cmp.perDid(evs, cmp.fullKey)
    check(
      'Python atproto (replay from 0): every frame parsed, every CAR read, no errors',
      (pyResult.errors ?? []).length === 0 && cmp.seqProblems(evs).length === 0,
      `${pyResult.frames ?? 0} frames, ${pyResult.car_blocks ?? 0} CAR blocks in ${pyResult.seconds ?? '?'} s${listProblems([...(pyResult.errors ?? []), ...cmp.seqProblems(evs)])}`,
    )
    const problems = cmp.compareSequences(want, got, names)
    check('Python atproto: every PDS event, per account in order', problems.length === 0, listProblems(problems))
    const rawBySeq = new Map(relayRaw.repoEvents().map((e) => [e.seq, `${e.type} ${e.did} ${cmp.fullKey(e)}`]))
    const mismatched = evs.filter((e) => e.type !== 'info' && rawBySeq.get(e.seq) !== `${e.type} ${e.did} ${cmp.fullKey(e)}`)
    check('replay equals live: the Python client saw the same event at every seq as the live reader', mismatched.length === 0 && evs.filter((e) => e.type !== 'info').length === rawBySeq.size, `${evs.length} vs ${rawBySeq.size}${listProblems(mismatched.map((e) => `seq ${e.seq}`))}`)
    counts.python = cmp.countByType(evs)
  }

  // sync endpoints: atrelay against each PDS's own view
  await phase('compare sync endpoints', async () => {
    const listAll = async (base) => {
      const repos = []
      let cursor
      do {
        const page = await xrpc(base, 'com.atproto.sync.listRepos', { params: { limit: 100, cursor } })
        repos.push(...page.repos)
        cursor = page.cursor
      } while (cursor)
      return repos
    }
    const relayRepos = new Map((await listAll(relayUrl)).map((r) => [r.did, r]))
    const problems = []
    let compared = 0
    for (const pds of pdses) {
      for (const r of await listAll(pds.url)) {
        compared++
        const mine = relayRepos.get(r.did)
        const want = JSON.stringify({ head: r.head, rev: r.rev, active: r.active, status: r.status ?? null })
        const got = mine && JSON.stringify({ head: mine.head, rev: mine.rev, active: mine.active, status: mine.status ?? null })
        if (want !== got) problems.push(`${names.get(r.did) ?? r.did}: ${pds.name} ${want}, atrelay ${got ?? 'missing'}`)
      }
    }
    check('listRepos: atrelay lists every PDS repo with the same head, rev, active, status', problems.length === 0, `${compared} repos${listProblems(problems)}`)

    const call = (base, method, did) =>
      xrpc(base, method, { params: { did } }).then(
        (v) => ({ ok: v }),
        (e) => ({ err: e.error }),
      )
    const statusProblems = []
    const commitProblems = []
    for (const a of sc.accounts.values()) {
      const [ps, rs] = [await call(a.pds.url, 'com.atproto.sync.getRepoStatus', a.did), await call(relayUrl, 'com.atproto.sync.getRepoStatus', a.did)]
      const [pc, rc] = [await call(a.pds.url, 'com.atproto.sync.getLatestCommit', a.did), await call(relayUrl, 'com.atproto.sync.getLatestCommit', a.did)]
      if (a.deleted) {
        // the PDS forgets a deleted account; the relay may remember it as deleted
        const okStatus = rs.err === 'RepoNotFound' || (rs.ok && rs.ok.active === false && rs.ok.status === 'deleted')
        if (!okStatus) statusProblems.push(`${a.name} (deleted): PDS ${JSON.stringify(ps)}, atrelay ${JSON.stringify(rs)}`)
        if (!rc.err || !['RepoNotFound', 'RepoDeleted'].includes(rc.err)) commitProblems.push(`${a.name} (deleted): PDS ${JSON.stringify(pc)}, atrelay ${JSON.stringify(rc)}`)
        continue
      }
      const norm = (s) => s.ok ? JSON.stringify({ active: s.ok.active, status: s.ok.status ?? null, rev: s.ok.rev ?? null }) : `error ${s.err}`
      if (norm(ps) !== norm(rs)) statusProblems.push(`${a.name}: PDS ${norm(ps)}, atrelay ${norm(rs)}`)
      const normC = (s) => s.ok ? JSON.stringify({ cid: s.ok.cid, rev: s.ok.rev }) : `error ${s.err}`
      if (normC(pc) !== normC(rc)) commitProblems.push(`${a.name}: PDS ${normC(pc)}, atrelay ${normC(rc)}`)
    }
    check('getRepoStatus: atrelay agrees with the PDS for every account (active, deactivated, deleted)', statusProblems.length === 0, `${sc.accounts.size} accounts${listProblems(statusProblems)}`)
    check('getLatestCommit: atrelay agrees with the PDS for every account', commitProblems.length === 0, listProblems(commitProblems))

    // listReposByCollection: the did:web account alone writes WEB_COLLECTION
    const byCollection = async (collection) => {
      const page = await xrpc(relayUrl, 'com.atproto.sync.listReposByCollection', { params: { collection, limit: 1000 } })
      return page.repos.map((r) => r.did)
    }
    const webList = await waitFor(async () => {
      const dids = await byCollection(WEB_COLLECTION)
      return dids.length > 0 ? dids : null
    }, 10000)
    check(
      `listReposByCollection(${WEB_COLLECTION}) lists the did:web account alone`,
      JSON.stringify(webList) === JSON.stringify([webAcct.did]),
      `got ${JSON.stringify(webList)}`,
    )
    const posters = await byCollection('app.bsky.feed.post').catch((e) => [`error ${e.message}`])
    const mustHave = [alice, bob, carol, webAcct].filter((a) => !posters.includes(a.did)).map((a) => a.name)
    check(
      'listReposByCollection(app.bsky.feed.post) lists the active posters and not the deleted account',
      mustHave.length === 0 && !posters.includes(erin.did),
      `${posters.map((d) => names.get(d) ?? d).join(', ')}${mustHave.length ? `; missing ${mustHave.join(', ')}` : ''}`,
    )

    // hosts: both followed, the restarted one reconnected and at the PDS's last seq
    const hostProblems = []
    for (const [i, pds] of pdses.entries()) {
      const lastSeq = truthTaps[i].cursor
      const st = await xrpc(relayUrl, 'com.atproto.sync.getHostStatus', { params: { hostname: pds.hostname } }).catch((e) => ({ error: e.message }))
      if (st.status !== 'active' || st.seq !== lastSeq) hostProblems.push(`${pds.hostname}: PDS last seq ${lastSeq}, atrelay ${JSON.stringify(st)}`)
      else console.log(`  info  ${pds.name} (${pds.hostname}): ${JSON.stringify(st)}`)
    }
    check(`hosts: both active at atrelay, cursor at each PDS's last seq (${pds2.name} restarted)`, hostProblems.length === 0, listProblems(hostProblems))
  })

  // atrelay's own account of what it dropped
  {
    const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text()).catch((e) => `error ${e.message}`)
    fs.writeFileSync(path.join(RUN_DIR, 'metrics.txt'), text)
    const drops = new Map(
      text
        .split('\n')
        .map((l) => l.match(/^atrelay_ingest_dropped_events_total\{reason="([^"]+)"\} (\d+)$/))
        .filter(Boolean)
        .map((m) => [m[1], Number(m[2])]),
    )
    const accepted = text.split('\n').find((l) => l.startsWith('atrelay_ingest_accepted_events_total'))
    const unexpectedDrops = [...drops]
      .filter(([reason, n]) => n !== (reason === 'rev-not-newer' ? ignoredSyncs.length : 0))
      .map(([reason, n]) => `${reason}: ${n}${reason === 'rev-not-newer' ? ` (expected ${ignoredSyncs.length}, the #sync events not newer than their commit)` : ''}`)
    check(
      'atrelay dropped nothing but the not-newer #sync events (atrelay_ingest_dropped_events_total)',
      drops.size > 0 && unexpectedDrops.length === 0,
      `${accepted ?? 'no accepted counter'}; rev-not-newer ${drops.get('rev-not-newer') ?? 0}${listProblems(unexpectedDrops)}`,
    )
  }

  // ---- tear down, summary
  relayRaw.stop()
  truthTaps.forEach((t) => t.stop())
  await syncLive.stop()
  await web.close()
  await procs.stopAll()

  const failed = checks.filter((c) => !c.ok)
  console.log('\nEvents')
  for (const [k, v] of Object.entries(counts)) console.log(`  ${k.padEnd(12)} ${JSON.stringify(v)}`)
  console.log(`  records written through the PDS APIs: ${sc.produced.length} commits`)
  console.log('\nTimings (s)')
  for (const [k, v] of Object.entries(timings)) console.log(`  ${String(v.toFixed ? v.toFixed(1) : v).padStart(6)}  ${k}`)
  console.log(`\nLogs and data: ${RUN_DIR}`)
  if (failed.length) {
    console.log('\natrelay log, last lines:')
    const relayLog = fs.readFileSync(procs.logPath('atrelay'), 'utf8').trim().split('\n')
    console.log(relayLog.slice(-25).map((l) => `  | ${l}`).join('\n'))
  }
  console.log(`\ne2e: ${checks.length - failed.length} passed, ${failed.length} failed`)
  console.log(failed.length ? `E2E FAIL (${secs()} s)` : `E2E PASS (${secs()} s)`)
  return failed.length ? 1 : 0
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`\nE2E FAIL: ${err.stack ?? err}`)
    console.error(`logs: ${RUN_DIR}/logs`)
    process.exit(1)
  },
)
