import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EdgeApp } from '../edge/app.ts'
import type { CameraEvent, CameraHealth, FootfallCrossing, MinuteAggregate } from '../edge/contracts/index.ts'
import { matchCrossings } from '../edge/vision/audit/match-crossings.ts'
import { replayVideo } from '../edge/vision/camera/video-replay.ts'
import { InferenceService } from '../edge/vision/inference/inference.service.ts'
import { createMetrics } from '../edge/core/metrics.ts'
import { ensureModels } from '../models/build.ts'
import { collectJson, tempDir, testConfig, testLogger, waitFor } from './helpers.ts'
import { startRtspServer, VTEST, type RtspServer } from './support/rtsp-server.ts'
import { vtestCamera, vtestTruth } from './support/vtest-line.ts'

/**
 * Cameras end to end with real parts: GStreamer's RTSP server streaming vtest.avi (H.264), ffmpeg
 * pulling it, the person model in worker threads, ByteTrack and the counting line, events on the
 * edge's own broker. And the counting itself against the hand count of tests/fixtures/vtest.
 */
const MODELS = ['nanodet-int8', 'blazeface', 'faceres-int8']

beforeAll(async () => {
  await ensureModels(MODELS)
}, 600_000)

describe('counting on vtest.avi against the hand count', () => {
  it('the live analysis path at 5 fps counts the hand-counted line within 5 % and matches crossings one to one', async () => {
    const cfg = testConfig('/tmp', { vision: { enabled: true, models: { faceDetect: '', faceEmbed: '', plateDet: '', plateRec: '' } } })
    const vision = new InferenceService({ config: cfg.vision, metrics: createMetrics({ defaultMetrics: false }), log: testLogger() })
    await vision.start()
    try {
      const r = await replayVideo({ file: VTEST, camera: vtestCamera('vtest', VTEST), vision, settings: cfg.camera, log: testLogger() })
      expect(r.video).toMatchObject({ width: 768, height: 576, fps: 10 })
      expect(r.framesAnalysed).toBeGreaterThan(380) // 80 s at 5 fps
      const m = matchCrossings(r.crossings, vtestTruth, { toleranceFrames: 10 })
      const required = m.total.truth
      expect(required).toBeGreaterThanOrEqual(20)
      // The target: count error ≤ 5 % over both directions, and each crossing found where it happened.
      expect(m.total.countErrorPct).not.toBeNull()
      expect(m.total.countErrorPct!).toBeLessThanOrEqual(5)
      expect(m.recall).toBeGreaterThanOrEqual(0.9)
      expect(m.precision).toBeGreaterThanOrEqual(0.9)
      // Both directions are counted, not one mistaken for the other.
      expect(m.in.matched).toBeGreaterThan(0)
      expect(m.out.matched).toBeGreaterThan(0)
    } finally {
      await vision.stop()
    }
  }, 300_000)
})

