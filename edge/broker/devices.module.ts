import type { EventBus, BusSubscriber } from '../core/bus.ts'
import type { Clock } from '../core/clock.ts'
import type { EdgeMetrics } from '../core/metrics.ts'
import type { EdgeModule } from '../core/module.ts'
import type { CredentialStore } from './credentials.ts'

export interface DeviceState {
  deviceId: string
  kind?: string
  online: boolean
  since: number
  lastMessage?: number
  rejected: number
}

/** Tracks each sensor's online/offline status (retained status + last will) and its traffic. */
export class DevicesModule implements EdgeModule {
  readonly name = 'devices'
  private sub?: BusSubscriber
  private readonly states = new Map<string, DeviceState>()

  constructor(
    private readonly bus: EventBus,
    private readonly metrics: EdgeMetrics,
    private readonly credentials: CredentialStore,
    private readonly clock: Clock,
  ) {}

  async start(): Promise<void> {
    this.sub = this.bus.subscriber(this.name)
    this.sub.onDeviceStatus((e) => {
      const st = this.state(e.deviceId, e.ts)
      st.online = e.online
      st.since = e.ts
      this.updateGauge()
    })
    this.sub.onSightings((e) => {
      this.state(e.deviceId, e.receivedAt).lastMessage = e.receivedAt
    })
    this.sub.onRejected((e) => {
      if (e.deviceId !== 'unknown') this.state(e.deviceId, this.clock.now()).rejected++
    })
  }

  private state(deviceId: string, ts: number): DeviceState {
    let st = this.states.get(deviceId)
    if (!st) {
      st = { deviceId, kind: this.credentials.get(deviceId)?.kind, online: false, since: ts, rejected: 0 }
      this.states.set(deviceId, st)
    }
    return st
  }

  private updateGauge(): void {
    this.metrics.devicesOnline.set(this.onlineCount)
  }

  list(): DeviceState[] {
    return [...this.states.values()]
  }

  get onlineCount(): number {
    let n = 0
    for (const s of this.states.values()) if (s.online) n++
    return n
  }

  async stop(): Promise<void> {
    this.sub?.off()
  }
}
