import type { PlateRead } from '../inference/types.ts'

/**
 * A gate camera's plate reads → gate events: a car stays in front of the camera for several frames,
 * so the same plate within `repeatMs` is one passage. Pure: time is an argument.
 */
export interface GatePassage {
  plate: string
  confidence: number
  ts: number
}

export class GatePlates {
  private readonly lastSeen = new Map<string, number>()

  constructor(private readonly o: { repeatMs: number; minConfidence: number; maxPlates?: number }) {}

  /** Valid plates at or above the confidence floor that were not seen within the repeat window. */
  observe(reads: readonly PlateRead[], ts: number): GatePassage[] {
    const out: GatePassage[] = []
    for (const r of reads) {
      if (!r.plate || r.confidence < this.o.minConfidence) continue
      const last = this.lastSeen.get(r.plate)
      this.lastSeen.set(r.plate, ts)
      if (last !== undefined && ts - last < this.o.repeatMs) continue
      out.push({ plate: r.plate, confidence: r.confidence, ts })
    }
    // Bounded: forget plates long gone.
    if (this.lastSeen.size > (this.o.maxPlates ?? 1000)) {
      for (const [p, t] of this.lastSeen) if (ts - t >= this.o.repeatMs) this.lastSeen.delete(p)
    }
    return out
  }
}