describe('cameras over RTSP through the edge', () => {
  let rtsp: RtspServer
  let dir: string
  let cleanup: () => Promise<void>
  let app: EdgeApp
  const crossings: FootfallCrossing[] = []
  const health: CameraHealth[] = []
  const aggregates: MinuteAggregate[] = []
  const events: CameraEvent[] = []

  beforeAll(async () => {
    ;({ dir, cleanup } = await tempDir())
    rtsp = await startRtspServer({ file: VTEST })
    const config = testConfig(dir, {
      vision: { enabled: true, workers: 1, models: { faceDetect: '', faceEmbed: '', plateDet: '', plateRec: '' } },
      aggregates: { intervalMs: 5_000 },
      camera: { snapshots: 20 },
      cameras: [
        vtestCamera('door', rtsp.url('vtest'), {
          zones: [{ id: 'plaza', polygon: [{ x: 0, y: 0.3 }, { x: 1, y: 0.3 }, { x: 1, y: 1 }, { x: 0, y: 1 }], loiterS: 3, maxPeople: 1, overcrowdHoldS: 1, clearHoldS: 2 }],
        }),
        // A camera nobody answers for: it must never hold up the good one.
        vtestCamera('broken', 'rtsp://127.0.0.1:9/nothing'),
      ],
    })
    app = await new EdgeApp({ config, logger: testLogger(), defaultMetrics: false }).start()
    await collectJson(app, 'stores/+/events/footfall', crossings)
    await collectJson(app, 'stores/+/events/camera', events)
    await collectJson(app, 'stores/+/cameras/+/status', health)
    await collectJson(app, 'stores/+/agg', aggregates)
  }, 120_000)

  afterAll(async () => {
    await app?.stop()
    await rtsp?.stop()
    await cleanup?.()
  })

  it('pulls the stream, tracks and counts people crossing the line, with idempotent event ids', async () => {
    await waitFor(() => crossings.length >= 4, 'four crossings from the RTSP camera', 120_000)
    for (const c of crossings) {
      expect(c).toMatchObject({ v: 1, storeId: 'test-store', camera: 'door', line: 'door', entrance: 'main' })
      expect(['in', 'out']).toContain(c.dir)
    }
    expect(new Set(crossings.map((c) => c.id)).size).toBe(crossings.length)
    expect(crossings.some((c) => c.dir === 'in') || crossings.some((c) => c.dir === 'out')).toBe(true)
    const door = app.cameras!.info('door')!
    expect(door.state).toBe('online')
    // The live overlay the security view draws: normalised boxes of confirmed tracks.
    const overlay = await new Promise<import('../edge/vision/camera/hub.ts').OverlayFrame>((resolve) => {
      const off = app.cameras!.onOverlay('door', (o) => {
        if (!o.tracks.length) return
        off()
        resolve(o)
      })
    })
    for (const t of overlay.tracks) for (const v of t.box) expect(v).toBeGreaterThanOrEqual(-0.2)
    expect(overlay.counts[0]).toMatchObject({ line: 'door', entrance: 'main' })
  }, 180_000)

  it('the cameras\' part of each aggregate: footfall per entrance adds up to the crossing events, zones and health', async () => {
    await waitFor(() => aggregates.filter((a) => a.cameras).length >= 2, 'two aggregates with cameras', 60_000)
    const withCams = aggregates.filter((a) => a.cameras)
    const last = withCams.at(-1)!.cameras!
    expect(last.footfall.map((f) => `${f.camera}/${f.entrance}`).sort(), JSON.stringify(last)).toEqual(['broken/main', 'door/main'])
    expect(last.zones.find((z) => z.camera === 'door' && z.zone === 'plaza'), JSON.stringify(last)).toBeDefined()
    // Health as sampled at each interval's end: the door camera was up, the broken one never.
    expect(withCams.some((a) => a.cameras!.health.find((h) => h.camera === 'door')?.up === 1)).toBe(true)
    expect(withCams.every((a) => a.cameras!.health.find((h) => h.camera === 'broken')?.up === 0)).toBe(true)
    expect(last.occupancy).toBeGreaterThanOrEqual(0)
    // Reconciliation: crossings reported well before the last aggregate's end are all in the totals,
    // and the totals never exceed the events.
    const end = withCams.at(-1)!.minute + 5_000
    const summed = withCams.flatMap((a) => a.cameras!.footfall).filter((f) => f.camera === 'door').reduce((s, f) => s + f.in + f.out, 0)
    const reportedBefore = crossings.filter((c) => c.ts < end - 15_000).length
    expect(summed, `aggregates ${summed}, crossings ${crossings.length}, before ${reportedBefore}`).toBeGreaterThanOrEqual(reportedBefore)
    expect(summed).toBeLessThanOrEqual(crossings.length)
  }, 120_000)

  it('a broken camera reports why, retained, while the good one goes on; metrics show both', async () => {
    const bad = await waitFor(() => health.find((h) => h.camera === 'broken' && h.status === 'reconnecting'), 'broken camera reconnecting', 60_000)
    expect(bad.reason).toBeTruthy()
    const before = crossings.length
    await waitFor(() => crossings.length > before, 'more crossings while the broken camera retries', 120_000)
    const metrics = await (await fetch(`${app.api.url}/metrics`)).text()
    expect(metrics).toMatch(/store_edge_camera_up\{camera="door"\} 1/)
    expect(metrics).toMatch(/store_edge_camera_up\{camera="broken"\} 0/)
    expect(metrics).toMatch(/store_edge_footfall_total\{camera="door",entrance="main",dir="(in|out)"\} [1-9]/)
    expect(metrics).toMatch(/store_edge_camera_frame_seconds_count\{camera="door"\} [1-9]/)
  }, 180_000)

  it('zone alerts: loitering and overcrowding with hysteresis, with a snapshot kept at the edge', async () => {
    const crowd = await waitFor(() => events.find((e) => e.type === 'overcrowded'), 'an overcrowding alert', 120_000)
    expect(crowd).toMatchObject({ camera: 'door', zone: 'plaza', max: 1 })
    expect(crowd.count!).toBeGreaterThan(1)
    const loiter = await waitFor(() => events.find((e) => e.type === 'loitering'), 'a loitering alert', 120_000)
    expect(loiter.dwellS!).toBeGreaterThanOrEqual(3)
    const rec = app.cameras!.recentEvents({ camera: 'door', limit: 500 }).find((r) => r.id === crowd.id)
    expect(rec?.snapshot).toBe(crowd.id)
    const snap = await waitFor(() => app.cameras!.snapshot(crowd.id), 'the snapshot encoded')
    expect(snap.jpeg.subarray(0, 2).toString('hex')).toBe('ffd8')
    expect(snap.people.length).toBeGreaterThan(1)
  }, 180_000)

  it('kill -9 of the RTSP server mid-stream: the camera says so, reconnects when the server is back, and resumes counting', async () => {
    await rtsp.kill('SIGKILL')
    const down = await waitFor(() => health.find((h, i) => h.camera === 'door' && h.status === 'reconnecting' && i >= 0), 'door reconnecting after the kill', 60_000)
    expect(down.reason).toBeTruthy()
    const mark = health.length
    await rtsp.restart()
    await waitFor(() => health.slice(mark).find((h) => h.camera === 'door' && h.status === 'online'), 'door online again', 90_000)
    const frames = new Promise<void>((resolve) => {
      const off = app.cameras!.onOverlay('door', () => {
        off()
        resolve()
      })
    })
    await frames
    expect(app.cameras!.pipeline('door')!.stats()!.reconnects).toBeGreaterThanOrEqual(1)
    const before = crossings.length
    await waitFor(() => crossings.length > before, 'crossings after the reconnect', 120_000)
  }, 300_000)

  it('the downlink replaces the camera list live: a removed camera stops, a changed one restarts', async () => {
    const cams = app.config.cameras
    const payload = { v: 1, version: 1, cameras: cams.filter((c) => c.id === 'door').map((c) => ({ ...c, name: 'Main door' })) }
    const res = await app.downlink.apply('cameras', Buffer.from(JSON.stringify(payload)))
    expect(res).toMatchObject({ ok: true, version: 1 })
    await waitFor(() => !app.cameras!.pipeline('broken') && app.cameras!.info('door')?.name === 'Main door', 'broken removed, door renamed')
    await waitFor(() => health.find((h) => h.camera === 'broken' && h.status === 'offline'), 'broken reported offline')
    const before = crossings.length
    await waitFor(() => crossings.length > before, 'the reconfigured door counting again', 120_000)
    // A bad list is refused with reasons and changes nothing.
    const bad = { v: 1, version: 2, cameras: [payload.cameras[0], payload.cameras[0]] }
    const refused = await app.downlink.apply('cameras', Buffer.from(JSON.stringify(bad)))
    expect(refused.ok).toBe(false)
    expect(refused.errors.join()).toMatch(/duplicate camera "door"/)
    expect(app.cameras!.pipeline('door')).toBeDefined()
  }, 300_000)
})
