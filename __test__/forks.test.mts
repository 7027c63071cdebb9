// The book's "Fork Resolution": fork a group the way the book does, then repair it by re-adding
// and by rebooting, and check that confirmation tags agree afterwards.
import test from 'ava'
import { KeyPackage, MlsGroup } from 'openmls-node'
import { Client, assertAgree, assertCode, assertRoundTrip } from './helpers.mjs'

/** Alice creates a group and adds Bob; then both add Charlie with their own commit and merge it. */
async function forked() {
  const [alice, bob, charlie] = ['alice', 'bob', 'charlie'].map((n) => new Client(n))
  alice.createGroup(true)
  const { welcome } = await alice.g.addMembers([KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes())])
  alice.g.mergePendingCommitSync()
  await bob.join(welcome)
  const charlieKp = KeyPackage.fromBytes(alice.provider, charlie.keyPackageBytes())
  const fromAlice = await alice.g.addMembers([charlieKp])
  await bob.g.addMembers([charlieKp])
  alice.g.mergePendingCommitSync()
  bob.g.mergePendingCommitSync()
  await charlie.join(fromAlice.welcome)
  return { alice, bob, charlie }
}

const tag = (c: Client) => Buffer.from(c.g.confirmationTag())

test('readd: Alice re-adds the members outside her partition, and the fork is healed', async (t) => {
  const { alice, bob, charlie } = await forked()
  t.deepEqual(tag(alice), tag(charlie))
  t.notDeepEqual(tag(bob), tag(alice), 'Bob merged a different commit: the group is forked')

  const ourPartition = [alice.g.ownLeafIndex, charlie.g.ownLeafIndex]
  const complement = alice.g.forkComplement(ourPartition)
  t.deepEqual(complement.map((m) => String(m.credential)), ['bob'])
  const fresh = complement.map(() => KeyPackage.fromBytes(alice.provider, bob.keyPackageBytes()))
  const { commit, welcome } = alice.g.recoverForkByReadding(ourPartition, fresh)
  bob.group = await MlsGroup.joinFromWelcome({ provider: bob.provider, signer: bob.signer, welcome, replaceOldGroup: true })
  alice.g.mergePendingCommitSync()
  const staged = await charlie.g.processMessage(commit)
  if (staged.type !== 'commit') return t.fail()
  charlie.g.mergeStagedCommitSync(staged.stagedCommit)

  t.deepEqual(tag(alice), tag(bob))
  t.deepEqual(tag(charlie), tag(bob))
  assertAgree(t, [alice, bob, charlie])
  await assertRoundTrip(t, bob, [alice, charlie], 'back together')
  await assertCode(t, () => alice.g.forkComplement([1]), 'ERR_INVALID_ARGUMENT')
  await assertCode(t, () => alice.g.recoverForkByReadding([0], []), 'ERR_INVALID_ARGUMENT')
})

test('reboot: Alice moves everyone to a new group that keeps the extensions', async (t) => {
  const { alice, bob, charlie } = await forked()
  const newGroupId = new TextEncoder().encode('rebooted-group')
  const kps = [bob, charlie].map((c) => KeyPackage.fromBytes(alice.provider, c.keyPackageBytes()))
  const { group, welcome } = alice.g.reboot({ newGroupId, keyPackages: kps })
  group.mergePendingCommitSync()
  alice.group = group
  t.deepEqual(Buffer.from(group.groupId), Buffer.from(newGroupId))
  for (const c of [bob, charlie]) c.group = await MlsGroup.joinFromWelcome({ provider: c.provider, signer: c.signer, welcome })
  t.deepEqual(tag(alice), tag(bob))
  t.deepEqual(tag(bob), tag(charlie))
  assertAgree(t, [alice, bob, charlie])
  t.deepEqual(group.configuration().useRatchetTreeExtension, true, 'the configuration carries over')
  await assertRoundTrip(t, charlie, [alice, bob], 'in the new group')
})
