import type { Box } from '../inference/types.ts'
import type { CameraState, Point } from './types.ts'

/**
 * What the camera module offers the edge's HTTP API (live view, overlay, events, snapshots). The
 * security view reaches it through the gateway; nothing here ever leaves the edge on its own.
 * Coordinates are normalised 0..1 of the frame so any player size can draw them.
 */
export type CameraRole = 'footfall' | 'faces' | 'plates'

export interface CameraInfo {
  id: string
  name: string
  roles: CameraRole[]
  state: CameraState
  reason?: string
  fps: number
  width: number
  height: number
  lines: Array<{ id: string; entrance: string; a: Point; b: Point }>
  zones: Array<{ id: string; polygon: Point[]; maxPeople: number }>
}

export interface OverlayTrack {
  id: number
  /** x, y, w, h normalised. */
  box: [number, number, number, number]
  zones: string[]
  loitering: boolean
}

export interface OverlayFrame {
  camera: string
  seq: number
  ts: number
  tracks: OverlayTrack[]
  zones: Array<{ id: string; count: number; overcrowded: boolean }>
  counts: Array<{ line: string; entrance: string; in: number; out: number }>
}

export type CameraEventType = 'crossing' | 'loitering' | 'overcrowded' | 'overcrowding-cleared' | 'member' | 'plate' | 'status'

export interface CameraEventRecord {
  id: string
  camera: string
  type: CameraEventType
  ts: number
  zone?: string
  line?: string
  entrance?: string
  dir?: 'in' | 'out'
  trackId?: number
  count?: number
  /** Human text (status reason, "member recognised", plate direction), never a face or a raw plate of a non-member. */
  text?: string
  /** Id of a snapshot kept in memory at the edge (absent in count-only mode). */
  snapshot?: string
}

/** A frame kept for an event: JPEG in memory only, plus where the people and faces were (pixels). */
export interface Snapshot {
  id: string
  camera: string
  ts: number
  width: number
  height: number
  jpeg: Buffer
  people: Box[]
  faces: Box[]
}

export interface CameraHub {
  list(): CameraInfo[]
  info(id: string): CameraInfo | undefined
  /** The camera's source URL, for the live restream (undefined: unknown camera). */
  sourceUrl(id: string): string | undefined
  /** Called once per analysed frame of that camera; returns an unsubscribe function. */
  onOverlay(id: string, fn: (o: OverlayFrame) => void): () => void
  /** Called for every camera event; returns an unsubscribe function. */
  onEvent(fn: (e: CameraEventRecord) => void): () => void
  recentEvents(opts: { camera?: string; limit: number }): CameraEventRecord[]
  snapshot(id: string): Snapshot | undefined
  /**
   * The analysed frames of a camera whose source is a file (it cannot be reopened in step): the live
   * view shows those, in step with the overlay. Undefined for live sources (the view reopens them).
   */
  frameFeed?(id: string): import('./live-stream.ts').FrameFeed | undefined
}
