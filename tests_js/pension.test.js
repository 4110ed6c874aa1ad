/**
 * Journeys of pension certification (养老金资格认证) in the mini-program:
 * consent first, then WeChat's face check (verify id from the server →
 * wx.requestFacialVerify → the server asks WeChat for the verdict), with the answer, its
 * reason and what to do next; through the family route (亲情代办); refusing consent.
 *
 * Expected dates come from domain rules §1: a certification on day C with a 12-month
 * cycle (a retiree living locally in Hohhot) is valid through the day before C + 12 months.
 */
const mp = require('./helpers/mp')
const fx = require('./helpers/fixtures')
const rules = require('./helpers/rules')
const { signIn } = require('./helpers/journeys')
const { state, request } = require('./helpers/http')

const CYCLE_MONTHS = 12

async function wechatMessages() {
  return (await request('GET', `${state().wechatUrl}/_control/messages`)).json.messages
}

test('consent, then certification by a family member through WeChat face verification', async () => {
  const parent = await fx.newPerson({ name: '王桂兰' })
  const child = await fx.newPerson({ name: '王强', personType: 'employee', born: '19800712' })

  // The retiree gives consent herself (family cannot give it for her).
  const parentPhone = await signIn(parent)
  let pension = await mp.open('pages/pension/index')
  expect(pension.data.step).toBe('status')
  await pension.tap('#start')
  expect(pension.data.step).toBe('consent')
  expect(pension.text()).toContain('人脸识别告知书')
  // The notice shown is the server's, and its version is what the consent names.
  const notice = (await request('GET', `${state().baseUrl}/v1/pension/consent-notice`)).json
  for (const paragraph of notice.paragraphs) expect(pension.text()).toContain(paragraph)
  await pension.tap('#consent-give')
  expect(pension.data.step).toBe('ready')
  expect(pension.data.consent.status).toBe('given')
  const consentCall = parentPhone.requests.find(r => r.method === 'POST' && /\/consent$/.test(r.url))
  expect(JSON.parse(consentCall.body)).toEqual({ decision: 'give', notice_version: notice.version })

  // She invites her son by phone to handle her certification.
  let family = await mp.open('pages/family/index')
  await family.tap('#to-invite')
  await family.input('#invite-phone', child.phone)
  // The son has no account yet: the refusal says what to do.
  await family.tap('#invite')
  expect(family.data.notice.kind).toBe('error')
  expect(family.data.notice.text).toContain('请让家人先登录小程序')
  const firstInvite = parentPhone.requests.filter(r => r.url.endsWith('/v1/family/links') && r.method === 'POST')
  expect(firstInvite[0].headers['Idempotency-Key']).toMatch(/^[\x21-\x7e]{8,128}$/)

  // The son logs in on his own phone; now the invitation goes through.
  const childPhone = await signIn(child)
  mp.use(parentPhone)
  family.close()
  family = await mp.open('pages/family/index')
  await family.tap('#to-invite')
  await family.input('#invite-phone', child.phone)
  await family.tap('#invite')
  expect(family.data.notice.kind).toBe('ok')
  expect(family.data.mine).toHaveLength(1)
  expect(family.data.mine[0].status).toBe('invited')
  expect(family.data.mine[0].permissions).toEqual(['pension_cert'])

  // The son accepts …
  mp.use(childPhone)
  let childFamily = await mp.open('pages/family/index')
  expect(childFamily.data.forMe).toHaveLength(1)
  await childFamily.tap('.accept')
  expect(childFamily.data.forMe[0].status).toBe('accepted')
  const accept = childPhone.requests.find(r => /\/accept$/.test(r.url))
  expect(accept.headers['If-Match']).toBe('"v1"')

  // … and the mother confirms.
  mp.use(parentPhone)
  family.close()
  family = await mp.open('pages/family/index')
  await family.tap('.confirm')
  expect(family.data.mine[0].status).toBe('confirmed')

  // The son acts for his mother: the pension page works on her record.
  mp.use(childPhone)
  childFamily.close()
  childFamily = await mp.open('pages/family/index')
  expect(childFamily.data.forMe[0].name).toBe('王**') // masked for anyone but herself (§6)
  await childFamily.tap('.act-pension_cert')
  expect(mp.lastNavigation().url).toBe('/pages/pension/index')
  expect(childPhone.app.globalData.actingFor.person_id).toBe(parent.personId)

  pension = await mp.open('pages/pension/index')
  expect(pension.text()).toContain('正在为家人 王** 办理')
  await pension.tap('#start')
  expect(pension.data.step).toBe('ready') // her consent is on record
  await pension.tap('#face')
  await pension.waitFor(p => p.data.step === 'result', 'the result of the face check')

  // Subscribe first (from the tap), then the server's verify id, WeChat's check, the verdict.
  const order = childPhone.log.filter(e => e.type !== 'login').map(e => (e.type === 'request'
    ? `${e.method} ${e.url.replace(/^https?:\/\/[^/]+/, '').replace(/WF\w+/, '{check_id}')}` : e.type))
  const start = order.indexOf('requestSubscribeMessage')
  expect(order.slice(start, start + 4)).toEqual([
    'requestSubscribeMessage',
    'POST /v1/pension/wechat-face',
    'requestFacialVerify',
    'POST /v1/pension/wechat-face/{check_id}/result',
  ])
  expect(childPhone.subscribeRequests[0]).toEqual(['wxtpl-cert-done', 'wxtpl-cert-due-soon', 'wxtpl-cert-overdue'])
  const started = childPhone.requests.find(r => r.url.endsWith('/v1/pension/wechat-face'))
  expect(started.headers['Idempotency-Key']).toBeTruthy()
  expect(JSON.parse(started.body)).toEqual({ person_id: parent.personId })
  expect(childPhone.faceVerifications).toHaveLength(1)

  const today = rules.todayInShanghai()
  const through = rules.validThrough(today, CYCLE_MONTHS)
  expect(pension.data.result.passed).toBe(true)
  expect(pension.textOf('#result-valid')).toBe(`认证有效期到 ${rules.chineseDay(through)}。`)
  expect(pension.textOf('#result-next')).toContain(`下次请在 ${rules.chineseDay(through)} 或之前再认证`)
  expect(pension.data.status.last_certified_on).toBe(today)
  expect(pension.data.status.valid_through).toBe(through)

  // The mother's own home page shows it, with the due date.
  mp.use(parentPhone)
  const home = await mp.open('pages/home/index')
  expect(home.textOf('#cert-status')).toBe(`养老金认证：已认证。认证有效期到 ${rules.chineseDay(through)}。`)
  expect(home.data.tasks.map(t => t.id)).not.toContain('cert')

  // The result reaches her: she had not subscribed on her phone, so by SMS, and in the inbox.
  await mp.waitFor(async () => (await fx.smsTo(parent.phone)).some(m => m.params.valid_through === through),
    'the certification SMS to the retiree', 30000)
  await mp.waitFor(async () => {
    await home.instance.load()
    return home.data.unread > 0
  }, 'the result in her inbox', 30000)
  expect(home.textOf('#unread')).toMatch(/未读消息：[1-9]\d* 条/)

  // The inbox: the message names the new validity; "知道了" marks it read.
  const inbox = await mp.open('pages/inbox/index')
  const message = inbox.data.messages.find(m => m.text.includes(through))
  expect(message).toBeTruthy()
  expect(message.read).toBe(false)
  const unread = inbox.data.unread
  await inbox.tap('.mark-read', { index: inbox.data.messages.filter(m => !m.read).indexOf(message) })
  expect(parentPhone.requests.some(r => r.url.endsWith(`/v1/me/inbox/${message.message_id}/read`) && r.status === 204)).toBe(true)
  expect(inbox.data.unread).toBe(unread - 1)
  expect(inbox.textOf('#unread-count')).toBe(`未读 ${unread - 1} 条`)
})

