#!/usr/bin/env node
// The CLI runs the TypeScript sources directly through tsx's loader: no build step between a
// `git clone` and a running store.
import { register } from 'tsx/esm/api'

register()
await import('./cli.ts')
