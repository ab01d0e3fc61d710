import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NotifyListener } from '../../tests/support/notify-listener.ts'
import { createSystemdNotifier, sanitizeStatus, watchdogIntervalMs, type NotifyLogger } from './systemd-notify.ts'

// A real AF_UNIX datagram listener stands in for systemd (tests/support/notify-listener.ts).
const hasSystemdNotify = spawnSync('systemd-notify', ['--version']).status === 0
const isRoot = process.getuid?.() === 0

function recordingLogger(): NotifyLogger & { warns: string[] } {
  const warns: string[] = []
  return { warns, info() {}, debug() {}, warn: (_o, msg) => void warns.push(msg ?? '') }
}

describe('sd_notify helpers', () => {
  it('halves WATCHDOG_USEC into ms and honours WATCHDOG_PID', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 42)).toBe(15_000)
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toBe(15_000)
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 42)).toBe(0)
    expect(watchdogIntervalMs({}, 42)).toBe(0)
    expect(watchdogIntervalMs({ WATCHDOG_USEC: 'x' }, 42)).toBe(0)
    expect(sanitizeStatus('a\nb\r\nc')).toBe('a b c')
  })

  it('is a no-op without NOTIFY_SOCKET (spawns nothing)', async () => {
    const n = createSystemdNotifier({ env: { WATCHDOG_USEC: '1000' }, command: '/nonexistent/never-run' })
    expect(n.enabled).toBe(false)
    expect(n.watchdogIntervalMs).toBe(0)
    await n.ready('x')
    await n.stopping()
    expect(n.watchdogPings).toBe(0)
  })

  it('logs once and does not crash when systemd-notify is missing', async () => {
    const log = recordingLogger()
    const n = createSystemdNotifier({ env: { NOTIFY_SOCKET: '/tmp/none.sock', WATCHDOG_USEC: '20000' }, command: '/nonexistent/systemd-notify', logger: log })
    await n.ready('up')
    await n.status('still')
    await n.stopping('bye')
    expect(n.enabled).toBe(false)
    expect(log.warns.filter((w) => w.includes('not found'))).toHaveLength(1)
    n.close()
  })
})

describe.skipIf(!hasSystemdNotify)('sd_notify over a real AF_UNIX datagram socket (systemd-notify)', () => {
  let dir: string
  const listeners: NotifyListener[] = []

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdnotify-'))
  })
  afterAll(() => {
    for (const l of listeners) l.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  async function listen(address: string): Promise<NotifyListener> {
    const l = new NotifyListener(address)
    listeners.push(l)
    await l.start()
    return l
  }

  it('sends READY=1, WATCHDOG=1 every WATCHDOG_USEC/2, STATUS and STOPPING=1 with our pid', async () => {
    const l = await listen(join(dir, 'notify.sock'))
    const n = createSystemdNotifier({ env: { NOTIFY_SOCKET: l.address, WATCHDOG_USEC: '200000', WATCHDOG_PID: String(process.pid) } })
    expect(n.watchdogIntervalMs).toBe(100)
    await n.ready('store s1 running')
    const [ready] = await l.until('READY=1')
    expect(ready.lines).toContain(`MAINPID=${process.pid}`)
    expect(ready.lines).toContain('STATUS=store s1 running')
    // As root systemd-notify may send SCM_CREDENTIALS with our pid; otherwise the kernel puts its own.
    if (isRoot) expect(ready.pid).toBe(process.pid)
    else expect(ready.pid).toBeGreaterThan(0)

    const pings = await l.until('WATCHDOG=1', 3)
    for (const p of pings) {
      expect(p.lines).toContain(`MAINPID=${process.pid}`)
      if (isRoot) expect(p.pid).toBe(process.pid)
    }
    // READY goes out before the first ping.
    expect(l.got.findIndex((d) => d.lines.includes('READY=1'))).toBeLessThan(l.got.findIndex((d) => d.lines.includes('WATCHDOG=1')))

    await n.status('draining\nspool')
    expect((await l.until('STATUS=draining spool'))[0].lines).toContain(`MAINPID=${process.pid}`)
    await n.stopping('bye')
    const [stop] = await l.until('STOPPING=1')
    expect(stop.lines).toContain('STATUS=bye')
    const after = n.watchdogPings
    await new Promise((r) => setTimeout(r, 350))
    expect(n.watchdogPings).toBe(after) // no pings after STOPPING
  })

  it('pings only while the event loop runs: a blocked loop leaves a gap in WATCHDOG=1', async () => {
    const l = await listen(join(dir, 'wd.sock'))
    const n = createSystemdNotifier({ env: { NOTIFY_SOCKET: l.address, WATCHDOG_USEC: '100000' } })
    await n.ready()
    await l.until('WATCHDOG=1', 3)
    const before = l.got.filter((d) => d.lines.includes('WATCHDOG=1')).length
    const blockMs = 1500
    const end = Date.now() + blockMs
    while (Date.now() < end) {
      /* a stuck event loop */
    }
    await l.until('WATCHDOG=1', before + 3)
    n.close()
    const times = l.got.filter((d) => d.lines.includes('WATCHDOG=1')).map((d) => d.t)
    const gaps = times.slice(1).map((t, i) => (t - times[i]!) * 1000)
    // Pings every ~50 ms, except across the block: one gap as long as (almost) the block itself.
    expect(Math.max(...gaps)).toBeGreaterThan(blockMs * 0.8)
  })

  it('reaches an abstract-namespace socket (@name)', async () => {
    const l = await listen(`@store-edge-test-${process.pid}-${Date.now()}`)
    const n = createSystemdNotifier({ env: { NOTIFY_SOCKET: l.address } })
    expect(n.watchdogIntervalMs).toBe(0)
    await n.ready('abstract')
    const [ready] = await l.until('READY=1')
    expect(ready.lines).toContain(`MAINPID=${process.pid}`)
    expect(ready.lines).toContain('STATUS=abstract')
    await n.stopping()
    await l.until('STOPPING=1')
    expect(n.watchdogPings).toBe(0)
  })
})
