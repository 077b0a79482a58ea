'use strict'
// The PLC directory of the e2e network: @did-plc/server with its in-memory database, on
// 127.0.0.1:$PLC_PORT. It lives for the whole run (nothing restarts it), so in-memory is enough.
const { PlcServer, Database } = require('@did-plc/server')
const { bindLoopback, exitOnSignal } = require('./lib/loopback')

async function main() {
  const port = Number(process.env.PLC_PORT)
  if (!port) throw new Error('PLC_PORT is not set')
  const server = PlcServer.create({ db: Database.mock(), port })
  bindLoopback(server.app)
  await server.start()
  console.log(`plc: listening on http://127.0.0.1:${port}`)
  exitOnSignal('plc', () => server.destroy())
}

main().catch((err) => {
  console.error('plc: failed to start', err)
  process.exit(1)
})
