/**
 * One openmls-node scenario in a process of its own (see `runOpenmls`): prints its metrics as JSON
 * on stdout. Progress and errors go to stderr.
 *
 *   node --expose-gc --import tsx bench/section-child.mts <scenario> [--smoke] [--native <binary> --floor <addon>]
 */
import { parseArgs } from 'node:util'
import { FULL, SMOKE } from './config.mjs'
import { InNodeFloor } from './floor.mjs'
import { NativePeer } from './native.mjs'
import { runSection } from './scenarios-openmls.mjs'

const { values, positionals } = parseArgs({ allowPositionals: true, options: { smoke: { type: 'boolean', default: false }, native: { type: 'string' }, floor: { type: 'string' } } })
const sizes = values.smoke ? SMOKE : FULL
const peer = values.native ? new NativePeer(values.native, sizes) : undefined
const floor = values.floor ? new InNodeFloor(values.floor, sizes) : undefined
try {
  process.stdout.write(JSON.stringify(await runSection(sizes, positionals[0] ?? '', peer, floor)))
} finally {
  await peer?.close()
}
