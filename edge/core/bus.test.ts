import { describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { EventBus } from './bus.ts'

describe('EventBus', () => {
  it('logs a throwing listener as <module>/<event> and still calls the others', () => {
    const lines: Array<Record<string, unknown>> = []
    const log = pino({ level: 'error' }, { write: (l: string) => lines.push(JSON.parse(l)) })
    const bus = new EventBus(log)
    let called = 0
    bus.subscriber('broken').onDeviceStatus(() => {
      throw new Error('boom')
    })
    bus.subscriber('fine').onDeviceStatus(() => called++)
    bus.emitDeviceStatus({ deviceId: 'd', online: true, ts: 1 })
    expect(called).toBe(1)
    expect(lines).toMatchObject([{ listener: 'broken/deviceStatus', msg: 'bus listener threw' }])
  })

  it('off() removes every listener a module added, in one call', () => {
    const bus = new EventBus(pino({ level: 'silent' }))
    let n = 0
    const sub = bus.subscriber('m').onDeviceStatus(() => n++).onAggregate(() => n++)
    bus.emitDeviceStatus({ deviceId: 'd', online: true, ts: 1 })
    sub.off()
    bus.emitDeviceStatus({ deviceId: 'd', online: false, ts: 2 })
    expect(n).toBe(1)
  })
})
