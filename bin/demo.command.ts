import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Option, type Command } from 'commander'
import { pino } from 'pino'
import { resolveConfig, type EdgeConfig } from '../edge/core/config.ts'
import { createLogger, type Logger } from '../edge/core/logger.ts'
import { systemClock } from '../edge/core/clock.ts'
import { EdgeApp } from '../edge/app.ts'
import { demoStore } from '../edge/sim/demo-store.ts'
import type { Simulator } from '../edge/sim/simulator.ts'
import { onShutdown } from '../edge/cli/edge.command.ts'
import { makeSimulator, provisionLayout, simOptions, type SimOpts } from '../edge/cli/simulate.command.ts'
import { resolveGatewayConfig } from '../gateway/core/config.ts'
import { DEMO_USERS, GatewayApp } from '../gateway/app.ts'
import { DemoInbox, seedDemoMarketing } from './demo.marketing.ts'
import { DEMO_VIDEO, demoCamera, demoCameraSource } from '../edge/sim/demo-camera.ts'

/** The demo chain: a few stores with the demo layout, different sizes of crowd. */
export const DEMO_STORES = [
  { id: 'sh-nanjing-rd', name: '上海南京西路店 Shanghai West Nanjing Rd', rate: 3 },
  { id: 'bj-wangfujing', name: '北京王府井店 Beijing Wangfujing', rate: 2 },
  { id: 'gz-tianhe', name: '广州天河店 Guangzhou Tianhe', rate: 1.5 },
  { id: 'sz-futian', name: '深圳福田店 Shenzhen Futian', rate: 2.5 },
  { id: 'cd-chunxi', name: '成都春熙路店 Chengdu Chunxi Rd', rate: 1 },
]

interface DemoOpts extends SimOpts {
  dataDir: string
  stores: string
  port: string
  centralPort: string
  /** A video file or stream for the first store's camera; false: no camera (--no-camera). */
  camera: string | boolean
}

interface DemoStore {
  id: string
  edge: EdgeApp
  sim: Simulator
}

interface DemoCamera {
  url: string
  token: string
}

function edgeConfig(i: number, store: (typeof DEMO_STORES)[number], dataDir: string, uplinkUrl: string, level: string, camera?: DemoCamera): EdgeConfig {
  // The first store keeps the edge's default ports (MQTT 1884, WebSocket 8884, API 8080) for sensors and curl;
  // the others take free ports.
  const first = i === 0
  return resolveConfig(
    {
      store: { id: store.id, name: store.name, timezone: 'Asia/Shanghai' },
      dataDir: join(dataDir, store.id),
      log: { level },
      broker: first ? {} : { port: 0, wsPort: -1 },
      http: first ? {} : { port: 0 },
      uplink: { url: uplinkUrl },
      zones: demoStore.zones,
      sensors: demoStore.sensors,
      parking: { enabled: true },
      // The first store has a camera (when a video is at hand): counting, faces and the security view.
      ...(first && camera
        ? {
            vision: { enabled: true, models: { plateDet: '', plateRec: '' } },
            cameras: [demoCamera(camera.url)],
            http: { cameraToken: camera.token, cameraUnblurred: true },
          }
        : {}),
    },
    first ? process.env : {},
  )
}

function render(gw: GatewayApp, stores: DemoStore[], inbox: DemoInbox): string {
  const pad = (s: string | number, n: number) => String(s).padEnd(n)
  const num = (s: string | number, n: number) => String(s).padStart(n)
  const lines = [
    `store-edge demo — ${stores.length} stores, edge + simulator + central gateway   ${new Date().toISOString().slice(11, 19)} UTC`,
    '',
    `Dashboard   ${gw.url}`,
    `Log in as   ${DEMO_USERS.map((u) => `${u.username} / ${u.password}`).join('   ')}`,
    `Central     broker ${gw.brokerUrl}   database ${gw.db.kind}   TSDB ${gw.config.tsdb.url || 'none (live window only; set TSDB_URL for history)'}`,
    `API         ${gw.url}/openapi.json   ${gw.url}/health   ${gw.url}/metrics`,
    '',
    `${pad('store', 16)}${pad('edge MQTT', 12)}${num('sensors', 9)}${num('people (truth)', 16)}${num('devices (edge)', 16)}${num('uplink backlog', 16)}`,
  ]
  for (const s of stores) {
    const t = s.sim.truth()
    const snap = s.edge.presence.engine.snapshot(s.edge.clock.now())
    lines.push(
      `${pad(s.id, 16)}${pad(':' + s.edge.broker.address.mqtt.port, 12)}${num(`${s.edge.devices.onlineCount}/${s.edge.config.sensors.length + (demoStore.parking?.gates.length ?? 0)}`, 9)}${num(t.inStore, 16)}${num(snap.occupancy, 16)}${num(s.edge.uplink?.spool.size ?? 0, 16)}`,
    )
  }
  for (const s of stores) {
    for (const cam of s.edge.cameras?.list() ?? []) {
      const counts = cam.lines.map((l) => s.edge.cameras!.pipeline(cam.id)?.counts.find((c) => c.line === l.id)).filter(Boolean)
      const inOut = counts.map((c) => `${c!.entrance} in ${c!.in} out ${c!.out}`).join(', ')
      lines.push(`Camera      ${s.id}/${cam.id}: ${cam.state}${cam.reason ? ` (${cam.reason})` : ''}, ${cam.fps} fps, ${inOut || 'no lines'}   (live view: log in as security)`)
    }
  }
  const fired = stores.reduce((n, s) => n + (s.edge.triggers?.fired ?? 0), 0)
  lines.push(
    '',
    `Coupons     requested by the edges ${fired}   pushed to the member app ${inbox.received.size}   redeemed at tills ${inbox.redeemed}   (Marketing view: log in as marketing)`,
    '',
    'Minute aggregates reach the dashboard at each full minute; presence, zone and coupon events at once. Ctrl-C to stop.',
    '',
  )
  return lines.join('\n')
}

