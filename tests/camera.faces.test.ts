import { execFileSync } from 'node:child_process'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { EdgeApp } from '../edge/app.ts'
import type { CameraEvent, GeofenceEvent, MembersConfigPayload, MinuteAggregate } from '../edge/contracts/index.ts'
import { resolveConfig } from '../edge/core/config.ts'
import { createMetrics } from '../edge/core/metrics.ts'
import { encodeVector } from '../edge/vision/faces/gallery.ts'
import { InferenceService } from '../edge/vision/inference/inference.service.ts'
import { decodeImage } from '../edge/vision/inference/preprocess.ts'
import { ensureModels } from '../models/build.ts'
import { collectJson, tempDir, testConfig, testLogger, waitFor } from './helpers.ts'

/**
 * Faces at a camera, end to end with real parts: a camera (ffmpeg, a looping clip made from a real
 * portrait) → person model → tracker → personFaces (BlazeFace, quality, FaceRes) → the encrypted
 * member gallery → votes → a geofence arrival with source `face` on the edge broker. The member is
 * enrolled from a mirrored copy of the photo, so the camera never sees the enrolment image itself.
 */
const HTML = '/usr/share/doc/opencv-doc/opencv4/html'
const MEMBER_PHOTO = `${HTML}/227943776_1.jpg`
const STRANGER_PHOTO = `${HTML}/230501201_1.jpg`
let clips: { member: string; stranger: string }
let enrolment: string
let scratch: { dir: string; cleanup: () => Promise<void> }

/** A 6 s, 5 fps clip of a still photo, as a camera would see a person standing at the door. */
function clip(photo: string, out: string): string {
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-loop', '1', '-i', photo, '-t', '6', '-r', '5', '-vf', 'scale=640:640,format=yuvj420p', '-c:v', 'mjpeg', '-q:v', '3', out])
  return out
}

beforeAll(async () => {
  await ensureModels(['nanodet-int8', 'blazeface', 'faceres-int8'])
  scratch = await tempDir('faces-clips-')
  clips = { member: clip(MEMBER_PHOTO, join(scratch.dir, 'member.avi')), stranger: clip(STRANGER_PHOTO, join(scratch.dir, 'stranger.avi')) }
  // Enrolment (what central would hold for an opted-in member): the mirrored photo's face embedding.
  const cfg = resolveConfig({ vision: { enabled: true, models: { plateDet: '', plateRec: '' } } })
  const vision = new InferenceService({ config: cfg.vision, metrics: createMetrics({ defaultMetrics: false }), log: testLogger() })
  await vision.start()
  try {
    const mirrored = await decodeImage(await sharp(MEMBER_PHOTO).flop().png().toBuffer())
    const [face] = await vision.detectFaces('enrol', mirrored, {}, { transfer: false })
    const emb = await vision.embedFace('enrol', mirrored, face, { transfer: false })
    enrolment = encodeVector(emb.vector)
  } finally {
    await vision.stop()
  }
  return () => scratch.cleanup()
}, 600_000)

