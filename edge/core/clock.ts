/** Time as an adapter, so domain logic runs under fake timers and replays. */
export interface Clock {
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }
