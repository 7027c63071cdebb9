// A three-member MLS session: Alice, Bob and Carol, with an in-process delivery service that only
// moves bytes. Run it with `npm run demo` (add `-- --crypto libcrux` for the libcrux provider).
// With `-- --state ./demo-state`, every client keeps its state in an SQLite file there, and a second
// run continues the same group.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import {
  BasicCredential,
  Ciphersuite,
  KeyPackage,
  MlsGroup,
  Provider,
  SignatureKeyPair,
  ciphersuiteName,
  type CryptoProviderName,
  type ProcessedMessage,
} from 'openmls-node'

const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined)
const crypto = (arg('--crypto') ?? 'rustcrypto') as CryptoProviderName
const stateDir = arg('--state')
if (stateDir) mkdirSync(stateDir, { recursive: true })
const suite = Ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
const hex = (b: Uint8Array, n = 4) => Buffer.from(b.subarray(0, n)).toString('hex')
const text = (b: Uint8Array) => new TextDecoder().decode(b)

/** The delivery service: a key package directory and one inbox per client, holding bytes only. */
class DeliveryService {
  readonly directory = new Map<string, Uint8Array>()
  readonly inboxes = new Map<string, Uint8Array[]>()
  send(to: string[], bytes: Uint8Array) {
    for (const name of to) this.inboxes.set(name, [...(this.inboxes.get(name) ?? []), bytes])
  }
  take(name: string): Uint8Array[] {
    const messages = this.inboxes.get(name) ?? []
    this.inboxes.set(name, [])
    return messages
  }
}

class Client {
  readonly provider: Provider
  readonly signer: SignatureKeyPair
  readonly credentialWithKey
  group?: MlsGroup
  constructor(readonly name: string, readonly ds: DeliveryService) {
    this.provider = new Provider({ crypto, ...(stateDir ? { storage: { path: join(stateDir, `${name}.db`) } } : {}) })
    // A persistent client gets its identity back from its file.
    const stored = this.provider.identity()
    this.signer = stored?.signer ?? SignatureKeyPair.forCiphersuite(suite)
    if (!stored) this.provider.setIdentity({ signer: this.signer, credential: new BasicCredential(name) })
    this.credentialWithKey = { credential: new BasicCredential(name), signatureKey: this.signer.publicKey }
  }

  publishKeyPackage() {
    const kp = KeyPackage.builder().build({ ciphersuite: suite, provider: this.provider, signer: this.signer, credentialWithKey: this.credentialWithKey })
    this.ds.directory.set(this.name, kp.toBytes())
  }

  get others(): string[] {
    return this.group!.members().map((m) => String(m.credential)).filter((n) => n !== this.name)
  }

  say(message: string) {
    this.ds.send(this.others, this.group!.createMessageSync(message))
    console.log(`  ${this.name} → group: "${message}"`)
  }

  /** Processes everything in the inbox, merging commits. */
  async receive(): Promise<ProcessedMessage[]> {
    const out: ProcessedMessage[] = []
    for (const bytes of this.ds.take(this.name)) {
      const m = await this.group!.processMessage(bytes)
      out.push(m)
      const from = String(m.credential)
      if (m.type === 'application') console.log(`    ${this.name} got from ${from}: "${text(m.data)}"`)
      if (m.type === 'commit') {
        const removedMe = m.stagedCommit.selfRemoved
        this.group!.mergeStagedCommitSync(m.stagedCommit)
        console.log(removedMe ? `    ${this.name}: I was removed from the group by ${from}` : `    ${this.name} merged a commit from ${from}`)
      }
    }
    return out
  }
}

function transcript(step: string, clients: Client[]) {
  const active = clients.filter((c) => c.group?.isActive)
  const g = active[0].group!
  const members = g.members().map((m) => `${m.credential}(${m.index})`).join(', ')
  const auths = active.map((c) => `${c.name}=${hex(c.group!.epochAuthenticator())}`)
  const agree = new Set(active.map((c) => hex(c.group!.epochAuthenticator(), 32))).size === 1
  const epochs = new Set(active.map((c) => c.group!.epoch))
  console.log(`\n[${step}] epoch ${[...epochs].join('/')}; members: ${members}`)
  console.log(`  epoch authenticator: ${auths.join('  ')}  ${agree ? '✓ all agree' : '✗ DISAGREE'}`)
  if (!agree || epochs.size !== 1) throw new Error('members disagree on the group state')
}

