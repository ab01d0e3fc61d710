// HTTP and live-stream client of the gateway API. The session is an HttpOnly cookie, so every
// request goes same-origin with credentials; nothing here ever sees or stores a token.

/** An API answer that was not 2xx, or a request that never reached the gateway (status 0). */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the network failed
   * @param {string} code `STORE_EDGE_ERR_…`, or `NETWORK` / `BAD_RESPONSE`
   * @param {string} message human-readable, shown to the user as is
   */
  constructor(status, code, message) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    /** @type {any} the parsed error body, for answers that carry more than code and message (e.g. `errors`) */
    this.body = null
  }
}

/** @type {(err: ApiError) => void} */
let onUnauthorized = () => {}

/** The app decides what a 401 means (back to the login page); requests made with `auth: false` skip it. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn
}

/**
 * @param {string} path e.g. `/v1/overview`
 * @param {{ method?: string, body?: unknown, query?: Record<string, string|number|undefined>, signal?: AbortSignal, auth?: boolean }} [opts]
 *   `auth: false` for the login call, whose 401 means "wrong password", not "session expired".
 * @returns {Promise<any>} the parsed JSON body, or null for 204
 */
export async function api(path, opts = {}) {
  const { method = 'GET', body, query, signal, auth = true } = opts
  let url = path
  if (query) {
    const qs = new URLSearchParams()
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') qs.set(k, String(v))
    const s = qs.toString()
    if (s) url += `?${s}`
  }
  /** @type {RequestInit} */
  const init = { method, credentials: 'same-origin', signal, headers: { accept: 'application/json' } }
  // The gateway accepts a cookie-authenticated change only as JSON (its CSRF guard), so a bodyless
  // POST/PATCH/PUT still sends `{}` as JSON. DELETE is exempt and sends nothing.
  const payload = body !== undefined ? body : ['POST', 'PATCH', 'PUT'].includes(method) ? {} : undefined
  if (payload !== undefined) {
    init.headers = { ...init.headers, 'content-type': 'application/json' }
    init.body = JSON.stringify(payload)
  }
  let res
  try {
    res = await fetch(url, init)
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err
    throw new ApiError(0, 'NETWORK', 'Cannot reach the gateway. Check the connection; retrying on the next update.')
  }
  if (res.status === 204) return null
  const text = await res.text()
  let data = null
  if (text) {
    try {
      data = JSON.parse(text)
    } catch {
      if (res.ok) throw new ApiError(res.status, 'BAD_RESPONSE', `The gateway sent an unreadable answer for ${path}.`)
    }
  }
  if (!res.ok) {
    const e = data && typeof data === 'object' && data.error ? data.error : null
    const err = new ApiError(
      res.status,
      e?.code ?? `HTTP_${res.status}`,
      e?.message ?? `${method} ${path} failed: HTTP ${res.status} ${res.statusText}`.trim(),
    )
    err.body = data
    if (res.status === 401 && auth) onUnauthorized(err)
    throw err
  }
  return data
}

/** True for the error a fetch raises when its view was left (not worth telling anyone). */
export const isAbort = (err) => err instanceof DOMException && err.name === 'AbortError'

/**
 * @typedef {{ ble: number, wifi: number }} BySource
 * @typedef {{ ts: number, occupancy: number, occupancyByZone: Record<string, number>, visits: number,
 *   visitsBySource: BySource, visitorsBySource: BySource, passersBySource: BySource, dwellP50S: number|null }} StorePoint
 * @typedef {{ storeId: string, point: StorePoint }} AggEvent
 * @typedef {{ storeId: string, type: 'enter'|'move'|'stale'|'exit', zone: string, fromZone?: string,
 *   source: 'ble'|'wifi', ts: number, dwellS?: number }} PresenceEventData
 * @typedef {{ storeId: string, status: 'online'|'offline', ts: number }} HealthEvent
 * @typedef {'off'|'connecting'|'connected'|'reconnecting'} LiveState
 */

const EVENT_TYPES = /** @type {const} */ (['hello', 'agg', 'presence', 'health', 'coupon', 'geofence'])

