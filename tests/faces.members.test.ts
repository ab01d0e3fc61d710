import { randomBytes } from 'node:crypto'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureModels } from '../models/build.ts'
import type { ModelManifest } from '../models/manifest.ts'
import { loadRegistry } from '../models/registry.ts'
import { createOrtRunner, type OrtRunner } from '../edge/vision/inference/ort-runner.ts'
import { embedFace, matchThreshold } from '../edge/vision/pipelines/embed.ts'
import { encodeVector, MemberGallery, type GalleryMember } from '../edge/vision/faces/gallery.ts'
import { MemberRecognizer } from '../edge/vision/faces/member-recognizer.ts'
import { UniqueVisitors } from '../edge/vision/faces/unique-visitors.ts'
import { faceVariant, loadFaceSet, type Face, type FaceVariant } from './support/face-set.ts'
import { tempDir } from './helpers.ts'

/**
 * The member gallery, the vote-based recogniser and the unique-visitor counter on real embeddings:
 * faceres-int8 (the default embedder) of the opencv-doc faces (tests/support/face-set.ts) and of
 * those faces under a camera's changes (mirrored, crop jitter, ±30 % brightness). Members are
 * enrolled from one photo each; a track is a sequence of that person's variants.
 */

const MODEL = 'faceres-int8'
const VARIANTS: FaceVariant[] = ['flip', 'shift', 'brighter', 'darker']
let runner: OrtRunner
let embedder: ModelManifest
let threshold: number
let faces: Face[]
const base = new Map<string, Float32Array>() // face id → embedding
const variants = new Map<string, Float32Array[]>() // face id → embeddings of its variants (non-grid faces)
let tmp: Awaited<ReturnType<typeof tempDir>>

const logLines: string[] = []
const log = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => (logLines.push(String(c)), cb()) }))

beforeAll(async () => {
  await ensureModels(['blazeface', MODEL])
  runner = createOrtRunner(loadRegistry(), { threads: 1 })
  await runner.load(['blazeface', MODEL])
  embedder = runner.manifest(MODEL)
  threshold = matchThreshold(embedder)
  faces = await loadFaceSet(runner, runner.manifest('blazeface'))
  for (const f of faces) {
    base.set(f.id, (await embedFace(runner, embedder, f.img, f.face)).vector)
    if (f.id.startsWith('T')) continue // the grid faces are small: their variants are not what this test is about
    const vs: Float32Array[] = []
    for (const k of VARIANTS) {
      const v = await faceVariant(f, k)
      vs.push((await embedFace(runner, embedder, v.img, v.face)).vector)
    }
    variants.set(f.id, vs)
  }
  tmp = await tempDir('store-edge-faces-')
}, 180_000)
afterAll(async () => {
  await runner?.close()
  await tmp?.cleanup()
})

const member = (ref: string, ...ids: string[]): GalleryMember => ({ ref, face: { model: MODEL, embeddings: ids.map((id) => encodeVector(base.get(id)!)) } })
const ENROLLED = () => [member('m-A', 'A'), member('m-B', 'B'), member('m-C', 'C'), member('m-E', 'E'), member('m-F', 'F#0'), member('m-G0', 'G#0')]
const gallery = (dir: string, over: Partial<ConstructorParameters<typeof MemberGallery>[0]> = {}) =>
  new MemberGallery({ dataDir: dir, model: MODEL, threshold, margin: 0.05, log, ...over })

/** Every 4-byte-aligned 8-byte window of a vector's float32 LE bytes (two consecutive floats). */
function floatWindows(v: Float32Array): Buffer[] {
  const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  const out: Buffer[] = []
  for (let i = 0; i + 8 <= b.length; i += 4) out.push(b.subarray(i, i + 8))
  return out
}

