// The user guide is tested: every ```ts block of every docs/guide page is a complete script that
// asserts its own outcomes. Each block is written to docs/guide/.run/ (inside the repository, so
// that `import ... from 'openmls-node'` resolves through the package's self-reference) and run
// with `node --import tsx` as a child process; it must exit with code 0.
import test from 'ava'
import { execFile } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const guideDir = fileURLToPath(new URL('../docs/guide/', import.meta.url))
const runDir = join(guideDir, '.run')
const repoRoot = fileURLToPath(new URL('../', import.meta.url))

/** The chapter pages: every Markdown file of the guide except the index. */
const pages = readdirSync(guideDir)
  .filter((f) => f.endsWith('.md') && f !== 'README.md')
  .sort()

/** The bodies of the ```ts fenced blocks of a Markdown page, in order. */
function tsBlocks(markdown: string): string[] {
  const blocks: string[] = []
  const fence = /^```ts[ \t]*\r?\n([\s\S]*?)^```[ \t]*$/gm
  for (let m = fence.exec(markdown); m; m = fence.exec(markdown)) blocks.push(m[1])
  return blocks
}

// Emulated runs (npm run test:cross under qemu or wine) are several times slower.
const timeoutScale = Number(process.env.OPENMLS_NODE_TEST_TIMEOUT_SCALE ?? 1)

function run(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', file], { cwd: repoRoot, timeout: 60_000 * timeoutScale }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0
      resolve({ code, stdout, stderr: error && code === null ? `${stderr}\n${error.message}` : stderr })
    })
  })
}

test('the guide has pages', (t) => {
  t.true(pages.length >= 12, pages.join(', '))
})

test('docs/guide/README.md links every page', (t) => {
  const index = readFileSync(join(guideDir, 'README.md'), 'utf8')
  for (const page of pages) t.true(index.includes(`](${page})`) || index.includes(`](./${page})`), `README.md does not link ${page}`)
})

// The pages run one at a time: each starts its own Node process, and they are cheap enough serially.
for (const page of pages) {
  test.serial(`docs: ${page}`, async (t) => {
    const blocks = tsBlocks(readFileSync(join(guideDir, page), 'utf8'))
    t.true(blocks.length >= 1, `${page} has no \`\`\`ts block`)
    mkdirSync(runDir, { recursive: true })
    for (const [i, source] of blocks.entries()) {
      const file = join(runDir, `${page.replace(/\.md$/, '')}-${i + 1}-${process.pid}.mts`)
      writeFileSync(file, source)
      const { code, stdout, stderr } = await run(file)
      t.is(code, 0, `${page}, block ${i + 1} exited with ${code}:\n${stderr}${stdout ? `\nstdout:\n${stdout}` : ''}`)
      if (code === 0) rmSync(file, { force: true }) // kept on failure, to rerun by hand
    }
  })
}
