'use strict'
// Child processes of the e2e run. Each child gets its own process group (detached), its output
// goes to <runDir>/logs/<name>.log, and its pgid is appended to <runDir>/pgids so run.sh can
// kill whatever is left even if this process dies without cleaning up.
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

class Procs {
  constructor(runDir) {
    this.runDir = runDir
    this.logDir = path.join(runDir, 'logs')
    fs.mkdirSync(this.logDir, { recursive: true })
    this.pgidFile = path.join(runDir, 'pgids')
    this.children = new Map()
    this.onUnexpectedExit = null
  }

  logPath(name) {
    return path.join(this.logDir, `${name}.log`)
  }

  // `expectExit`: the child ends by itself (a consumer), so its exit is not reported.
  start(name, cmd, args, { env, cwd, expectExit = false } = {}) {
    const fd = fs.openSync(this.logPath(name), 'a')
    fs.writeSync(fd, `---- start ${new Date().toISOString()}: ${cmd} ${args.join(' ')}\n`)
    const child = spawn(cmd, args, {
      env: env ?? process.env,
      cwd,
      detached: true,
      stdio: ['ignore', fd, fd],
    })
    fs.closeSync(fd)
    fs.appendFileSync(this.pgidFile, `${child.pid}\n`)
    const entry = { name, child, stopping: expectExit }
    entry.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        entry.result = { code, signal }
        if (!entry.stopping && this.onUnexpectedExit) {
          this.onUnexpectedExit(name, code, signal)
        }
        resolve(entry.result)
      })
    })
    this.children.set(name, entry)
    return entry
  }

  // SIGTERM to the child's group, SIGKILL after timeoutMs.
  async stop(name, timeoutMs = 10000) {
    const entry = this.children.get(name)
    if (!entry || entry.result) return entry?.result
    entry.stopping = true
    signalGroup(entry.child.pid, 'SIGTERM')
    const timer = new Promise((resolve) => setTimeout(() => resolve(null), timeoutMs))
    const result = await Promise.race([entry.exited, timer])
    if (result === null) {
      signalGroup(entry.child.pid, 'SIGKILL')
      return entry.exited
    }
    signalGroup(entry.child.pid, 'SIGKILL') // grandchildren, if any
    return result
  }

  async stopAll() {
    await Promise.all([...this.children.keys()].map((name) => this.stop(name, 5000)))
  }

  killAllNow() {
    for (const entry of this.children.values()) {
      entry.stopping = true
      signalGroup(entry.child.pid, 'SIGKILL')
    }
  }
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal)
  } catch {
    // already gone
  }
}

module.exports = { Procs }
