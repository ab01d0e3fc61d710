import { describe, expect, it } from 'vitest'
import { parseSensorTopic, topics } from './topics.ts'

describe('topic contract', () => {
  it('round-trips our sensor topics and the native ones', () => {
    expect(parseSensorTopic(topics.sensor('scanner-1', 'ble'))).toEqual({ kind: 'ble', deviceId: 'scanner-1' })
    expect(parseSensorTopic(topics.sensorStatus('scanner-1'))).toEqual({ kind: 'status', deviceId: 'scanner-1' })
    expect(parseSensorTopic(topics.espresenseDevice('iBeacon:abc-1-2', 'esp-cafe'))).toEqual({ kind: 'espresense', deviceId: 'esp-cafe', beaconId: 'iBeacon:abc-1-2' })
    expect(parseSensorTopic(topics.omgBt('home', 'omg-1', 'AABBCCDDEEFF'))).toEqual({ kind: 'omg', deviceId: 'omg-1', mac: 'AABBCCDDEEFF' })
    expect(parseSensorTopic('espresense/rooms/esp-cafe/status')).toEqual({ kind: 'status', deviceId: 'esp-cafe' })
    expect(parseSensorTopic('home/omg-1/LWT')).toEqual({ kind: 'status', deviceId: 'omg-1' })
  })

  it('refuses topics outside the contract', () => {
    for (const t of ['sensors/Bad Id/ble', 'sensors/a/unknown', 'sensors/a/ble/x', 'stores/s/agg', '', 'espresense/devices//room']) {
      expect(parseSensorTopic(t), t).toBeUndefined()
    }
  })
})