export function registerDemoCommand(program: Command): void {
  simOptions(
    program
      .command('demo')
      .description('run a demo chain on embedded defaults: edges with simulated sensors, the central gateway, the dashboard')
      .addOption(new Option('-d, --data-dir <dir>', 'data directory').default('./var/demo'))
      .addOption(new Option('--stores <n>', `simulated stores (1..${DEMO_STORES.length})`).default('3'))
      .addOption(new Option('-p, --port <port>', 'dashboard / API port').default('8090'))
      .addOption(new Option('--central-port <port>', 'embedded central MQTT broker port').default('1885'))
      .addOption(new Option('--camera <file|url>', `the first store's camera (default: ${DEMO_VIDEO} where Debian's opencv-doc is installed)`))
      .addOption(new Option('--no-camera', 'no camera (no models, less CPU and memory)')),
  ).action(async (opts: DemoOpts) => {
    opts.startHour ??= '12' // a demo should show a busy store whatever the hour
    const n = Number(opts.stores)
    if (!Number.isInteger(n) || n < 1 || n > DEMO_STORES.length) throw new Error(`--stores must be 1..${DEMO_STORES.length}`)
    const interactive = process.stdout.isTTY === true
    // On a terminal the summary owns the screen: logs go to a file in the data dir.
    const log: Logger = interactive
      ? createLogger({ level: process.env.LOG_LEVEL ?? 'info', destination: pino.destination({ dest: join(opts.dataDir, 'demo.log'), mkdir: true }) })
      : createLogger({ level: process.env.LOG_LEVEL ?? 'info' })

    // The member app's push endpoint: a local inbox that checks signatures and has a till redeem some coupons.
    let gwRef: GatewayApp | undefined
    const inbox = new DemoInbox(randomBytes(24).toString('hex'), log.child({ module: 'demo-inbox' }), (code, storeId) => gwRef!.coupons.service.redeem(code, storeId, 'demo-till'))
    const inboxUrl = await inbox.start()
    const cameraUrl = opts.camera === false ? undefined : demoCameraSource(typeof opts.camera === 'string' ? opts.camera : undefined)
    const camera = cameraUrl ? { url: cameraUrl, token: randomBytes(24).toString('hex') } : undefined
    const gwCfg = resolveGatewayConfig(
      {
        id: 'demo',
        dataDir: join(opts.dataDir, 'gateway'),
        http: { port: Number(opts.port) },
        centralBroker: { port: Number(opts.centralPort) },
        auth: { demoUsers: true },
        coupons: { webhook: { url: inboxUrl, secret: inbox.secret } },
        // The first store's edge keeps the default API port; the gateway reaches its cameras there.
        ...(camera ? { cameras: { edges: { [DEMO_STORES[0]!.id]: { url: `http://127.0.0.1:${Number(process.env.STORE_EDGE_HTTP_PORT ?? 8080)}`, token: camera.token } } } } : {}),
      },
      process.env,
    )
    const gw = new GatewayApp({ config: gwCfg, logger: log.child({ app: 'gateway' }) })
    gwRef = gw
    await gw.start()
    const stores: DemoStore[] = []
    let timer: NodeJS.Timeout | undefined
    const stop = async () => {
      for (const s of stores) {
        await s.sim.stop()
        await s.edge.stop()
      }
      await gw.stop()
      await inbox.stop()
    }
    onShutdown(async () => {
      if (timer) clearInterval(timer)
      await stop()
    })
    const chain = DEMO_STORES.slice(0, n)
    for (const store of chain) {
      if (!(await gw.data.stores.get(store.id))) await gw.data.stores.create({ id: store.id, name: store.name, timezone: 'Asia/Shanghai' })
    }
    // One loyalty programme for the chain: every store's simulator draws its members from the same seed.
    const memberSeed = Number(opts.seed)
    await seedDemoMarketing(gw, chain.map((s) => s.id), memberSeed, log.child({ module: 'demo' }))
    for (const [i, store] of chain.entries()) {
      const cfg = edgeConfig(i, store, opts.dataDir, gw.brokerUrl, process.env.LOG_LEVEL ?? 'info', camera)
      const credentials = await provisionLayout(cfg.dataDir, demoStore)
      const edge = new EdgeApp({ config: cfg, logger: log.child({ app: 'edge', store: store.id }), clock: systemClock })
      await edge.start()
      const sim = makeSimulator(
        { ...opts, seed: String(Number(opts.seed) + i), rate: String(Number(opts.rate) * (store.rate / 3)) },
        `mqtt://127.0.0.1:${edge.broker.address.mqtt.port}`,
        credentials,
        log.child({ module: 'sim', store: store.id }),
        memberSeed,
      )
      await sim.start()
      stores.push({ id: store.id, edge, sim })
    }
    const draw = () => {
      const text = render(gw, stores, inbox)
      if (interactive) process.stdout.write('\x1b[H\x1b[2J' + text)
      else process.stdout.write(text)
    }
    draw()
    timer = setInterval(draw, interactive ? 2000 : 60_000)
  })
}