const ds = new DeliveryService()
const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((n) => new Client(n, ds))
console.log(`openmls-node demo: ${ciphersuiteName(suite)} on the ${crypto} provider${stateDir ? `, state in ${stateDir}` : ''}`)

const [savedGroup] = alice.provider.listGroups()
if (savedGroup) {
  // A later run with --state: Alice and Bob pick up where the last run left off.
  alice.group = await alice.provider.loadGroup(savedGroup)
  bob.group = await bob.provider.loadGroup(savedGroup)
  console.log(`\nContinuing group ${hex(savedGroup, 16)} from ${stateDir}`)
  transcript('reloaded', [alice, bob])
  alice.say('Good to see you again, Bob')
  bob.say('Still here, state and all')
  for (const c of [alice, bob]) await c.receive()
  const update = await bob.group.selfUpdate()
  bob.group.mergePendingCommitSync()
  ds.send(['alice'], update.commit)
  await alice.receive()
  transcript('bob self-update', [alice, bob])
  for (const c of [alice, bob, carol]) c.provider.close()
  console.log('\nDone: the group continued from disk.')
  process.exit(0)
}

bob.publishKeyPackage()
carol.publishKeyPackage()

alice.group = MlsGroup.create({ provider: alice.provider, signer: alice.signer, credentialWithKey: alice.credentialWithKey, config: { ciphersuite: suite, useRatchetTreeExtension: true } })
console.log(`\nAlice creates group ${hex(alice.group.groupId, 16)}`)
transcript('create', [alice])

const invitees = ['bob', 'carol'].map((n) => KeyPackage.fromBytes(alice.provider, ds.directory.get(n)!))
const { welcome } = await alice.group.addMembers(invitees)
alice.group.mergePendingCommitSync()
ds.send(['bob', 'carol'], welcome)
console.log('\nAlice adds Bob and Carol; the Welcome goes through the delivery service')
for (const c of [bob, carol]) {
  c.group = await MlsGroup.joinFromWelcome({ provider: c.provider, signer: c.signer, welcome: ds.take(c.name)[0] })
  console.log(`  ${c.name} joined at leaf ${c.group.ownLeafIndex}`)
}
transcript('add bob, carol', [alice, bob, carol])

console.log('\nEveryone talks')
alice.say('Hi Bob and Carol!')
bob.say('Hello from Bob')
carol.say('Carol here 👋')
for (const c of [alice, bob, carol]) await c.receive()

console.log('\nBob updates his keys (post-compromise security)')
const update = await bob.group!.selfUpdate()
bob.group!.mergePendingCommitSync()
ds.send(bob.others, update.commit)
for (const c of [alice, carol]) await c.receive()
transcript('bob self-update', [alice, bob, carol])

console.log('\nAlice removes Carol')
const othersBefore = alice.others
const removal = await alice.group.removeMembers([carol.group!.ownLeafIndex])
alice.group.mergePendingCommitSync()
ds.send(othersBefore, removal.commit)
for (const c of [bob, carol]) await c.receive()
console.log(`  carol's group active: ${carol.group!.isActive}`)
if (carol.group!.isActive) throw new Error('Carol should have been removed')
transcript('remove carol', [alice, bob, carol])

console.log('\nAlice and Bob carry on')
alice.say('Just us now')
await bob.receive()
const exported = [alice, bob].map((c) => hex(c.group!.exportSecret('demo', new Uint8Array(), 32), 8))
console.log(`  exporter("demo"): alice=${exported[0]} bob=${exported[1]} ${exported[0] === exported[1] ? '✓' : '✗'}`)
if (exported[0] !== exported[1]) throw new Error('exporter mismatch')
for (const c of [alice, bob, carol]) c.provider.close()
console.log(`\nDone: every member agreed on every epoch.${stateDir ? ` Run again with --state ${stateDir} to continue.` : ''}`)
