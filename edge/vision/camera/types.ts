/**
 * Shapes of the camera pipeline: frames from a source, tracks, counting lines and zones. Plain data,
 * in pixels of the detect frame (config holds normalised 0..1 coordinates; the camera module converts).
 */

/** One decoded frame: RGB24, width × height × 3 bytes. */
export interface Frame {
  camera: string
  /** Frame number since the source started (continues across reconnects). */
  seq: number
  /** Wall time, ms, when the frame was fully read from the decoder. */
  ts: number
  /** Stream time, ms: seq / fps since the current connection started, offset so it keeps increasing across reconnects. */
  sourceMs: number
  width: number
  height: number
  data: Buffer
}

export type CameraState = 'connecting' | 'online' | 'reconnecting' | 'offline' | 'error'

export interface CameraStatus {
  camera: string
  state: CameraState
  ts: number
  reason?: string
  code?: string
}

export interface CameraStats {
  framesIn: number
  /** Frames per second over the last few seconds. */
  fps: number
  lastFrameTs: number
  reconnects: number
  /** Frames the consumer dropped because it was busy. */
  dropped: number
  decodeErrors: number
  /** Wall time since the last frame, ms. */
  lagMs: number
}

export interface Point {
  x: number
  y: number
}

export interface TrackBox {
  id: number
  x: number
  y: number
  w: number
  h: number
  score: number
  state: 'tentative' | 'confirmed' | 'lost'
  hits: number
  firstTs: number
  lastTs: number
  vx: number
  vy: number
}

export interface LineSpec {
  id: string
  entrance: string
  a: Point
  b: Point
  /** Count across the infinite line through a and b, not only the segment. */
  extended: boolean
  /** A point on the "in" side; absent: the left-hand side of a→b as drawn on screen (top→bottom: toward larger x). */
  inPoint?: Point
  /** Decide a track's net crossing when it ends, so walking back and forth cancels out. */
  lateCount: boolean
  /** The anchor must be inside this polygon when it crosses. */
  activation?: Point[]
  anchor: 'feet' | 'center'
}

export interface Crossing {
  line: string
  entrance: string
  trackId: number
  dir: 'in' | 'out'
  ts: number
}

export interface ZoneSpec {
  id: string
  polygon: Point[]
  loiterMs: number
  /** 0: no overcrowding alerts. */
  maxPeople: number
  overcrowdHoldMs: number
  clearHoldMs: number
}

export type ZoneEvent =
  | { type: 'enter'; zone: string; trackId: number; ts: number }
  | { type: 'exit'; zone: string; trackId: number; ts: number; dwellMs: number }
  | { type: 'loitering'; zone: string; trackId: number; ts: number; dwellMs: number }
  | { type: 'overcrowded' | 'overcrowding-cleared'; zone: string; ts: number; count: number; max: number }
