// Shared fixtures: clients with their own provider, and helpers that move bytes between them.
import type { ExecutionContext } from 'ava'
import { spawn } from 'node:child_process'
import {
  BasicCredential,
  KeyPackage,
  MlsGroup,
  OpenMlsError,
  Provider,
  SignatureKeyPair,
  type Ciphersuite,
  type CryptoProviderName,
  type ErrorCode,
  type ProcessedMessage,
} from 'openmls-node'

export const X25519: Ciphersuite = 0x0001

export class Client {
  readonly provider: Provider
  readonly signer: SignatureKeyPair
  group?: MlsGroup

  constructor(
    readonly name: string,
    readonly suite: Ciphersuite = X25519,
    crypto: CryptoProviderName = 'rustcrypto',
  ) {
    this.provider = new Provider({ crypto })
    this.signer = SignatureKeyPair.forCiphersuite(suite)
  }

  get credentialWithKey() {
    return { credential: new BasicCredential(this.name), signatureKey: this.signer.publicKey }
  }

  /** A fresh key package, as the bytes another client would download. */
  keyPackageBytes(): Uint8Array {
    return KeyPackage.builder()
      .build({ ciphersuite: this.suite, provider: this.provider, signer: this.signer, credentialWithKey: this.credentialWithKey })
      .toBytes()
  }

  createGroup(useRatchetTreeExtension = true): MlsGroup {
    this.group = MlsGroup.create({
      provider: this.provider,
      signer: this.signer,
      credentialWithKey: this.credentialWithKey,
      config: { ciphersuite: this.suite, useRatchetTreeExtension },
    })
    return this.group
  }

  async join(welcome: Uint8Array, ratchetTree?: Uint8Array): Promise<MlsGroup> {
    this.group = await MlsGroup.joinFromWelcome({ provider: this.provider, signer: this.signer, welcome, ratchetTree })
    return this.group
  }

  get g(): MlsGroup {
    if (!this.group) throw new Error(`${this.name} has no group`)
    return this.group
  }
}

/** Adds `joiners` to `committer`'s group, delivers the commit to `others`, and joins everyone. */
export async function add(committer: Client, joiners: Client[], others: Client[] = []) {
  const kps = joiners.map((j) => KeyPackage.fromBytes(committer.provider, j.keyPackageBytes()))
  const { commit, welcome } = await committer.g.addMembers(kps)
  committer.g.mergePendingCommitSync()
  for (const o of others) await applyCommit(o, commit)
  for (const j of joiners) await j.join(welcome)
}

/** Alice's new group with Bob added: the smallest conversation. */
export async function pair() {
  const alice = new Client('alice')
  const bob = new Client('bob')
  alice.createGroup()
  await add(alice, [bob])
  return { alice, bob }
}

/** Processes a commit and merges it, returning the processed message. */
export async function applyCommit(client: Client, commit: Uint8Array): Promise<ProcessedMessage & { type: 'commit' }> {
  const processed = await client.g.processMessage(commit)
  if (processed.type !== 'commit') throw new Error(`expected a commit, got ${processed.type}`)
  client.g.mergeStagedCommitSync(processed.stagedCommit)
  return processed
}

/** Asserts that all clients share epoch, epoch authenticator and exporter output. */
export function assertAgree(t: ExecutionContext, clients: Client[]) {
  const [first, ...rest] = clients
  const exporter = (c: Client) => Buffer.from(c.g.exportSecret('openmls-node test', new Uint8Array([1, 2, 3]), 32))
  for (const c of rest) {
    t.is(c.g.epoch, first.g.epoch, `${c.name} epoch`)
    t.deepEqual(Buffer.from(c.g.epochAuthenticator()), Buffer.from(first.g.epochAuthenticator()), `${c.name} epoch authenticator`)
    t.deepEqual(exporter(c), exporter(first), `${c.name} exporter`)
  }
  t.is(exporter(first).length, 32)
}

/** Sends a message from `from` and asserts every receiver decrypts it exactly. */
export async function assertRoundTrip(t: ExecutionContext, from: Client, to: Client[], text: string) {
  const bytes = from.g.createMessageSync(text, { aad: new TextEncoder().encode(`aad:${from.name}`) })
  for (const r of to) {
    const m = await r.g.processMessage(bytes)
    if (m.type !== 'application') return t.fail(`${r.name} got ${m.type}`)
    t.is(new TextDecoder().decode(m.data), text)
    t.is(new TextDecoder().decode(m.authenticatedData), `aad:${from.name}`)
    t.is(String(m.credential), from.name)
    t.deepEqual(m.sender, { type: 'member', leafIndex: from.g.ownLeafIndex })
  }
}

/** Asserts that `fn` throws (or rejects with) an OpenMlsError with the given code. */
export async function assertCode(t: ExecutionContext, fn: () => unknown, code: ErrorCode): Promise<OpenMlsError> {
  const error = await t.throwsAsync(async () => {
    await fn()
  })
  t.true(error instanceof OpenMlsError, `expected an OpenMlsError, got ${error?.name}: ${error?.message}`)
  t.is((error as OpenMlsError).code, code, error?.message)
  return error as OpenMlsError
}

/** What a worker process printed (one JSON object per line) and how it ended. */
export interface WorkerRun {
  code: number | null
  signal: NodeJS.Signals | null
  lines: Record<string, string>[]
  stderr: string
}

/**
 * Runs a worker script in a separate Node process; with `killAfterReady`, SIGKILLs it that many ms
 * after it prints a line with `ready`.
 */
export function runWorker(script: string, args: string[], options: { env?: NodeJS.ProcessEnv; killAfterReady?: number } = {}): Promise<WorkerRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env })
    const lines: Record<string, string>[] = []
    let out = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      out += d
      let nl
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = JSON.parse(out.slice(0, nl))
        out = out.slice(nl + 1)
        lines.push(line)
        if (line.ready !== undefined && options.killAfterReady !== undefined) setTimeout(() => child.kill('SIGKILL'), options.killAfterReady)
      }
    })
    child.stderr.on('data', (d) => (stderr += d))
    child.on('exit', (code, signal) => resolve({ code, signal, lines, stderr }))
  })
}
