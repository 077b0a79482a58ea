'use strict'
// One reference PDS (@atproto/pds) of the e2e network, configured from PDS_* environment
// variables the way @atproto/dev-env configures its test PDS: SQLite databases and blobs on
// disk under PDS_DATA_DIRECTORY, the local PLC directory, no app view, no email, no invites.
//
// One change to the stock configuration: the hostname the PDS sends in its requestCrawl. The
// PDS sends `{hostname: cfg.service.hostname}`, which is "localhost" on loopback, without the
// port, so a relay would dial port 443. PDS_HOSTNAME cannot carry the port (envToCfg would then
// derive an https public URL and an invalid did:web service DID from it), so after envToCfg we
// set cfg.service.hostname to "localhost:PORT". Only the crawler notifier, invite-code prefixes
// and the image URL builder read it; DID documents keep naming http://localhost:PORT.
const pds = require('@atproto/pds')
const { bindLoopback, exitOnSignal } = require('./lib/loopback')

async function main() {
  const env = pds.readEnv()
  const cfg = pds.envToCfg(env)
  cfg.service.hostname = `localhost:${cfg.service.port}`
  const secrets = pds.envToSecrets(env)
  const server = await pds.PDS.create(cfg, secrets)
  bindLoopback(server.app)
  await server.start()
  console.log(
    `pds: listening on http://127.0.0.1:${cfg.service.port} (crawl hostname ${cfg.service.hostname}, crawlers ${cfg.crawlers.join(',')})`,
  )
  exitOnSignal('pds', () => server.destroy())
}

main().catch((err) => {
  console.error('pds: failed to start', err)
  process.exit(1)
})
