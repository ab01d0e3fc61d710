import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('../..', import.meta.url))

/**
 * `npm run build`'s own esbuild command, into a private directory below node_modules (so external
 * packages resolve as they do from dist/ and the bundle finds the package root). Returns the
 * directory (its cli.mjs is what `npm start` and the systemd unit run) and how to remove it.
 */
export function buildBundle(name: string): { out: string; remove: () => void } {
  const script = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: { build: string } }).scripts.build
  for (const part of ['bin/cli.ts', '--outdir=dist', '--out-extension:.js=.mjs']) if (!script.includes(part)) throw new Error(`the build script no longer has ${part}: ${script}`)
  const out = join(REPO, 'node_modules/.cache', `${name}-${process.pid}`)
  const args = script.split(/\s+/).slice(1).map((a) => (a === '--outdir=dist' ? `--outdir=${out}` : a))
  const r = spawnSync(join(REPO, 'node_modules/.bin/esbuild'), args, { cwd: REPO, encoding: 'utf8' })
  if (r.status !== 0 || r.stderr) throw new Error(`esbuild failed (${r.status}): ${r.stderr}`)
  return { out, remove: () => rmSync(out, { recursive: true, force: true }) }
}
