/** Time-series measurement and tag names (Influx line protocol), shared by edge, gateway and dashboards. */
export const Measurements = {
  footfall: 'footfall',
  occupancy: 'occupancy',
  visitors: 'visitors',
  dwell: 'dwell',
  coupons: 'coupons',
  parking: 'parking',
  edgeHealth: 'edge_health',
} as const

export const Tags = {
  store: 'store',
  zone: 'zone',
  entrance: 'entrance',
  camera: 'camera',
  source: 'source',
  campaign: 'campaign',
} as const
