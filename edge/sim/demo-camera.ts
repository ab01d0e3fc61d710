import { existsSync } from 'node:fs'
import type { CameraConfig } from '../contracts/index.ts'

/**
 * The demo's camera: Debian's opencv-doc pedestrian clip (vtest.avi, a plaza seen from above) played
 * in a loop at its own rate, like a live camera at the entrance: a counting line across the path
 * (the one hand-counted in tests/fixtures/vtest), the plaza as a zone, and faces on.
 */
export const DEMO_VIDEO = '/usr/share/doc/opencv-doc/examples/data/vtest.avi'

export function demoCamera(url: string): Partial<CameraConfig> & Pick<CameraConfig, 'id' | 'url'> {
  return {
    id: 'entrance-cam',
    name: 'Entrance (vtest.avi)',
    url,
    roles: ['footfall', 'faces'],
    realtime: true,
    loop: true,
    detect: { fps: 5, width: 768, height: 576, minScore: 0.1 },
    memberZone: 'entrance',
    lines: [{ id: 'door', entrance: 'main', a: { x: 300 / 768, y: 190 / 576 }, b: { x: 300 / 768, y: 560 / 576 }, extended: false, lateCount: false, anchor: 'feet' }],
    zones: [
      {
        id: 'plaza',
        polygon: [
          { x: 0.02, y: 0.35 },
          { x: 0.98, y: 0.35 },
          { x: 0.98, y: 0.98 },
          { x: 0.02, y: 0.98 },
        ],
        loiterS: 20,
        maxPeople: 6,
        overcrowdHoldS: 3,
        clearHoldS: 10,
      },
    ],
  }
}

/** The demo camera's source: an explicit file or URL, else vtest.avi where opencv-doc is installed. */
export function demoCameraSource(explicit: string | undefined): string | undefined {
  if (explicit) return explicit
  return existsSync(DEMO_VIDEO) ? DEMO_VIDEO : undefined
}
