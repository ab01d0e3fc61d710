import { execFile } from 'node:child_process'

/**
 * The sd_notify protocol (READY=1, WATCHDOG=1, STATUS=…, STOPPING=1) without native modules.
 *
 * systemd passes NOTIFY_SOCKET (an AF_UNIX datagram socket, a path or `@abstract`) to a
 * Type=notify service. Node's dgram has no AF_UNIX datagram sockets, so each message is sent by
 * systemd's own `systemd-notify --pid=<our pid> VAR=VALUE…`: it handles both socket kinds, sends
 * MAINPID=<our pid> and, where it may (root), SCM_CREDENTIALS with our pid; and by default it
 * waits on a BARRIER=1 until systemd has processed the message, so the short-lived sender is still
 * alive when systemd looks up its cgroup (the unit sets NotifyAccess=all for it).
 *
 * The watchdog pings come from a timer on the main event loop, every WATCHDOG_USEC/2: when the
 * loop is stuck (a hot loop, a synchronous call that never returns) no ping leaves and systemd
 * kills and restarts the edge after WatchdogSec. That is the point; never move them to a worker.
 *
 * Without NOTIFY_SOCKET (a terminal, the tests, a container) everything here is a no-op. Without
 * the systemd-notify binary it logs once and carries on.
 */

export interface NotifyLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  debug(obj: object, msg?: string): void
}

export interface SystemdNotifyOptions {
  env?: NodeJS.ProcessEnv
  logger?: NotifyLogger
  /** The sender binary (default systemd-notify, found on PATH). */
  command?: string
  /** The pid we speak for (default process.pid). */
  pid?: number
}

export interface SystemdNotifier {
  /** True when NOTIFY_SOCKET is set and the sender has not been found missing. */
  readonly enabled: boolean
  /** Milliseconds between watchdog pings, or 0 when systemd asked for no watchdog. */
  readonly watchdogIntervalMs: number
  /** Watchdog pings handed to the sender so far. */
  readonly watchdogPings: number
  /** READY=1 (with an optional STATUS=) and start the watchdog pings. */
  ready(status?: string): Promise<void>
  status(text: string): Promise<void>
  /** STOPPING=1 (with an optional STATUS=) and stop the watchdog pings. */
  stopping(status?: string): Promise<void>
  /** Stop the watchdog pings; sends nothing. */
  close(): void
}

/** One line of sd_notify text: no newlines (they separate assignments), bounded length. */
export function sanitizeStatus(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 1024)
}

/** WATCHDOG_USEC / 2 in ms when the watchdog is meant for `pid` (WATCHDOG_PID absent or equal). */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number {
  const usec = Number(env.WATCHDOG_USEC)
  if (!Number.isFinite(usec) || usec <= 0) return 0
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return 0
  return Math.max(1, Math.floor(usec / 2 / 1000))
}

const noLog: NotifyLogger = { info() {}, warn() {}, debug() {} }

export function createSystemdNotifier(opts: SystemdNotifyOptions = {}): SystemdNotifier {
  const env = opts.env ?? process.env
  const log = opts.logger ?? noLog
  const command = opts.command ?? 'systemd-notify'
  const pid = opts.pid ?? process.pid
  const socket = env.NOTIFY_SOCKET ?? ''
  const interval = socket ? watchdogIntervalMs(env, pid) : 0
  let enabled = socket !== ''
  let missingLogged = false
  let failureLogged = false
  let timer: NodeJS.Timeout | undefined
  let pingInFlight = false
  let pings = 0
  // Messages go out one after the other, in order (READY before the first WATCHDOG, STOPPING last).
  let chain: Promise<void> = Promise.resolve()

  const childEnv = { ...env, NOTIFY_SOCKET: socket }

  function sendNow(assignments: string[]): Promise<void> {
    return new Promise((resolve) => {
      if (!enabled) return resolve()
      execFile(command, [`--pid=${pid}`, ...assignments], { env: childEnv, timeout: 10_000 }, (err, _stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code
          if (code === 'ENOENT') {
            enabled = false
            stopTimer()
            if (!missingLogged) {
              missingLogged = true
              log.warn({ command, notifySocket: socket }, 'systemd-notify not found (Debian package systemd): no readiness or watchdog notifications')
            }
          } else if (!failureLogged) {
            failureLogged = true
            log.warn({ command, notifySocket: socket, err: err.message, stderr: String(stderr).trim() }, 'systemd notification failed (further failures logged at debug)')
          } else {
            log.debug({ command, err: err.message }, 'systemd notification failed')
          }
        }
        resolve()
      })
    })
  }

  function send(assignments: string[]): Promise<void> {
    const p = chain.then(() => sendNow(assignments))
    chain = p
    return p
  }

  function stopTimer(): void {
    if (timer) clearInterval(timer)
    timer = undefined
  }

  function startTimer(): void {
    if (!enabled || interval <= 0 || timer) return
    timer = setInterval(() => {
      // A sender still waiting on systemd: skip rather than pile up processes.
      if (pingInFlight) return
      pingInFlight = true
      pings++
      void send(['WATCHDOG=1']).finally(() => {
        pingInFlight = false
      })
    }, interval)
    timer.unref()
  }

  return {
    get enabled() {
      return enabled
    },
    watchdogIntervalMs: interval,
    get watchdogPings() {
      return pings
    },
    async ready(status) {
      if (!enabled) return
      const p = send(['READY=1', ...(status ? [`STATUS=${sanitizeStatus(status)}`] : [])])
      startTimer()
      await p
      if (enabled) log.info({ notifySocket: socket, watchdogIntervalMs: interval }, 'systemd notified: ready')
    },
    async status(text) {
      if (!enabled) return
      await send([`STATUS=${sanitizeStatus(text)}`])
    },
    async stopping(status) {
      stopTimer()
      if (!enabled) return
      await send(['STOPPING=1', ...(status ? [`STATUS=${sanitizeStatus(status)}`] : [])])
    },
    close() {
      stopTimer()
    },
  }
}

/** The edge's use: READY=1 with a status line now, watchdog pings from here on. */
export async function startSystemdNotify(status: string, opts: SystemdNotifyOptions = {}): Promise<SystemdNotifier> {
  const n = createSystemdNotifier(opts)
  await n.ready(status)
  return n
}
