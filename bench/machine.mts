/** The machine a run measured, for RESULTS.md. */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { openmlsVersion } from 'openmls-node'

export interface Machine {
  date: string
  cpu: string
  cores: number
  memory: string
  os: string
  load: string
  node: string
  rustc: string
  openmls: string
  openmlsNode: string
  tsmls: string
}

const require = createRequire(import.meta.url)

/** A package's version, from the package.json above its entry point (ts-mls exports no ./package.json). */
function versionOf(name: string): string {
  let dir = dirname(require.resolve(name))
  while (dir !== dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version: string }
      if (pkg.name === name) return pkg.version
    } catch {
      // not here: go up
    }
    dir = dirname(dir)
  }
  return 'unknown'
}

function rustc(): string {
  try {
    return execFileSync('rustc', ['--version'], { encoding: 'utf8' }).trim()
  } catch {
    return 'rustc (unknown version)'
  }
}

/** Reads the machine now (call it at the start of a run: the load average is the start's). */
export function machine(): Machine {
  const cpus = os.cpus()
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpu: cpus[0]?.model.trim() ?? 'unknown CPU',
    cores: cpus.length,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    load: os.loadavg().map((l) => l.toFixed(2)).join(' / '),
    node: process.version,
    rustc: rustc(),
    openmls: openmlsVersion,
    openmlsNode: versionOf('openmls-node'),
    tsmls: versionOf('ts-mls'),
  }
}
