// The delivery-service example end to end: a real server process on an ephemeral port on
// 127.0.0.1, clients over HTTP and WebSockets, a restart in the middle (npm run demo:ds prints it).
import test from 'ava'
import { runScenario } from '../examples/delivery-service/scenario.mjs'

test('the delivery service: join, talk, update, a commit race, bad input, remove, restart, rejoin by external commit', async (t) => {
  const result = await runScenario()
  const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((n) => result.finalState[n])
  t.is(alice.epoch, 5n)
  t.is(bob.epoch, alice.epoch)
  t.is(carol.epoch, alice.epoch)
  t.is(bob.authenticator, alice.authenticator)
  t.is(carol.authenticator, alice.authenticator)
  t.deepEqual(result.refusals, ['ERR_WRONG_EPOCH', 'ERR_MALFORMED_MESSAGE', 'ERR_WRONG_EPOCH', 'ERR_UNKNOWN_GROUP'])
  t.true(result.reloaded, 'the restarted server reloaded the group from its SQLite file')
  t.deepEqual(result.heard.alice, ['bob: hi alice', 'carol: bob looks fresh', "carol: I'm back"])
  t.deepEqual(result.heard.bob, ['alice: hello, both of you', 'carol: bob looks fresh', "carol: I'm back", 'alice: welcome back, carol'])
  t.deepEqual(result.heard.carol, ['alice: hello, both of you', 'bob: hi alice', 'alice: welcome back, carol'])
})
