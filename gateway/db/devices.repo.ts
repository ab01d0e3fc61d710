import { DEVICE_ID_PATTERN } from '../../edge/contracts/topics.ts'
import { pgErrorCode, toMs, type Queryable } from './db.ts'

/** A sensor or edge node known to the gateway, per store. */
export interface Device {
  storeId: string
  deviceId: string
  kind: string
  createdAt: number
  lastSeenAt: number | null
}

interface DeviceRow {
  store_id: string
  device_id: string
  kind: string
  created_at: Date
  last_seen_at: Date | null
}

const COLUMNS = 'store_id, device_id, kind, created_at, last_seen_at'

const toDevice = (r: DeviceRow): Device => ({
  storeId: r.store_id,
  deviceId: r.device_id,
  kind: r.kind,
  createdAt: toMs(r.created_at) as number,
  lastSeenAt: toMs(r.last_seen_at),
})

export class DevicesRepo {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a device as seen now (kind may change, e.g. a re-flashed node). The store must exist. */
  async upsert(storeId: string, deviceId: string, kind: string): Promise<Device> {
    if (!DEVICE_ID_PATTERN.test(deviceId)) throw new Error(`invalid device id ${JSON.stringify(deviceId)}: expected ${DEVICE_ID_PATTERN.source}`)
    if (kind.trim() === '' || kind.length > 64) throw new Error('device kind must be 1–64 characters')
    try {
      const rows = await this.db.query<DeviceRow>(
        `insert into devices (store_id, device_id, kind, last_seen_at) values ($1, $2, $3, $4)
         on conflict (store_id, device_id) do update set kind = excluded.kind, last_seen_at = excluded.last_seen_at
         returning ${COLUMNS}`,
        [storeId, deviceId, kind, new Date(this.now())],
      )
      return toDevice(rows[0] as DeviceRow)
    } catch (err) {
      if (pgErrorCode(err) === '23503') throw new Error(`unknown store ${storeId}`, { cause: err })
      throw err
    }
  }

  async list(storeId: string): Promise<Device[]> {
    const rows = await this.db.query<DeviceRow>(`select ${COLUMNS} from devices where store_id = $1 order by device_id`, [storeId])
    return rows.map(toDevice)
  }

  async remove(storeId: string, deviceId: string): Promise<boolean> {
    const rows = await this.db.query('delete from devices where store_id = $1 and device_id = $2 returning device_id', [storeId, deviceId])
    return rows.length === 1
  }
}
