import type { CameraConfig, Member } from '../../contracts/index.ts'
import type { EdgeConfig } from '../../core/config.ts'
import type { Logger } from '../../core/logger.ts'
import type { InferenceService } from '../inference/inference.service.ts'
import type { Box, RawImage } from '../inference/types.ts'
import { MemberGallery } from '../faces/gallery.ts'
import { MemberRecognizer } from '../faces/member-recognizer.ts'
import { UniqueVisitors } from '../faces/unique-visitors.ts'
import type { FaceHooks } from './camera-pipeline.ts'
import type { Frame, TrackBox } from './types.ts'

/**
 * Faces at the store's cameras: the opt-in member gallery (encrypted at rest, synced with the
 * members downlink, revoked the moment a member's face leaves it), votes across frames per track,
 * and anonymous day-scoped unique visitors. Embeddings of non-members stay in this process's
 * memory for the day and are never written or sent; in count-only mode nothing is embedded at all.
 */
export interface CameraFacesDeps {
  cfg: EdgeConfig
  vision: InferenceService
  log: Logger
  /** The members downlink as applied now (read at start: a restored list arrives before the gallery opens). */
  members?: () => Member[]
  /** A member recognised at a camera (votes taken): becomes a geofence arrival with source `face`. */
  onMember(e: { memberRef: string; zone: string; camera: string; ts: number; confidence: number; trackId: number }): void
}

export class CameraFaces implements FaceHooks {
  readonly gallery: MemberGallery
  readonly recognizer: MemberRecognizer
  readonly visitors: UniqueVisitors
  private frameNo = new Map<string, number>()
  /** Track ids are per camera: the recognizer and visitor counts key on camera index × 10⁷ + track. */
  private cameraIndex = new Map<string, number>()
  private enrolled = new Set<string>()
  /** Unique and repeat visitors since the last minute was taken. */
  private minute = { unique: 0, repeat: 0 }

  constructor(private readonly d: CameraFacesDeps) {
    const f = d.cfg.camera.faces
    this.gallery = new MemberGallery({ dataDir: d.cfg.dataDir, model: d.cfg.vision.models.faceEmbed, threshold: f.matchThreshold, margin: f.margin, log: d.log })
    this.recognizer = new MemberRecognizer({ windowSize: f.window, minVotes: f.minVotes, threshold: f.matchThreshold, cooldownMs: f.cooldownS * 1000 })
    this.visitors = new UniqueVisitors({ timeZone: d.cfg.store.timezone, threshold: f.uniqueThreshold, countOnly: d.cfg.camera.countOnly })
  }

  private started = false

  async start(): Promise<void> {
    await this.gallery.start()
    this.started = true
    const members = this.d.members?.()
    if (members?.length) await this.syncMembers(members)
  }

  async stop(): Promise<void> {
    this.started = false
    await this.gallery.stop()
  }

  /** The members downlink changed: members whose face left it are revoked before this resolves. */
  async syncMembers(members: readonly Member[]): Promise<void> {
    if (!this.started) return // start() syncs with the list applied by then
    await this.gallery.sync(members) // logs what changed
    const now = new Set(members.filter((m) => m.face).map((m) => m.ref))
    for (const ref of this.enrolled) if (!now.has(ref)) this.recognizer.forgetMember(ref)
    this.enrolled = now
  }

  private key(camera: string, trackId: number): number {
    let i = this.cameraIndex.get(camera)
    if (i === undefined) this.cameraIndex.set(camera, (i = this.cameraIndex.size))
    return i * 10_000_000 + (trackId % 10_000_000)
  }

  async analyse(cam: CameraConfig, frame: Frame, image: RawImage, tracks: readonly TrackBox[]): Promise<Box[]> {
    const f = this.d.cfg.camera.faces
    const n = (this.frameNo.get(cam.id) ?? 0) + 1
    this.frameNo.set(cam.id, n)
    if (n % f.everyNthFrame !== 0) return []
    const persons = tracks.filter((t) => t.h >= f.minPersonPx).map((t) => ({ trackId: t.id, x: t.x, y: t.y, w: t.w, h: t.h }))
    if (!persons.length) return []
    // Count-only never embeds; with an empty gallery, embeddings still count unique visitors.
    const embed = !this.d.cfg.camera.countOnly
    const faces = await this.d.vision.personFaces(cam.id, image, persons, { minPersonPx: f.minPersonPx, quality: { minFacePx: f.minFacePx }, embed }, { transfer: false })
    const boxes: Box[] = []
    for (const face of faces) {
      boxes.push(face.box)
      if (!face.quality.ok || !face.embedding) continue
      const key = this.key(cam.id, face.trackId)
      const match = this.gallery.match(face.embedding)
      const rec = this.recognizer.observe(key, match, frame.ts)
      if (rec) {
        this.visitors.markMember(key)
        this.d.onMember({ memberRef: rec.ref, zone: cam.memberZone, camera: cam.id, ts: rec.ts, confidence: Math.min(1, rec.score), trackId: face.trackId })
        continue
      }
      if (match) continue // a possible member: not counted as an anonymous visitor
      const verdict = this.visitors.observe(key, face.embedding, frame.ts)
      if (verdict === 'new') this.minute.unique++
      else if (verdict === 'repeat') this.minute.repeat++
    }
    return boxes
  }

  trackEnded(camera: string, trackId: number): void {
    const key = this.key(camera, trackId)
    this.recognizer.forget(key)
    this.visitors.forget(key)
  }

  /** Unique and repeat visitors by face since the last call (the minute aggregate). */
  takeMinute(): { unique: number; repeat: number } {
    const m = this.minute
    this.minute = { unique: 0, repeat: 0 }
    return m
  }
}
