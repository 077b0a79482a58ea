'use strict'
// Comparing event streams: the PDSes' own firehoses (ground truth) against what atrelay's
// consumers saw. Events are compared per DID, in order, by a key per event.

// Full key: what a consumer that sees raw frames can compare.
function fullKey(e) {
  switch (e.type) {
    case 'commit':
      return `commit ${e.rev} ${e.commit}`
    case 'sync':
      return `sync ${e.rev}`
    case 'identity':
      return `identity ${e.handle ?? '-'}`
    case 'account':
      return `account ${e.active} ${e.status ?? '-'}`
    default:
      return `${e.type}`
  }
}

// Key for @atproto/sync's Firehose: its identity events carry the handle it verified from the
// current DID document, not the event's, and commits without ops produce no event at all.
function libKey(e) {
  return e.type === 'identity' ? 'identity' : fullKey(e)
}
const libVisible = (e) => e.type !== 'commit' || e.ops.length > 0

function perDid(events, keyFn, filter = () => true) {
  const map = new Map()
  for (const e of events) {
    if (e.type === 'info' || !filter(e)) continue
    if (!map.has(e.did)) map.set(e.did, [])
    map.get(e.did).push(keyFn(e))
  }
  return map
}

// Per-DID sequences of `got` must equal those of `want`. Returns a list of problems.
function compareSequences(want, got, names = new Map()) {
  const problems = []
  const label = (did) => names.get(did) ?? did
  for (const [did, keys] of want) {
    const have = got.get(did) ?? []
    const n = Math.max(keys.length, have.length)
    for (let i = 0; i < n; i++) {
      if (keys[i] !== have[i]) {
        problems.push(
          `${label(did)}: event ${i + 1} of ${keys.length}: want [${keys[i] ?? 'nothing'}], got [${have[i] ?? 'nothing'}] (have ${have.length})`,
        )
        break
      }
    }
  }
  for (const did of got.keys()) {
    if (!want.has(did)) problems.push(`${label(did)}: ${got.get(did).length} events for a DID no PDS emitted`)
  }
  return problems
}

// Seqs must strictly increase in arrival order.
function seqProblems(events) {
  const problems = []
  let last = -Infinity
  for (const e of events) {
    if (e.type === 'info') continue
    if (!(e.seq > last)) problems.push(`seq ${e.seq} after ${last}`)
    last = e.seq
  }
  return problems
}

// What atrelay is expected to pass on of the PDSes' events. One documented rule removes events:
// a #sync whose rev is not newer than the account's last passed-on commit or #sync is ignored
// (shared/reference/atproto-sync-spec.md: "#sync … ignore if rev ≤ stored"). The reference PDS
// emits such a #sync right after each account's first commit and after a reactivation, with the
// rev of the commit it already sent. Returns [expected events, ignored #sync events].
function relayExpected(truthEvents) {
  const lastRev = new Map()
  const expected = []
  const ignored = []
  for (const e of truthEvents) {
    if (e.type === 'commit' || e.type === 'sync') {
      const last = lastRev.get(e.did)
      if (e.type === 'sync' && last !== undefined && e.rev <= last) {
        ignored.push(e)
        continue
      }
      lastRev.set(e.did, e.rev)
    }
    expected.push(e)
  }
  return [expected, ignored]
}

function countByType(events) {
  const c = {}
  for (const e of events) c[e.type] = (c[e.type] ?? 0) + 1
  return c
}

module.exports = { fullKey, libKey, libVisible, perDid, compareSequences, seqProblems, countByType, relayExpected }
