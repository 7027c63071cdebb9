// node scripts/check-matrix.mjs: the workflow's matrices agree with package.json and npm/.
//
// - the build matrix has exactly one entry per napi.targets triple;
// - each entry's runner can build it (linux and android on ubuntu, windows on windows, apple on macos);
// - each napi target has npm/<platform-arch-abi>/ whose package.json has the right name, os, cpu, libc
//   and the .node name the build uploads (artifact bindings-<triple>, file openmls-node.<abi>.node);
// - every artifact a test job downloads is one the build job uploads, and each test job runs on a
//   runner of the target's OS and CPU (aarch64 on an arm64 runner);
// - every target is tested by some job, except the ones listed in BUILD_ONLY.
import { readFileSync, existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as yaml from 'js-yaml' // a dependency of @napi-rs/cli
import { parseTriple } from '@napi-rs/cli'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const wf = yaml.load(readFileSync(join(root, '.github', 'workflows', 'CI.yml'), 'utf8'))
// No runner can execute them: Android has no GitHub-hosted runner.
const BUILD_ONLY = new Set(['aarch64-linux-android', 'armv7-linux-androideabi'])

let failures = 0
const check = (ok, what) => { if (!ok) { failures++; console.log(`FAIL ${what}`) } else if (process.env.VERBOSE) console.log(`ok   ${what}`) }

const OS = { linux: 'ubuntu', android: 'ubuntu', win32: 'windows', darwin: 'macos' }
const NPM_OS = { linux: 'linux', android: 'android', win32: 'win32', darwin: 'darwin' }
const targets = pkg.napi.targets
const build = wf.jobs.build.strategy.matrix.settings
const built = build.map((s) => s.target)

check(new Set(built).size === built.length, `the build matrix lists each target once (${built.join(', ')})`)
for (const t of targets) check(built.includes(t), `napi target ${t} has a build matrix entry`)
for (const t of built) check(targets.includes(t), `build matrix target ${t} is in package.json napi.targets`)

const uploadStep = wf.jobs.build.steps.find((s) => s.name === 'Upload artifact')
check(uploadStep?.with?.name === 'bindings-${{ matrix.settings.target }}', `the build job uploads bindings-<target> (${uploadStep?.with?.name})`)
check(uploadStep?.with?.path === '${{ env.APP_NAME }}.*.node' && wf.env.APP_NAME === pkg.napi.binaryName, `it uploads ${pkg.napi.binaryName}.*.node`)

for (const s of build) {
  const p = parseTriple(s.target)
  check(s.host.startsWith(OS[p.platform]), `${s.target} builds on a ${OS[p.platform]} runner (${s.host})`)
  const dir = join(root, 'npm', p.platformArchABI)
  const file = join(dir, 'package.json')
  if (!existsSync(file)) { check(false, `${s.target}: npm/${p.platformArchABI}/package.json exists`); continue }
  const np = JSON.parse(readFileSync(file, 'utf8'))
  const node = `${pkg.napi.binaryName}.${p.platformArchABI}.node`
  check(np.name === `${pkg.name}-${p.platformArchABI}`, `npm/${p.platformArchABI} is named ${pkg.name}-${p.platformArchABI} (${np.name})`)
  check(np.main === node && np.files?.includes(node), `npm/${p.platformArchABI} ships ${node}`)
  check(np.os?.length === 1 && np.os[0] === NPM_OS[p.platform], `npm/${p.platformArchABI} os is ${NPM_OS[p.platform]} (${np.os})`)
  check(np.cpu?.length === 1 && np.cpu[0] === p.arch, `npm/${p.platformArchABI} cpu is ${p.arch} (${np.cpu})`)
  const libc = p.abi === 'musl' ? 'musl' : p.platform === 'linux' && p.abi === 'gnu' ? 'glibc' : undefined
  check(JSON.stringify(np.libc) === JSON.stringify(libc ? [libc] : undefined), `npm/${p.platformArchABI} libc is ${libc ?? 'absent'} (${np.libc})`)
  check(np.version === pkg.version, `npm/${p.platformArchABI} version ${np.version} is ${pkg.version}`)
}

// Test jobs: every job that downloads bindings-*.
const tested = new Set()
const expand = (job) => {
  const m = job.strategy?.matrix
  if (!m) return [{}]
  const keys = Object.keys(m).filter((k) => Array.isArray(m[k]))
  let combos = [{}]
  for (const k of keys) combos = combos.flatMap((c) => m[k].map((v) => ({ ...c, [k]: v })))
  return combos
}
const subst = (str, matrix) => String(str).replace(/\$\{\{\s*matrix\.([\w.-]+)\s*\}\}/g, (_, path) => path.split('.').reduce((o, k) => o?.[k], matrix))
const runnerOf = (job, matrix) => {
  const r = String(job['runs-on'])
  const cond = /\$\{\{\s*contains\(matrix\.target, '(\w+)'\) && '([\w.-]+)' \|\| '([\w.-]+)'\s*\}\}/.exec(r)
  if (cond) return String(matrix.target).includes(cond[1]) ? cond[2] : cond[3]
  return subst(r, matrix)
}
for (const [id, job] of Object.entries(wf.jobs)) {
  if (id === 'build' || id === 'publish') continue
  for (const matrix of expand(job)) {
    for (const step of job.steps ?? []) {
      if (!String(step.uses).startsWith('actions/download-artifact') || !String(step.with?.name ?? '').startsWith('bindings-')) continue
      const name = subst(step.with.name, matrix)
      const target = name.slice('bindings-'.length)
      check(built.includes(target), `${id}: downloads ${name}, which the build job uploads`)
      const runner = runnerOf(job, matrix)
      const p = parseTriple(target)
      check(runner.startsWith(OS[p.platform]), `${id}: ${target} is tested on a ${OS[p.platform]} runner (${runner})`)
      const arm = /-arm$|macos-(latest|1[4-9])/.test(runner)
      const docker386 = (job.steps ?? []).some((s) => /--platform linux\/386/.test(String(s.run ?? '')))
      const x64onArm = p.platform === 'darwin' && p.arch === 'x64' // Rosetta 2
      const archOk = p.arch === 'arm64' ? arm : p.arch === 'ia32' ? (p.platform === 'win32' || docker386) : p.arch === 'x64' ? (!arm || x64onArm) : false
      check(archOk, `${id}: ${target} runs on a runner of its CPU (${runner})`)
      tested.add(target)
    }
  }
}
for (const t of targets) if (!BUILD_ONLY.has(t)) check(tested.has(t), `${t} is tested by some job`)
for (const t of BUILD_ONLY) check(!tested.has(t), `${t} is listed as build-only but a job tests it: remove it from BUILD_ONLY`)

if (failures) { console.error(`check-matrix: ${failures} problem(s)`); process.exit(1) }
console.log(`check-matrix: ${targets.length} targets agree across package.json, npm/ and CI.yml; tested: ${[...tested].sort().join(', ')}; build-only: ${[...BUILD_ONLY].join(', ')}`)
