/**
 * The API layer (miniapp_stub/api/client.js) against the real server: bearer tokens and
 * their one-time refresh, Idempotency-Key on creates (a replay gets the first answer),
 * If-Match on updates, and refusals turned into plain Chinese with what to do next.
 */
const mp = require('./helpers/mp')
const fx = require('./helpers/fixtures')
const rules = require('./helpers/rules')
const { signIn } = require('./helpers/journeys')
const api = require('../miniapp_stub/api/client')
const session = require('../miniapp_stub/utils/session')

test('no login: nothing is sent, and the message says to log in', async () => {
  const phone = mp.newDevice('a new phone')
  await expect(api.account.me()).rejects.toMatchObject({ status: 401, code: 'NOT_LOGGED_IN', message: expect.stringContaining('请先') })
  expect(phone.requests).toHaveLength(0)
})

test('an expired access token is refreshed once; a dead session asks to log in again', async () => {
  const person = await fx.newPerson({ name: '冯国庆' })
  const phone = await signIn(person)
  const before = session.read()
  session.save(Object.assign({}, before, { access_token: 'not-a-token' }))
  const me = await api.account.me()
  expect(me.person_id).toBe(person.personId)
  const after = session.read()
  expect(after.access_token).not.toBe('not-a-token')
  expect(after.refresh_token).not.toBe(before.refresh_token) // rotated
  expect(phone.requests.filter(r => r.url.endsWith('/v1/auth/refresh'))).toHaveLength(1)

  session.save(Object.assign({}, after, { access_token: 'not-a-token', refresh_token: 'not-a-token-either' }))
  const err = await api.account.me().catch(e => e)
  expect(err).toBeInstanceOf(api.ApiError)
  expect(err.status).toBe(401)
  expect(err.message).toContain('请重新登录')
  expect(session.read()).toBeNull()
})

test('refusals carry the server\'s plain words, its request id, and always a next step', async () => {
  const person = await fx.newPerson({ name: '蒋桂芝' })
  await signIn(person)
  // Someone else's record reads exactly like one that does not exist.
  const other = await fx.newPerson({ name: '韦建军' })
  const err = await api.account.person(other.personId).catch(e => e)
  expect(err.status).toBe(404)
  expect(err.requestId).toBeTruthy()
  expect(err.message).toMatch(/请|拨打/)
  expect(err.message).not.toMatch(/[A-Z_]{6,}/) // no codes shown to people

  // A stale version: 412 in words that say to refresh.
  const created = await api.filings.create({
    person_id: person.personId, category: 'temporary_trip',
    destination: { province_code: '440000', city_code: '440100' }, start_date: rules.todayInShanghai(),
    commitment: { accepted: true, version: '2026-01' },
  }, 'client-test-filing-1')
  const stale = await api.filings.cancel(created.data.filing_id, '"v0"').catch(e => e)
  expect(stale.status).toBe(412)
  expect(stale.message).toContain('请刷新')

  // A create retried with the same Idempotency-Key gets the first answer, not a second record.
  const again = await api.filings.create({
    person_id: person.personId, category: 'temporary_trip',
    destination: { province_code: '440000', city_code: '440100' }, start_date: rules.todayInShanghai(),
    commitment: { accepted: true, version: '2026-01' },
  }, 'client-test-filing-1')
  expect(again.data.filing_id).toBe(created.data.filing_id)
  expect((await api.filings.list(person.personId)).filings).toHaveLength(1)
  // … and the same key with another body is refused, saying what to do.
  const reused = await api.filings.create({
    person_id: person.personId, category: 'temporary_trip',
    destination: { province_code: '460000', city_code: '460100' }, start_date: rules.todayInShanghai(),
    commitment: { accepted: true, version: '2026-01' },
  }, 'client-test-filing-1').catch(e => e)
  expect(reused.status).toBe(422)
  expect(reused.message).toMatch(/请/)
})

test('what WeChat cannot send is refused before sending; no network is said plainly', async () => {
  const phone = mp.newDevice('offline phone')
  session.save({ access_token: 'x', refresh_token: 'y', session_id: 's', account: null })
  const patch = await api.call('PATCH', '/v1/medical/filings/F1', { body: {} }).catch(e => e)
  expect(patch.code).toBe('METHOD_NOT_SUPPORTED')
  expect(patch.message).toContain('请拨打 12333')
  expect(phone.requests).toHaveLength(0)

  phone.app.globalData.baseUrl = 'http://127.0.0.1:9' // nothing listens there
  const offline = await api.account.me().catch(e => e)
  expect(offline.status).toBe(0)
  expect(offline.message).toBe('网络不通，请检查手机网络后再试。如急需办理，请拨打 12333。')
})
