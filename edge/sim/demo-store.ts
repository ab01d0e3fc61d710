import type { SensorConfig, ZoneConfig } from '../core/config.ts'

/**
 * The demo store: five zones on two floors, a street strip in front of the entrance, one BLE
 * scanner per zone, two Wi-Fi sniffers, one ESPresense node, and a car park down the street with
 * one gate controller. Coordinates are metres; x runs
 * along the storefront, y into the store; y < 0 is outside (the pavement). Floors are stacked.
 *
 *        floor 0                                     floor 1
 *  y=16 ┌────────┬────────────┬────────┐       ┌──────────────┬──────────────┐
 *       │cosmetic│ entrance ▲s│apparel │       │ cafe     s▼  │ kids         │
 *       │  s     │     s      │   s    │       │   s          │      s       │
 *  y=0  └────────┴────door────┴────────┘       └──────────────┴──────────────┘
 *       ~~~~~~~~~~ street (passers-by) ~~~~~~~~~~
 */

export interface Point {
  x: number
  y: number
}

export interface Point3 extends Point {
  floor: number
}

/** Axis-aligned rectangle, x0 < x1, y0 < y1 (metres). */
export interface Rect {
  x0: number
  y0: number
  x1: number
  y1: number
}

export interface ZoneGeometry {
  floor: number
  rect: Rect
  /** Relative pull of the zone for shoppers choosing where to go (0 = transit only). */
  attraction: number
  /** Median dwell of a shopper who stops here, seconds (log-normal around it). */
  dwellMedianS: number
}

export interface Stairs {
  bottom: Point3
  top: Point3
  /** Seconds a climb takes (either way). */
  climbS: number
}

export interface StoreGeometry {
  /** Geometry per zone id; every zone of the layout has one. Zones on a floor do not overlap. */
  zones: Record<string, ZoneGeometry>
  /** The pavement outside the storefront (floor 0), where passers-by walk. */
  street: Rect
  /** The door, on the storefront line y = 0, floor 0. */
  door: Point
  /** The zone a shopper is in just inside the door. */
  entranceZone: string
  stairs: Stairs
  /** Attenuation of one floor slab, dB. */
  floorLossDb: number
  /** Attenuation of the storefront (glass and frame) between inside and the street, dB. */
  storefrontLossDb: number
  /** Where each sensor hangs. */
  sensorPositions: Record<string, Point3>
}

/** A car-park gate controller: one MQTT device (`sensors/{id}/parking`) with an entry and an exit lane. */
export interface ParkingGate {
  /** Device id (MQTT username and client id). */
  id: string
  entryLane: string
  exitLane: string
}

export interface ParkingLayout {
  gates: ParkingGate[]
  /** Spaces, for the record (the simulated demand stays well below). */
  capacity: number
}

export interface StoreLayout {
  zones: ZoneConfig[]
  sensors: SensorConfig[]
  geometry: StoreGeometry
  /** The store's car park, when it has one: shoppers may arrive by car. */
  parking?: ParkingLayout
}

const zones: ZoneConfig[] = [
  { id: 'entrance', name: 'Entrance hall', floor: 0 },
  { id: 'cosmetics', name: 'Cosmetics', floor: 0 },
  { id: 'apparel', name: 'Apparel', floor: 0 },
  { id: 'cafe', name: 'Cafe', floor: 1 },
  { id: 'kids', name: 'Kids', floor: 1 },
]

export const demoSensorsPositions: Record<string, Point3> = {
  'ble-entrance': { x: 18, y: 8, floor: 0 },
  'ble-cosmetics': { x: 6, y: 8, floor: 0 },
  'ble-apparel': { x: 30, y: 8, floor: 0 },
  'ble-cafe': { x: 9, y: 8, floor: 1 },
  'ble-kids': { x: 27, y: 8, floor: 1 },
  'wifi-front': { x: 18, y: 3, floor: 0 },
  'wifi-back': { x: 33, y: 14, floor: 0 },
  'esp-cafe': { x: 5, y: 12, floor: 1 },
}

const sensor = (id: string, zone: string, kind: SensorConfig['kind'], absorption = 3): SensorConfig => ({
  id,
  zone,
  kind,
  rssiOffset: 0,
  absorption,
})

const sensors: SensorConfig[] = [
  sensor('ble-entrance', 'entrance', 'ble'),
  sensor('ble-cosmetics', 'cosmetics', 'ble'),
  sensor('ble-apparel', 'apparel', 'ble'),
  sensor('ble-cafe', 'cafe', 'ble'),
  sensor('ble-kids', 'kids', 'ble'),
  sensor('wifi-front', 'entrance', 'wifi'),
  sensor('wifi-back', 'apparel', 'wifi'),
  sensor('esp-cafe', 'cafe', 'espresense'),
]

const geometry: StoreGeometry = {
  zones: {
    entrance: { floor: 0, rect: { x0: 12, y0: 0, x1: 24, y1: 16 }, attraction: 0, dwellMedianS: 20 },
    cosmetics: { floor: 0, rect: { x0: 0, y0: 0, x1: 12, y1: 16 }, attraction: 3, dwellMedianS: 300 },
    apparel: { floor: 0, rect: { x0: 24, y0: 0, x1: 36, y1: 16 }, attraction: 3, dwellMedianS: 360 },
    cafe: { floor: 1, rect: { x0: 0, y0: 0, x1: 18, y1: 16 }, attraction: 2, dwellMedianS: 900 },
    kids: { floor: 1, rect: { x0: 18, y0: 0, x1: 36, y1: 16 }, attraction: 1.5, dwellMedianS: 420 },
  },
  street: { x0: -12, y0: -7, x1: 48, y1: -2 },
  door: { x: 18, y: 0 },
  entranceZone: 'entrance',
  stairs: { bottom: { x: 20, y: 14, floor: 0 }, top: { x: 14, y: 14, floor: 1 }, climbS: 15 },
  floorLossDb: 15,
  storefrontLossDb: 8,
  sensorPositions: demoSensorsPositions,
}

/** The car park next door: one gate controller (plate reader and barrier) at its entrance. */
const parking: ParkingLayout = { gates: [{ id: 'gate-carpark', entryLane: 'b1-in', exitLane: 'b1-out' }], capacity: 180 }

export const demoStore: StoreLayout = { zones, sensors, geometry, parking }

/** The zone containing a point on a floor, or null (outside the building or between zones). */
export function zoneAt(geometry: StoreGeometry, x: number, y: number, floor: number): string | null {
  for (const [id, z] of Object.entries(geometry.zones)) {
    if (z.floor !== floor) continue
    const r = z.rect
    // Half-open on the far edges so a point on a shared wall belongs to exactly one zone.
    if (x >= r.x0 && x < r.x1 && y >= r.y0 && y < r.y1) return id
  }
  return null
}

/**
 * A copy of a layout with every sensor id given a suffix, e.g. for integration tests that share a
 * broker with other runs and must tell their own messages apart.
 */
export function withSensorSuffix(layout: StoreLayout, suffix: string): StoreLayout {
  const rename = (id: string) => `${id}-${suffix}`
  return {
    zones: layout.zones.map((z) => ({ ...z })),
    sensors: layout.sensors.map((s) => ({ ...s, id: rename(s.id) })),
    ...(layout.parking ? { parking: { ...layout.parking, gates: layout.parking.gates.map((g) => ({ ...g, id: rename(g.id) })) } } : {}),
    geometry: {
      ...layout.geometry,
      sensorPositions: Object.fromEntries(Object.entries(layout.geometry.sensorPositions).map(([id, p]) => [rename(id), { ...p }])),
    },
  }
}