describe('member recognition at a camera', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let app: EdgeApp | undefined

  afterEach(async () => {
    await app?.stop()
    app = undefined
    await cleanup()
  })

  const start = async (url: string, camera: Record<string, unknown> = {}) => {
    ;({ dir, cleanup } = await tempDir())
    const config = testConfig(dir, {
      vision: { enabled: true, models: { plateDet: '', plateRec: '' } },
      aggregates: { intervalMs: 2_000 },
      camera,
      cameras: [{ id: 'door', url, roles: ['faces'], loop: true, realtime: true, memberZone: 'entrance', detect: { fps: 5, width: 640, height: 640 } }],
    })
    app = await new EdgeApp({ config, logger: testLogger(), defaultMetrics: false }).start()
    const seen = { geofence: [] as GeofenceEvent[], camera: [] as CameraEvent[], agg: [] as MinuteAggregate[] }
    await collectJson(app, 'stores/+/events/geofence', seen.geofence)
    await collectJson(app, 'stores/+/events/camera', seen.camera)
    await collectJson(app, 'stores/+/agg', seen.agg)
    return seen
  }

  const members = (version: number, withFace: boolean): MembersConfigPayload => ({
    v: 1,
    version,
    members: [
      { ref: 'm-face', tier: 1, tags: [], beaconIds: [], plates: [], visits: 0, ...(withFace ? { face: { model: 'faceres-int8', embeddings: [enrolment] } } : {}) },
      { ref: 'm-other', tier: 1, tags: [], beaconIds: [], plates: [], visits: 0 },
    ],
  })

  it('an opted-in member at the door becomes a geofence arrival with source face; the gallery is encrypted at rest', async () => {
    const seen = await start(clips.member)
    const applied = await app!.downlink.apply('members', Buffer.from(JSON.stringify(members(1, true))))
    expect(applied.ok).toBe(true)
    const arrival = await waitFor(() => seen.geofence.find((e) => e.type === 'enter' && e.source === 'face'), 'a face arrival', 90_000)
    expect(arrival).toMatchObject({ zone: 'entrance', memberRef: 'm-face', subject: 'member:m-face', storeId: 'test-store' })
    const ev = seen.camera.find((e) => e.type === 'member')!
    expect(ev).toMatchObject({ camera: 'door', memberRef: 'm-face' })
    // One arrival per stay, however many frames recognise the member.
    await waitFor(() => seen.agg.length >= 3, 'a few more intervals', 30_000)
    expect(seen.geofence.filter((e) => e.type === 'enter' && e.source === 'face')).toHaveLength(1)
    // At rest: nothing in the data dir holds the embedding in the clear.
    const needle = Buffer.from(enrolment, 'base64').subarray(0, 16)
    const files = await readdir(join(dir, 'faces'))
    expect(files.length).toBeGreaterThan(0)
    for (const f of files) {
      const bytes = await readFile(join(dir, 'faces', f))
      expect(bytes.includes(needle)).toBe(false)
      expect(bytes.toString('latin1')).not.toContain(enrolment.slice(0, 24))
    }
  }, 180_000)

  it('revoking the face (the members downlink without it) empties the gallery at once; a stranger is only an anonymous unique visitor', async () => {
    const seen = await start(clips.stranger)
    await app!.downlink.apply('members', Buffer.from(JSON.stringify(members(1, true))))
    await waitFor(() => seen.agg.some((a) => (a.cameras?.visitors?.unique ?? 0) > 0), 'the stranger counted as a unique visitor', 90_000)
    expect(seen.geofence.filter((e) => e.source === 'face')).toEqual([])
    expect(seen.camera.filter((e) => e.type === 'member')).toEqual([])
    // Still one person: the same track, or the same face again the same day, is not a second unique visitor.
    await waitFor(() => seen.agg.length >= 6, 'more intervals', 30_000)
    expect(seen.agg.reduce((s, a) => s + (a.cameras?.visitors?.unique ?? 0), 0)).toBe(1)
    const faces = app!.faces!.gallery
    expect(faces.size).toBe(1)
    const r = await app!.downlink.apply('members', Buffer.from(JSON.stringify(members(2, false))))
    expect(r.ok).toBe(true)
    await waitFor(() => faces.size === 0, 'the face revoked', 10_000)
  }, 180_000)

  it('count-only: the member is not recognised, nothing is embedded, no snapshot is kept', async () => {
    const seen = await start(clips.member, { countOnly: true })
    await app!.downlink.apply('members', Buffer.from(JSON.stringify(members(1, true))))
    await waitFor(() => seen.agg.length >= 4, 'four intervals of the member in front of the camera', 60_000)
    expect(seen.geofence.filter((e) => e.source === 'face')).toEqual([])
    expect(seen.agg.reduce((s, a) => s + (a.cameras?.visitors?.unique ?? 0), 0)).toBe(0)
    expect(app!.cameras!.recentEvents({ limit: 50 }).filter((e) => e.snapshot)).toEqual([])
  }, 180_000)
})
