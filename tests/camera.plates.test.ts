import { execFileSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EdgeApp } from '../edge/app.ts'
import type { CameraEvent, GeofenceEvent, MembersConfigPayload, ParkingEvent } from '../edge/contracts/index.ts'
import { ensureModels } from '../models/build.ts'
import { synthFrame } from './fixtures/plates/synth.ts'
import { collectJson, tempDir, testConfig, testLogger, waitFor } from './helpers.ts'

/**
 * A car-park gate camera, end to end with real parts: a clip of a car's Chinese plate (rendered with
 * a CJK font and composited onto a real photo, as in the plate quality tests) → ffmpeg → the plate
 * reader (PP-OCR detection and recognition) → the gate decoder and the car park, exactly the path a
 * parking system's webhook takes → a parking entry and, for a member's car, a car-park arrival.
 */
describe('plates at a gate camera', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let app: EdgeApp
  let plate: string
  const parking: ParkingEvent[] = []
  const geofence: GeofenceEvent[] = []
  const camera: CameraEvent[] = []

  beforeAll(async () => {
    await ensureModels(['ppocr-det', 'ppocr-rec'])
    ;({ dir, cleanup } = await tempDir())
    const f = await synthFrame(3)
    plate = f.plate
    const still = join(dir, 'gate.jpg')
    await writeFile(still, f.jpeg)
    const clip = join(dir, 'gate.avi')
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-loop', '1', '-i', still, '-t', '4', '-r', '5', '-vf', 'format=yuvj420p', '-c:v', 'mjpeg', '-q:v', '2', clip])
    const config = testConfig(dir, {
      parking: { enabled: true },
      vision: { enabled: true, models: { person: '', faceDetect: '', faceEmbed: '' } },
      cameras: [{ id: 'gate-in', url: clip, roles: ['plates'], loop: true, detect: { fps: 2, width: 1280, height: 720 }, gate: { id: 'north-in', type: 'entry', repeatS: 600, minConfidence: 0.6 } }],
    })
    app = await new EdgeApp({ config, logger: testLogger(), defaultMetrics: false }).start()
    const members: MembersConfigPayload = { v: 1, version: 1, members: [{ ref: 'm-car', tier: 1, tags: [], beaconIds: [], plates: [plate], visits: 0 }] }
    expect((await app.downlink.apply('members', Buffer.from(JSON.stringify(members)))).ok).toBe(true)
    await collectJson(app, 'stores/+/events/parking', parking)
    await collectJson(app, 'stores/+/events/geofence', geofence)
    await collectJson(app, 'stores/+/events/camera', camera)
  }, 600_000)

  afterAll(async () => {
    await app?.stop()
    await cleanup?.()
  })

  it('a member car read at the gate is a car-park entry and a car-park arrival with source plate, once per passage', async () => {
    const entry = await waitFor(() => parking.find((e) => e.type === 'entry'), 'a parking entry from the camera', 120_000)
    expect(entry).toMatchObject({ gate: 'north-in', memberRef: 'm-car' })
    const arrival = await waitFor(() => geofence.find((e) => e.type === 'enter' && e.zone === 'carpark'), 'a car-park arrival', 30_000)
    expect(arrival).toMatchObject({ source: 'plate', memberRef: 'm-car' })
    expect(camera.find((e) => e.type === 'plate')).toMatchObject({ camera: 'gate-in' })
    // The car stands in front of the camera for many frames (the clip loops): still one passage.
    const frames = () => app.cameras!.pipeline('gate-in')!.stats()!.framesIn
    const seenFrames = frames()
    await waitFor(() => frames() >= seenFrames + 10, 'ten more frames of the same car')
    expect(parking.filter((e) => e.type === 'entry')).toHaveLength(1)
    // Privacy: nothing published carries the plate text except the member's own event, and camera events never do.
    for (const e of camera) expect(JSON.stringify(e)).not.toContain(plate)
  }, 180_000)
})
