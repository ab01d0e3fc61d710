import type { EdgeApp } from '../app.ts'
import type { Simulator } from '../sim/simulator.ts'

const pad = (s: string | number, n: number) => String(s).padEnd(n)
const num = (s: string | number, n: number) => String(s).padStart(n)

/** The demo's one-screen summary: what the edge sees next to what the simulator knows happened. */
export function renderSummary(edge: EdgeApp, sim: Simulator): string {
  const now = edge.clock.now()
  const truth = sim.truth()
  const snap = edge.presence.engine.snapshot(now)
  const listed = edge.presence.engine.list(now, { limit: 100_000 })
  const members = listed.filter((e) => e.id.startsWith('ibeacon:')).length
  const mqtt = edge.broker.address.mqtt
  const ws = edge.broker.address.ws
  const p = sim.published
  const last = edge.presence.recent.at(-1)
  const lines = [
    `store-edge demo — ${edge.config.store.name} (${edge.config.store.id})   ${new Date(now).toISOString().slice(11, 19)} UTC`,
    `MQTT mqtt://127.0.0.1:${mqtt.port}${ws ? `  ws://127.0.0.1:${ws.port}` : ''}   API ${edge.api.url}  (/health /metrics /v1/presence /v1/stats)`,
    `sensors online ${edge.devices.onlineCount}/${edge.config.sensors.length}   published ble ${p.ble} wifi ${p.wifi} espresense ${p.espresense}   tracked ${edge.presence.engine.size}`,
    '',
    `${pad('zone', 12)}${num('edge BLE', 10)}${num('edge Wi-Fi', 12)}${num('truth people', 14)}`,
  ]
  for (const z of edge.config.zones) {
    const e = snap.zones.find((x) => x.zone === z.id)
    lines.push(`${pad(z.id, 12)}${num(e?.ble ?? 0, 10)}${num(e?.wifi ?? 0, 12)}${num(truth.occupancyByZone[z.id] ?? 0, 14)}`)
  }
  lines.push(
    '',
    `in store   truth ${truth.inStore} people, ${truth.membersInStore} members   edge ${snap.occupancy} devices (${snap.random} random-address, counted only), ${members} members placed`,
  )
  if (last) {
    const src = (s: 'ble' | 'wifi') => last.sources.find((x) => x.source === s)
    const f = (s: 'ble' | 'wifi') => {
      const a = src(s)
      return a ? `visitors ${a.visitors} passers-by ${a.passersBy} unique ${a.unique} repeat ${a.repeat} random ${a.randomized}` : '-'
    }
    lines.push(`last minute (${new Date(last.minute).toISOString().slice(11, 16)})  ble: ${f('ble')}`, `${' '.repeat(26)}wifi: ${f('wifi')}`)
  }
  lines.push('', 'Ctrl-C to stop.', '')
  return lines.join('\n')
}
