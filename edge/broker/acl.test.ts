import { describe, expect, it } from 'vitest'
import { canPublish, canSubscribe, mayRetain, type Principal } from './acl.ts'

const ble: Principal = { deviceId: 'scanner-1', kind: 'ble' }
const esp: Principal = { deviceId: 'esp-cafe', kind: 'espresense' }
const omg: Principal = { deviceId: 'omg-1', kind: 'omg' }
const svc: Principal = { deviceId: 'uplink', kind: 'service' }

describe('broker ACL', () => {
  it('lets a device publish only under its own sensors/{id}/…', () => {
    expect(canPublish(ble, 'sensors/scanner-1/ble')).toBe(true)
    expect(canPublish(ble, 'sensors/scanner-1/wifi')).toBe(true)
    expect(canPublish(ble, 'sensors/scanner-1/status')).toBe(true)
    expect(canPublish(ble, 'sensors/scanner-2/ble')).toBe(false)
    expect(canPublish(ble, 'sensors/scanner-1/other')).toBe(false)
    expect(canPublish(ble, 'sensors/scanner-1/ble/extra')).toBe(false)
    expect(canPublish(ble, 'stores/s/agg')).toBe(false)
    expect(canPublish(ble, '$SYS/x')).toBe(false)
    // MQTT-3.3.2-2: no wildcards in a topic name
    expect(canPublish(ble, 'sensors/+/ble')).toBe(false)
    expect(canPublish(ble, 'sensors/scanner-1/#')).toBe(false)
    expect(canPublish(ble, '')).toBe(false)
  })

  it('allows the native topics of ESPresense and OpenMQTTGateway only with the device id in place', () => {
    expect(canPublish(esp, 'espresense/devices/iBeacon:e2c5-1-2/esp-cafe')).toBe(true)
    expect(canPublish(esp, 'espresense/devices/iBeacon:e2c5-1-2/other-room')).toBe(false)
    expect(canPublish(esp, 'espresense/rooms/esp-cafe/status')).toBe(true)
    expect(canPublish(esp, 'espresense/rooms/other/status')).toBe(false)
    expect(canPublish(ble, 'espresense/devices/x/scanner-1')).toBe(false)
    expect(canPublish(omg, 'home/omg-1/BTtoMQTT/AABBCCDDEEFF')).toBe(true)
    expect(canPublish(omg, 'home/omg-2/BTtoMQTT/AABBCCDDEEFF')).toBe(false)
    expect(canPublish(omg, 'home/omg-1/LWT')).toBe(true)
    expect(canPublish(ble, 'home/scanner-1/BTtoMQTT/AABBCCDDEEFF')).toBe(false)
  })

  it('lets a device subscribe to its own config only; wildcards cannot widen it', () => {
    expect(canSubscribe(ble, 'sensors/scanner-1/config')).toBe(true)
    for (const f of ['sensors/+/config', 'sensors/scanner-1/#', 'sensors/#', '#', '+/+/+', 'stores/#', '$SYS/#', 'sensors/scanner-2/config', 'a/#/b', 'a/b+']) {
      expect(canSubscribe(ble, f), f).toBe(false)
    }
    expect(canSubscribe(esp, 'espresense/rooms/esp-cafe/+/set')).toBe(true)
    expect(canSubscribe(esp, 'espresense/rooms/*/+/set')).toBe(true)
    expect(canSubscribe(esp, 'espresense/rooms/+/+/set')).toBe(false)
  })

  it('gives service accounts the store uplink and device status, and no sensor topics', () => {
    expect(canSubscribe(svc, 'stores/#')).toBe(true)
    expect(canSubscribe(svc, 'sensors/+/status')).toBe(true)
    expect(canSubscribe(svc, 'sensors/+/ble')).toBe(false)
    expect(canPublish(svc, 'sensors/uplink/ble')).toBe(false)
    expect(canPublish(svc, 'stores/s1/config/zones')).toBe(true)
  })

  it('honours retain only on status and config topics (bounded retained store)', () => {
    expect(mayRetain(ble, 'sensors/scanner-1/status')).toBe(true)
    expect(mayRetain(ble, 'sensors/scanner-1/ble')).toBe(false)
    expect(mayRetain(svc, 'stores/s1/config/zones')).toBe(true)
  })
})
