import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { Command } from 'commander'
import { buildModels } from './build.ts'
import { defaultModelsDir } from './paths.ts'
import { loadRegistry, modelPath, sha256File, verifyModelFile } from './registry.ts'

/**
 * `store-edge models build|list|verify`: the model registry from the command line.
 *   build   converts / copies the models into the models directory (cached by input hash), with
 *           TF.js-vs-onnxruntime parity for converted ones unless --no-parity
 *   list    every manifest: task, family, whether it is built and verified, licence, source
 *   verify  sha256 and onnxruntime signature of each built model; exit 1 if any fails
 */

const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean)

interface Common {
  dir?: string
  manifests?: string[]
}

function commonOptions(cmd: Command): Command {
  return cmd
    .option('--dir <dir>', 'models directory (default models/build, or STORE_EDGE_MODELS_DIR)')
    .option('--manifests <dirs>', 'extra manifest directories (comma separated): your own models', list)
}

const modelsDirOf = (o: Common) => (o.dir ? resolve(o.dir) : defaultModelsDir())

export function registerModelsCommands(program: Command): void {
  const models = program.command('models').description('On-device models: build (convert and verify), list and verify the ONNX files.')

  commonOptions(
    models
      .command('build')
      .description('Build the models (all, or --only a,b) into the models directory; cached by input hash.')
      .argument('[names...]', 'models to build (same as --only)')
      .option('--only <names>', 'comma-separated model names', list)
      .option('--force', 'rebuild even when the cache says the output is up to date')
      .option('--no-parity', 'skip the TF.js vs onnxruntime parity check of converted models')
      .option('--recalibrate', 'int8 models: measure the activation ranges on the calibration images again (opencv-doc, ffmpeg) and rewrite their calibration files'),
  ).action(async (names: string[], o: Common & { only?: string[]; force?: boolean; parity: boolean; recalibrate?: boolean }) => {
    const modelsDir = modelsDirOf(o)
    const selected = [...names, ...(o.only ?? [])]
    const results = await buildModels({
      names: selected.length ? selected : undefined,
      force: o.force,
      recalibrate: o.recalibrate,
      modelsDir,
      progress: true,
      verifyParity: o.parity,
      manifestDirs: o.manifests,
      log: (line) => process.stderr.write(line + '\n'),
    })
    for (const r of results) {
      const parity = r.parityMaxAbsDiff === undefined ? '' : ` parity max |Δ| ${r.parityMaxAbsDiff.toExponential(2)}`
      process.stdout.write(`${r.name.padEnd(14)} ${r.cached ? 'cached' : `built in ${r.ms} ms`}${parity}  ${r.file}\n`)
    }
  })

  commonOptions(models.command('list').description('List the registered models.')).action(async (o: Common) => {
    const modelsDir = modelsDirOf(o)
    const registry = loadRegistry({ dirs: o.manifests ?? [] })
    const rows: string[][] = [['name', 'task', 'family', 'built', 'verified', 'licence', 'source']]
    for (const { manifest: m } of [...registry.values()].sort((a, b) => a.manifest.name.localeCompare(b.manifest.name))) {
      const file = modelPath(m, modelsDir)
      const built = existsSync(file)
      const verified = built && (await sha256File(file)) === m.sha256
      const source = m.source.package ? `${m.source.package}@${m.source.version}` : '(user file)'
      rows.push([m.name, m.task, m.family, built ? 'yes' : 'no', built ? (verified ? 'yes' : 'NO (sha256)') : '-', m.licence.split(' (')[0]!, source])
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
    for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n')
    process.stdout.write(`models directory: ${modelsDir}\n`)
  })

  commonOptions(
    models
      .command('verify')
      .description('Verify built models: sha256 and the onnxruntime signature against each manifest.')
      .argument('[names...]', 'models to verify (default all)'),
  ).action(async (names: string[], o: Common) => {
    const modelsDir = modelsDirOf(o)
    const registry = loadRegistry({ dirs: o.manifests ?? [] })
    const selected = names.length ? names : [...registry.keys()].sort()
    let failed = 0
    for (const name of selected) {
      const entry = registry.get(name)
      try {
        if (!entry) throw new Error(`no manifest for model '${name}'`)
        await verifyModelFile(entry.manifest, modelsDir)
        process.stdout.write(`${name.padEnd(14)} ok\n`)
      } catch (err) {
        failed++
        const e = err as Error & { code?: string }
        process.stdout.write(`${name.padEnd(14)} FAILED ${e.code ? `${e.code}: ` : ''}${e.message}\n`)
      }
    }
    if (failed) process.exitCode = 1
  })
}
