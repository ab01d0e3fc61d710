export { OneEuroFilter, oneEuroStep, smoothingFactor, type OneEuroParams } from './one-euro.ts'
export {
  DistanceTracks,
  isImplausibleJump,
  medianOf,
  rssiToDistance,
  sightingDistance,
  MAX_DISTANCE_M,
  MIN_DISTANCE_M,
  OUTLIER_RUN,
  type DistanceFilterParams,
  type SensorCalibration,
} from './rssi.ts'
export {
  PresenceEngine,
  LONE_RIVAL_M,
  SLOTS_PER_IDENTITY,
  type ListOptions,
  type PresenceEngineConfig,
  type PresenceEntry,
  type PresenceSnapshot,
  type PresenceState,
  type ZoneOccupancy,
} from './presence.engine.ts'
export { WifiVisitClassifier, type VisitClass, type VisitEvent, type WifiVisitOptions } from './wifi-visits.ts'
