// An MLS client of the delivery service: its own provider and signer, HTTP for requests and a
// WebSocket for what the service pushes. Received messages are processed one at a time, in the
// order they arrive.
import { WebSocket } from 'ws'
import { BasicCredential, KeyPackage, MlsGroup, OpenMlsError, Provider, SignatureKeyPair, type CommitMessages, type WireFormatPolicy } from 'openmls-node'
import { b64, unb64, type Push } from './server.mjs'

const SUITE = 1
/** Handshakes travel as PublicMessages, so the service can validate them; they are still signed. */
const POLICY: WireFormatPolicy = 'mixedPlaintext'
const text = (b: Uint8Array) => new TextDecoder().decode(b)
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** A refusal by the service: the stable code it sent. */
export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${status} ${code}: ${message}`)
  }
}

export class DsClient {
  readonly provider = new Provider()
  readonly signer = SignatureKeyPair.forCiphersuite(SUITE)
  group?: MlsGroup
  /** What this client read, in order: `from: text`. */
  readonly heard: string[] = []
  #ws?: WebSocket
  #inbox: Promise<void> = Promise.resolve()

  constructor(
    readonly name: string,
    public base: string,
    readonly log: (line: string) => void,
  ) {}

  get credentialWithKey() {
    return { credential: new BasicCredential(this.name), signatureKey: this.signer.publicKey }
  }

  get g(): MlsGroup {
    if (!this.group) throw new Error(`${this.name} is in no group`)
    return this.group
  }

  /** Opens the WebSocket; pushes are handled one at a time, in order. */
  async connect(): Promise<void> {
    const ws = new WebSocket(`${this.base.replace('http', 'ws')}/ws?client=${encodeURIComponent(this.name)}`)
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject))
    ws.on('message', (data) => {
      const push = JSON.parse(String(data)) as Push
      this.#inbox = this.#inbox.then(() => this.#receive(push)).catch((e) => this.log(`${this.name}: could not handle a push: ${(e as Error).message}`))
    })
    this.#ws = ws
  }

  disconnect(): void {
    this.#ws?.terminate()
  }

  /** Resolves once every push received so far is handled. */
  settled(): Promise<void> {
    return this.#inbox
  }

  async request<T>(method: 'GET' | 'POST', path: string, body?: object): Promise<T> {
    const res = await fetch(`${this.base}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body) })
    const json = (await res.json()) as T & { code?: string; message?: string }
    if (!res.ok) throw new ServiceError(res.status, json.code ?? 'ERR_INTERNAL', json.message ?? '')
    return json
  }

  async publishKeyPackages(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const kp = KeyPackage.builder().build({ ciphersuite: SUITE, provider: this.provider, signer: this.signer, credentialWithKey: this.credentialWithKey })
      await this.request('POST', '/key-packages', { client: this.name, keyPackage: b64(kp.toBytes()) })
    }
  }

  async createGroup(): Promise<string> {
    this.group = MlsGroup.create({ provider: this.provider, signer: this.signer, credentialWithKey: this.credentialWithKey, config: { ciphersuite: SUITE, wireFormatPolicy: POLICY, useRatchetTreeExtension: true } })
    const { groupId } = await this.request<{ groupId: string }>('POST', '/groups', { groupInfo: b64(this.g.exportGroupInfo()) })
    return groupId
  }

  get groupId(): string {
    return hex(this.g.groupId)
  }

  /** Sends a commit this client made; merges it only once the service accepted it. */
  async #sendCommit(out: CommitMessages): Promise<void> {
    try {
      await this.request('POST', `/groups/${this.groupId}/messages`, {
        from: this.name,
        message: b64(out.commit),
        ...(out.welcome ? { welcome: b64(out.welcome) } : {}),
        ...(out.groupInfo ? { groupInfo: b64(out.groupInfo) } : {}),
      })
    } catch (error) {
      await this.dropPendingCommit()
      throw error
    }
    await this.g.mergePendingCommit()
  }

  /** Drops this client's pending commit after the service refused it. A commit of another member
   * that won the epoch may already have replaced it, which is just as good. */
  async dropPendingCommit(): Promise<void> {
    try {
      await this.g.clearPendingCommit()
    } catch (error) {
      if (!OpenMlsError.is(error, 'ERR_NO_PENDING_COMMIT')) throw error
    }
  }

  async invite(names: string[]): Promise<void> {
    const kps = []
    for (const name of names) {
      const { keyPackage } = await this.request<{ keyPackage: string }>('POST', '/key-packages/claim', { client: name })
      kps.push(KeyPackage.fromBytes(this.provider, unb64(keyPackage)))
    }
    await this.#sendCommit(await this.g.addMembers(kps))
    this.log(`${this.name} added ${names.join(' and ')}`)
  }

  async remove(name: string): Promise<void> {
    const leaf = this.g.members().find((m) => String(m.credential) === name)
    if (!leaf) throw new Error(`${name} is not a member`)
    await this.#sendCommit(await this.g.removeMembers([leaf.index]))
    this.log(`${this.name} removed ${name}`)
  }

  async update(): Promise<void> {
    await this.#sendCommit(await this.g.selfUpdate())
    this.log(`${this.name} updated its leaf`)
  }

  async say(words: string): Promise<void> {
    const message = await this.g.createMessage(words)
    await this.request('POST', `/groups/${this.groupId}/messages`, { from: this.name, message: b64(message) })
    this.log(`${this.name}: "${words}"`)
  }

  /** Joins by external commit from the GroupInfo and tree the service serves. */
  async rejoin(groupId: string): Promise<void> {
    const served = await this.request<{ groupInfo: string; ratchetTree: string }>('GET', `/groups/${groupId}/group-info`)
    const joined = await MlsGroup.joinByExternalCommit({
      provider: this.provider,
      signer: this.signer,
      credentialWithKey: this.credentialWithKey,
      groupInfo: unb64(served.groupInfo),
      ratchetTree: unb64(served.ratchetTree),
      config: { wireFormatPolicy: POLICY, useRatchetTreeExtension: true },
    })
    await this.request('POST', `/groups/${groupId}/messages`, {
      from: this.name,
      message: b64(joined.commit),
      ...(joined.groupInfo ? { groupInfo: b64(joined.groupInfo) } : {}),
    })
    this.group = joined.group
    this.log(`${this.name} rejoined by external commit, epoch ${this.g.epoch}`)
  }

  async #receive(push: Push): Promise<void> {
    if (push.kind === 'welcome') {
      this.group = await MlsGroup.joinFromWelcome({ provider: this.provider, signer: this.signer, welcome: unb64(push.welcome), config: { wireFormatPolicy: POLICY } })
      this.log(`${this.name} joined from a Welcome, epoch ${this.g.epoch}`)
      return
    }
    if (!this.group || !this.group.isActive) return
    const m = await this.g.processMessage(unb64(push.message))
    if (m.type === 'application') {
      this.heard.push(`${String(m.credential)}: ${text(m.data)}`)
    } else if (m.type === 'commit') {
      await this.g.mergeStagedCommit(m.stagedCommit)
      if (!this.g.isActive) this.log(`${this.name} was removed`)
    } else if (m.type === 'proposal' || m.type === 'externalJoinProposal') {
      await this.g.storePendingProposal(m.proposal)
    }
  }
}
