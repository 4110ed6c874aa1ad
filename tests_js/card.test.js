/**
 * Journey: the social-security card (社保卡) — status and issuance progress, temporary
 * loss, and the electronic card code (电子社保卡码) drawn as a QR code that refreshes
 * before its 60 s run out; under temporary loss the code needs the holder's SMS
 * confirmation. A service point scans what the page drew (jsQR) and verifies it.
 *
 * Expected values from domain rules §4: the status names, the issuance steps in order,
 * a temporary loss that lifts itself after 15 working days (at least three weeks),
 * the e-card only with the holder's authorisation while the card is lost.
 */
const mp = require('./helpers/mp')
const fx = require('./helpers/fixtures')
const rules = require('./helpers/rules')
const qr = require('./helpers/qr')
const { signIn } = require('./helpers/journeys')
const { state, request } = require('./helpers/http')

async function verifyAtServicePoint(code) {
  const { baseUrl, serviceKey } = state()
  return request('POST', `${baseUrl}/v1/cards/ecode/verify`, {
    headers: { 'X-Service-Key': serviceKey }, json: { code },
  })
}

/** The refresh the page scheduled: setTimeout calls with a delay below the code's life. */
function scheduledRefreshes(spy, lifetimeSeconds) {
  return spy.mock.calls.filter(([, delay]) => typeof delay === 'number' && delay >= 1000 && delay < lifetimeSeconds * 1000)
}

