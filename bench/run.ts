/** `npm run bench -- <name>`: runs one benchmark; each ends with one JSON line of its figures. */
const benches: Record<string, () => Promise<unknown>> = {
  ingest: () => import('./ingest.bench.ts'),
  uplink: () => import('./uplink.bench.ts'),
  coupons: () => import('./coupons.bench.ts'),
  models: () => import('./models.bench.ts'),
  vision: () => import('./vision.bench.ts'),
  chain: () => import('./chain.bench.ts'),
}

const name = process.argv[2]
if (!name || !benches[name]) {
  process.stderr.write(`usage: npm run bench -- <${Object.keys(benches).join('|')}>\n`)
  process.exit(2)
}
await benches[name]!()