describe('MemberGallery (encrypted at rest, revocable)', () => {
  it('syncs members with a face of this model; others are left out', async () => {
    const g = gallery(join(tmp.dir, 'sync'))
    await g.start()
    const r = await g.sync([...ENROLLED(), { ref: 'm-noface' }, { ref: 'm-other', face: { model: 'mobilefacenet', embeddings: [encodeVector(base.get('D')!)] } }, { ref: 'm-bad', face: { model: MODEL, embeddings: ['AAAA', ''] } }])
    expect(r).toEqual({ size: 6, added: 6, removed: 0, skipped: 3 })
    expect(g.size).toBe(6)
    const r2 = await g.sync(ENROLLED().slice(1))
    expect(r2).toMatchObject({ size: 5, added: 0, removed: 1 })
  })

  it('matches members from their variants, not the non-members', async () => {
    const g = gallery(join(tmp.dir, 'match'))
    await g.start()
    await g.sync(ENROLLED())
    for (const [id, ref] of [['A', 'm-A'], ['B', 'm-B'], ['C', 'm-C'], ['E', 'm-E'], ['G#0', 'm-G0']] as const) {
      for (const [i, v] of variants.get(id)!.entries()) {
        const m = g.match(v)
        expect(m?.ref, `${id}/${VARIANTS[i]}`).toBe(ref)
        expect(m!.score).toBeGreaterThanOrEqual(threshold)
        expect(m!.margin).toBeGreaterThanOrEqual(0.05)
      }
    }
    // the other frames of F match the member enrolled from F#0
    expect(g.match(base.get('F#1')!)?.ref).toBe('m-F')
    expect(g.match(base.get('F#2')!)?.ref).toBe('m-F')
    // nobody else in the set is a member
    const strangers = faces.filter((f) => !['A', 'B', 'C', 'E', 'F', 'G0'].includes(f.person))
    expect(strangers.length).toBeGreaterThan(30)
    for (const f of strangers) expect(g.match(base.get(f.id)!), f.id).toBeUndefined()
  })

  it('the file is AES-GCM ciphertext: no embedding bytes or base64 in it; key file 0600; reloads after a restart', async () => {
    const dir = join(tmp.dir, 'enc')
    const g = gallery(dir)
    await g.start()
    await g.sync(ENROLLED())
    const file = join(dir, 'faces', 'member-gallery.enc')
    const keyFile = join(dir, 'faces', 'member-gallery.key')
    const bytes = readFileSync(file)
    expect(bytes.length).toBeGreaterThan(6 * 128 * 4)
    for (const id of ['A', 'B', 'C', 'E', 'F#0', 'G#0']) {
      const v = base.get(id)!
      for (const w of floatWindows(v)) expect(bytes.includes(w), `${id}: float bytes in the file`).toBe(false)
      expect(bytes.includes(Buffer.from(encodeVector(v).slice(0, 24))), `${id}: base64 in the file`).toBe(false)
    }
    expect(bytes.includes(Buffer.from('m-A'))).toBe(false) // member refs are encrypted too
    expect(statSync(keyFile).mode & 0o777).toBe(0o600)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readFileSync(keyFile)).toHaveLength(32)

    const again = gallery(dir)
    await again.start()
    expect(again.size).toBe(6)
    expect(again.stats().loadErrors).toBe(0)
    expect(again.match(variants.get('A')![0]!)?.ref).toBe('m-A')
  })

  it('a tampered file, another key or a missing key: a clear error, counted, an empty gallery, no crash', async () => {
    const dir = join(tmp.dir, 'tamper')
    const g = gallery(dir)
    await g.start()
    await g.sync(ENROLLED())
    const file = join(dir, 'faces', 'member-gallery.enc')
    const keyFile = join(dir, 'faces', 'member-gallery.key')
    const good = readFileSync(file)
    const key = readFileSync(keyFile)

    const bad = Buffer.from(good)
    bad[bad.length - 10]! ^= 0x01
    writeFileSync(file, bad)
    const t = gallery(dir)
    await t.start()
    expect(t.size).toBe(0)
    expect(t.stats()).toMatchObject({ loadErrors: 1, lastError: expect.stringMatching(/failed authentication: it was altered, is truncated, or was encrypted with another key/) })
    expect(t.match(variants.get('A')![0]!)).toBeUndefined()

    writeFileSync(file, good)
    writeFileSync(keyFile, randomBytes(32), { mode: 0o600 })
    const w = gallery(dir)
    await w.start()
    expect(w.size).toBe(0)
    expect(w.stats().lastError).toMatch(/failed authentication/)

    writeFileSync(file, good.subarray(0, 20))
    writeFileSync(keyFile, key, { mode: 0o600 })
    const trunc = gallery(dir)
    await trunc.start()
    expect(trunc.stats().lastError).toMatch(/not a store-edge gallery file/)

    writeFileSync(file, good)
    const other = gallery(dir, { keyFile: join(dir, 'nowhere.key') })
    await other.start()
    expect(other.stats().lastError).toMatch(/key file .*nowhere\.key is missing/)

    // with the right key again it loads
    const ok = gallery(dir)
    await ok.start()
    expect(ok.size).toBe(6)
    const errors = logLines.filter((l) => l.includes('member gallery not loaded'))
    expect(errors.length).toBeGreaterThanOrEqual(4)
  })

  it('revoke is immediate: no match from the moment it is called, and gone from the file when it returns', async () => {
    const dir = join(tmp.dir, 'revoke')
    const g = gallery(dir)
    await g.start()
    await g.sync(ENROLLED())
    const probe = variants.get('B')![1]!
    expect(g.match(probe)?.ref).toBe('m-B')
    const done = g.revoke('m-B')
    expect(g.match(probe)).toBeUndefined() // before the write has even finished
    expect(await done).toBe(true)
    expect(await g.revoke('m-B')).toBe(false)
    const reloaded = gallery(dir)
    await reloaded.start()
    expect(reloaded.size).toBe(5)
    expect(reloaded.match(probe)).toBeUndefined()
    expect(reloaded.match(variants.get('A')![1]!)?.ref).toBe('m-A')
    // the last member revoked: no file at all
    for (const m of ENROLLED()) await g.revoke(m.ref)
    expect(() => statSync(join(dir, 'faces', 'member-gallery.enc'))).toThrow(/ENOENT/)
  })

  it('logs never carry an embedding', () => {
    const all = logLines.join('\n')
    expect(all).toContain('member gallery synced')
    for (const id of ['A', 'B', 'C']) expect(all.includes(encodeVector(base.get(id)!).slice(0, 16))).toBe(false)
    expect(all).not.toMatch(/-?0\.\d{5,},-?0\.\d{5,}/)
  })
})