/**
 * One EventSource on `/v1/stream`, shared by the whole app. Views say which stores they need
 * (`setStores`) and listen with an AbortSignal, so leaving a view removes its listeners in one go.
 * EventSource retries network drops by itself; when the server refuses the stream (HTTP error, the
 * browser then gives up for good) we retry with backoff and let `onRefused` check the session.
 */
export class LiveStream {
  /** @param {{ onRefused?: () => Promise<boolean> }} [opts] onRefused: resolve false to stop retrying (e.g. logged out) */
  constructor(opts = {}) {
    this.onRefused = opts.onRefused ?? (async () => true)
    /** @type {EventSource|null} */
    this.es = null
    /** @type {string} the `stores` query of the open stream, '' for none */
    this.key = ''
    /** @type {LiveState} */
    this.state = 'off'
    /** @type {number|null} */
    this.lastEventAt = null
    this.target = new EventTarget()
    this.retryMs = 1000
    /** @type {ReturnType<typeof setTimeout>|undefined} */
    this.retryTimer = undefined
  }

  /**
   * Open the stream for these stores, `'*'` for every store in the user's scope (no list in the
   * URL, so a chain of thousands of stores fits), or `[]` to close it. Same set as now: no-op.
   * Naming a store outside the scope makes the gateway refuse the whole stream (403).
   * @param {string[]|'*'} storeIds
   */
  setStores(storeIds) {
    const key = storeIds === '*' ? '*' : [...new Set(storeIds)].sort().join(',')
    if (key === this.key && (this.es || this.retryTimer)) return
    this.close()
    this.key = key
    if (key) this.#open()
  }

  close() {
    clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    this.es?.close()
    this.es = null
    this.key = ''
    this.#setState('off')
  }

  /**
   * @param {'hello'|'agg'|'presence'|'health'|'coupon'|'geofence'|'state'|'event'} type `state` fires on connection changes, `event` on any data event
   * @param {(data: any) => void} fn
   * @param {AbortSignal} [signal] removes the listener when aborted
   */
  on(type, fn, signal) {
    const h = (/** @type {Event} */ e) => {
      try {
        fn(/** @type {CustomEvent} */ (e).detail)
      } catch (err) {
        console.error(`live/${type}`, err)
      }
    }
    this.target.addEventListener(type, h, { signal })
  }

  #open() {
    this.#setState(this.state === 'off' ? 'connecting' : 'reconnecting')
    const url = this.key === '*' ? '/v1/stream' : `/v1/stream?stores=${encodeURIComponent(this.key)}`
    const es = new EventSource(url, { withCredentials: true })
    this.es = es
    es.onopen = () => {
      this.retryMs = 1000
      this.#setState('connected')
    }
    es.onerror = () => {
      if (this.es !== es) return
      if (es.readyState === EventSource.CONNECTING) {
        this.#setState('reconnecting') // the browser retries by itself
        return
      }
      // CLOSED: the server refused (401/403/5xx or wrong content type); the browser will not retry.
      es.close()
      this.es = null
      this.#setState('reconnecting')
      const key = this.key
      this.retryTimer = setTimeout(async () => {
        this.retryTimer = undefined
        if (this.key !== key) return
        const keepGoing = await this.onRefused().catch(() => true)
        if (keepGoing && this.key === key && !this.es) this.#open()
      }, this.retryMs)
      this.retryMs = Math.min(this.retryMs * 2, 30_000)
    }
    for (const type of EVENT_TYPES) {
      es.addEventListener(type, (/** @type {MessageEvent} */ m) => {
        if (this.es !== es) return
        let data
        try {
          data = JSON.parse(m.data)
        } catch {
          console.warn(`live/${type}: not JSON`, m.data)
          return
        }
        if (type === 'hello') {
          this.#setState('connected')
        } else {
          this.lastEventAt = Date.now()
          this.target.dispatchEvent(new CustomEvent('event', { detail: { type, data } }))
        }
        this.target.dispatchEvent(new CustomEvent(type, { detail: data }))
      })
    }
  }

  /** @param {LiveState} s */
  #setState(s) {
    if (s === this.state) return
    this.state = s
    this.target.dispatchEvent(new CustomEvent('state', { detail: s }))
  }
}