test('a failed face check gives its reason and what to do next; a pass notifies the subscribed phone', async () => {
  const person = await fx.newPerson({ name: '赵淑珍' })
  const phone = await signIn(person)
  const pension = await mp.open('pages/pension/index')
  await pension.tap('#start')
  await pension.tap('#consent-give')
  expect(pension.data.step).toBe('ready')

  // WeChat says the face did not match (verify_ret 10004).
  phone.faceVerdict = 10004
  await pension.tap('#face')
  await pension.waitFor(p => p.data.step === 'result', 'the failed result')
  expect(pension.data.result.passed).toBe(false)
  expect(pension.textOf('#result-title')).toBe('这次没有通过')
  expect(pension.textOf('#result-message')).toMatch(/请/)
  expect(pension.data.result.attemptsLeft).toBeGreaterThan(0)
  expect(pension.textOf('#result-next')).toMatch(/今天还可以再试 \d+ 次/)
  expect(pension.find('#retry')).not.toBeNull()

  // The second try passes; this phone subscribed, so the result comes as a subscribe message.
  phone.faceVerdict = 10000
  await pension.tap('#retry')
  await pension.tap('#face')
  await pension.waitFor(p => p.data.step === 'result' && p.data.result.passed, 'the pass')
  const through = rules.validThrough(rules.todayInShanghai(), CYCLE_MONTHS)
  expect(pension.data.status.valid_through).toBe(through)
  const keysUsed = phone.requests.filter(r => r.url.endsWith('/v1/pension/wechat-face')).map(r => r.headers['Idempotency-Key'])
  expect(new Set(keysUsed).size).toBe(2) // a new attempt is a new create
  await mp.waitFor(async () => (await wechatMessages()).some(m => m.touser === phone.openid && m.template_id === 'wxtpl-cert-done'),
    'the subscribe message to the phone that subscribed', 30000)
})

test('refusing consent records the choice and offers the ways without a face check', async () => {
  const person = await fx.newPerson({ name: '孙玉梅' })
  await signIn(person)
  const pension = await mp.open('pages/pension/index')
  await pension.tap('#start')
  await pension.tap('#consent-refuse')
  expect(pension.data.step).toBe('refused')
  expect(pension.data.consent.status).toBe('refused')
  expect(pension.textOf('#refused-text')).toMatch(/上门/)
  expect(pension.textOf('#refused-text')).toMatch(/家属|家人/)

  // The other ways are one tap away from the status screen too.
  pension.close()
  const again = await mp.open('pages/pension/index')
  await again.tap('#to-other')
  expect(again.data.step).toBe('other')
  await again.tap('#to-home-visit')
  expect(mp.lastNavigation().url).toBe('/pages/home-visit/index')
})