describe('MemberRecognizer with real embeddings through the gallery', () => {
  it('a member track is recognised on its third matching frame; non-member tracks never; once per member per cooldown', async () => {
    const g = gallery(join(tmp.dir, 'recognise'))
    await g.start()
    await g.sync(ENROLLED())
    const rec = new MemberRecognizer({ windowSize: 5, minVotes: 3, threshold, cooldownMs: 10 * 60_000 })
    let ts = 0
    const feed = (track: number, vs: Float32Array[]) => vs.map((v) => rec.observe(track, g.match(v), (ts += 200)))

    // track 1: member A seen in four frames (mirrored, jittered, brighter, darker)
    const a = feed(1, variants.get('A')!)
    expect(a.map((r) => r?.ref)).toEqual([undefined, undefined, 'm-A', undefined])
    expect(a[2]).toMatchObject({ trackId: 1, votes: 3, window: 5 })
    expect(a[2]!.score).toBeGreaterThanOrEqual(threshold)

    // track 2: member F in the three frames of example.jpg
    expect(feed(2, ['F#0', 'F#1', 'F#2'].map((id) => base.get(id)!)).at(-1)?.ref).toBe('m-F')

    // tracks 3..: non-members (their own variants), never recognised
    let track = 3
    for (const id of ['D', 'G#1', 'G#2', 'G#3', 'M']) expect(feed(track++, variants.get(id)!).every((r) => r === undefined), id).toBe(true)

    // a mixed track: two frames of A among non-member frames is below the vote
    expect(feed(50, [variants.get('D')![0]!, variants.get('A')![0]!, variants.get('D')![1]!, variants.get('A')![1]!, variants.get('D')![2]!]).every((r) => r === undefined)).toBe(true)

    // member A again on a new track within the cooldown: not a second arrival
    expect(feed(60, variants.get('A')!).every((r) => r === undefined)).toBe(true)
    expect(rec.suppressed).toBe(1)
  })
})

describe('UniqueVisitors with real embeddings', () => {
  const DAY = Date.UTC(2026, 11, 3, 10)

  it('the same person on five tracks (photo and four variants) is one unique visitor', () => {
    for (const id of ['A', 'B', 'C', 'D', 'E', 'G#1', 'M']) {
      const u = new UniqueVisitors({ timeZone: 'Europe/Berlin', threshold })
      const tracks = [base.get(id)!, ...variants.get(id)!]
      const verdicts = tracks.map((v, i) => u.observe(i + 1, v, DAY + i * 1000))
      expect(verdicts, id).toEqual(['new', 'repeat', 'repeat', 'repeat', 'repeat'])
      expect(u.stats(DAY + 10_000)).toMatchObject({ uniques: 1, repeats: 4, visitors: 1 })
    }
  })

  it('different people count one each: every person of the face set, each on its own track', () => {
    const u = new UniqueVisitors({ timeZone: 'Europe/Berlin', threshold })
    const people = new Set(faces.map((f) => f.person))
    faces.forEach((f, i) => u.observe(i + 1, base.get(f.id)!, DAY + i))
    const s = u.stats(DAY + 1000)
    console.log(`[faces members] unique visitors: ${faces.length} tracks of ${people.size} people → ${s.uniques} uniques, ${s.repeats} repeats`)
    // F appears three times (three frames of one person): two repeats
    expect(s).toMatchObject({ uniques: people.size, repeats: faces.length - people.size })
    expect(people.size).toBeGreaterThanOrEqual(38)
  })

  it('the next local day starts from zero', () => {
    const u = new UniqueVisitors({ timeZone: 'Europe/Berlin', threshold })
    u.observe(1, base.get('A')!, Date.UTC(2026, 11, 3, 22, 59)) // 23:59 in Berlin
    expect(u.observe(2, variants.get('A')![0]!, Date.UTC(2026, 11, 3, 23, 1))).toBe('new') // 00:01 the next day
    expect(u.stats(Date.UTC(2026, 11, 3, 23, 2))).toMatchObject({ day: '2026-12-04', uniques: 1, repeats: 0 })
  })
})
