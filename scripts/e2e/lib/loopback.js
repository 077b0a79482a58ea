'use strict'
// Makes an express app (PLC, PDS) listen on 127.0.0.1 only. Both servers call `app.listen(port)`,
// which binds every interface; the e2e network must not be reachable from outside the machine.
// The PDS's websocket upgrade handler is attached by a wrapper around `app.listen`, so we wrap
// that wrapper rather than replacing it.
function bindLoopback(app) {
  const listen = app.listen
  app.listen = (port, ...rest) => {
    const args = typeof rest[0] === 'string' ? rest : ['127.0.0.1', ...rest]
    return listen.call(app, port, ...args)
  }
}

// Stops `stop()` on SIGTERM/SIGINT, then exits.
function exitOnSignal(name, stop) {
  let stopping = false
  const handler = async (signal) => {
    if (stopping) return
    stopping = true
    console.log(`${name}: ${signal}, stopping`)
    const force = setTimeout(() => process.exit(0), 5000)
    force.unref()
    try {
      await stop()
    } catch (err) {
      console.error(`${name}: error while stopping`, err)
    }
    process.exit(0)
  }
  process.on('SIGTERM', handler)
  process.on('SIGINT', handler)
}

module.exports = { bindLoopback, exitOnSignal }