test('card status and progress, e-card QR refreshed before it expires, temporary loss and the SMS-confirmed code', async () => {
  const person = await fx.newPerson({ name: '高玉兰' })
  const cardNumber = await fx.feedCard(person)
  await fx.activateCard(person) // at the bank window: 封存 → 正常 (an agent logs in first)
  // Signed in last, so the real-name code has just gone to her phone when she reaches the
  // SMS step below (the agent's login may wait for the next TOTP step, up to 31 s).
  const phone = await signIn(person)

  let card = await mp.open('pages/card/index')
  expect(card.textOf('#card-status')).toBe(`状态：${rules.CARD_STATUS.normal}`)
  expect(card.textOf('#card-title')).not.toContain(cardNumber) // masked
  expect(card.data.card.steps.map(s => s.name)).toEqual(['数据录入', '已缴费', '制卡中', '市银行签收', '网点签收', '领卡未激活'])

  // The electronic card code, scanned and verified by a service point.
  const timers = jest.spyOn(global, 'setTimeout')
  await card.tap('#show-code')
  expect(card.data.screen).toBe('ecode')
  const first = card.data.ecode
  expect(first.expiresIn).toBeLessThanOrEqual(60)
  const scanned = qr.scan(phone.canvases['ecard-qr'])
  expect(scanned).toBe(first.code)
  const checked = await verifyAtServicePoint(scanned)
  expect(checked.status).toBe(200)
  expect(checked.json.valid).toBe(true)
  expect(checked.json.status_name).toBe(rules.CARD_STATUS.normal)
  expect(checked.json.name).not.toBe(person.name)
  expect((await verifyAtServicePoint(scanned)).status).not.toBe(200) // a code is scanned once

  // A refresh is scheduled before the 60 s run out; when it fires, a new code is drawn.
  const refresh = scheduledRefreshes(timers, first.expiresIn)
  expect(refresh).toHaveLength(1)
  expect(refresh[0][1]).toBeLessThan(first.expiresIn * 1000)
  timers.mockClear()
  await refresh[0][0]()
  await card.waitFor(p => p.data.ecode && p.data.ecode.code !== first.code, 'the refreshed code')
  const second = qr.scan(phone.canvases['ecard-qr'])
  expect(second).toBe(card.data.ecode.code)
  expect((await verifyAtServicePoint(second)).json.valid).toBe(true)
  expect(scheduledRefreshes(timers, card.data.ecode.expiresIn)).toHaveLength(1) // and the next one
  await card.tap('.btn-secondary') // 关闭
  expect(card.data.screen).toBe('status')
  timers.mockClear()

  // The card is lost: temporary loss, after the confirmation dialog, with the ETag.
  await card.tap('#temp-loss')
  expect(phone.modals[phone.modals.length - 1].title).toBe('临时挂失')
  const loss = phone.requests.find(r => /\/temp_loss$/.test(r.url))
  expect(loss.headers['If-Match']).toMatch(/^"v\d+"$/)
  expect(card.textOf('#card-status')).toBe(`状态：${rules.CARD_STATUS.temp_loss}`)
  const lifts = card.data.card.temp_loss_lifts_on
  expect(lifts >= rules.addDays(rules.todayInShanghai(), 21)).toBe(true) // 15 working days ≥ 3 weeks
  expect(card.textOf('#card-advice')).toContain(`${rules.chineseDay(lifts)} 会自动解除`)

  const home = await mp.open('pages/home/index')
  expect(home.data.tasks.map(t => t.id)).toContain('card')
  home.close()

  // Under temporary loss the code needs the holder's SMS confirmation. The real-name code
  // went to the same number moments ago, and codes are limited to one a minute per number:
  // the refusal says when to try again; the test waits as the person would.
  await card.tap('#show-code')
  expect(card.data.screen).toBe('ecode-sms')
  const codes = (await fx.smsTo(person.phone)).filter(m => m.params && m.params.code)
  await card.tap('#send-sms')
  expect(card.data.sms.challengeId).toBe('')
  expect(card.data.notice.kind).toBe('error')
  expect(card.data.notice.text).toMatch(/请.*后再/)
  expect(phone.requests.filter(r => /\/ecode\/sms$/.test(r.url)).pop().status).toBe(429)
  // A minute after the last code reached the number, the next one may go.
  const lastSent = Date.parse(codes[codes.length - 1].received_at)
  await mp.sleep(Math.max(0, lastSent + 62000 - Date.now()))
  await card.tap('#send-sms')
  expect(card.data.sms.challengeId).not.toBe('')
  const codesBefore = codes.length
  const smsCode = await fx.smsCode(person.phone, { after: codesBefore })
  await card.input('#ecode-sms-code', smsCode)
  timers.mockClear()
  await card.tap('#confirm-sms')
  expect(card.data.screen).toBe('ecode')
  expect(card.data.ecode.needsSms).toBe(true)
  const lostCode = qr.scan(phone.canvases['ecard-qr'])
  expect(lostCode).toBe(card.data.ecode.code)
  const lostCheck = await verifyAtServicePoint(lostCode)
  expect(lostCheck.status).toBe(200)
  expect(lostCheck.json.status_name).toBe(rules.CARD_STATUS.temp_loss)
  expect(lostCheck.json.valid).toBe(false)
  // One confirmation serves the visit to the counter (10 minutes, README "Cards"): the
  // code refreshes by itself meanwhile, with no new SMS, and is still shown as lost.
  expect(card.text()).toContain('会自动更新')
  expect(card.textOf('#ecode-authorised')).toContain('10 分钟内有效')
  const lostRefresh = scheduledRefreshes(timers, card.data.ecode.expiresIn)
  expect(lostRefresh).toHaveLength(1)
  const textsBefore = (await fx.smsTo(person.phone)).length
  timers.mockClear()
  await lostRefresh[0][0]()
  await card.waitFor(p => p.data.ecode && p.data.ecode.code !== lostCode, 'the code refreshed under loss')
  const lostAgain = qr.scan(phone.canvases['ecard-qr'])
  expect(lostAgain).toBe(card.data.ecode.code)
  const againCheck = await verifyAtServicePoint(lostAgain)
  expect([againCheck.json.status_name, againCheck.json.valid]).toEqual([rules.CARD_STATUS.temp_loss, false])
  expect((await fx.smsTo(person.phone)).length).toBe(textsBefore)
  expect(scheduledRefreshes(timers, card.data.ecode.expiresIn)).toHaveLength(1) // and the next one
  timers.mockRestore()

  // Found it, then lost it again: the confirmation was for the earlier loss, so showing
  // the code asks for a new SMS code (rather than failing the same way on every tap).
  await card.tap('.btn-secondary') // 关闭
  await card.tap('#lift-loss')
  expect(card.textOf('#card-status')).toBe(`状态：${rules.CARD_STATUS.normal}`)
  await card.tap('#temp-loss')
  expect(card.textOf('#card-status')).toBe(`状态：${rules.CARD_STATUS.temp_loss}`)
  await card.tap('#show-code')
  expect(card.data.screen).toBe('ecode-sms')
  expect(card.data.notice.kind).toBe('error')
  expect(phone.requests.filter(r => /\/ecode$/.test(r.url)).pop().status).toBe(409)

  // Found it: lift the temporary loss.
  await card.tap('#sms-back') // 返回
  await card.tap('#lift-loss')
  expect(card.textOf('#card-status')).toBe(`状态：${rules.CARD_STATUS.normal}`)
  card.close()
  card = await mp.open('pages/card/index')
  expect(card.data.card.history.map(h => h.event).slice(-5)).toEqual(
    ['activate', 'temp_loss', 'cancel_temp_loss', 'temp_loss', 'cancel_temp_loss'])
})
