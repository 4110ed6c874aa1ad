/**
 * Journey: the home page, "what do I need to do now" — the certification status and
 * its due date, effective filings, the card's status, unread messages — for someone not
 * logged in, not yet verified, and verified.
 */
const mp = require('./helpers/mp')
const fx = require('./helpers/fixtures')
const rules = require('./helpers/rules')
const { signIn } = require('./helpers/journeys')
const api = require('../miniapp_stub/api/client')

test('not logged in, then not verified: the one task is the next step', async () => {
  mp.newDevice('a new phone')
  let home = await mp.open('pages/home/index')
  expect(home.data.tasks.map(t => t.id)).toEqual(['login'])
  await home.tap('.task-go')
  expect(mp.lastNavigation().url).toBe('/pages/login/index')
  home.close()

  const login = await mp.open('pages/login/index')
  await login.tap('#wechat-login')
  await login.tap('#skip-phone')
  expect(mp.lastNavigation()).toEqual({ type: 'redirectTo', url: '/pages/realname/index' })
  home = await mp.open('pages/home/index')
  expect(home.data.tasks.map(t => t.id)).toEqual(['realname'])
  expect(home.text()).toContain('请先完成实名认证')
})

test('verified new retiree: certification due this month, an effective filing, the card, unread messages', async () => {
  // Domain rules §1: a new retiree certifies in the month the first payment arrives; the
  // first deadline is the last day of that month.
  const today = rules.todayInShanghai()
  const [y, m] = today.split('-').map(Number)
  const monthEnd = new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10)
  const person = await fx.newPerson({ name: '曹玉珍', firstPaymentDate: today })
  await fx.feedCard(person)
  await fx.activateCard(person)
  await signIn(person)
  await api.filings.create({
    person_id: person.personId, category: 'temporary_trip',
    destination: { province_code: '440000', city_code: '440100' }, start_date: today,
    commitment: { accepted: true, version: '2026-01' },
  }, `home-${Date.now()}`)

  const home = await mp.open('pages/home/index')
  expect(home.data.tasks[0].id).toBe('cert')
  expect(home.data.tasks[0].title).toBe('做养老金资格认证')
  expect(home.textOf('#cert-status')).toContain(`有效期到 ${rules.chineseDay(monthEnd)}`)
  expect(home.text()).toContain(`请在 ${rules.chineseDay(monthEnd)} 或之前完成`)

  const filingLine = home.textOf('#filing-status')
  expect(filingLine).toMatch(/^异地就医备案：1 条有效（广东省广州市，到 \d{4}年\d{1,2}月\d{1,2}日）。$/)
  // at least six months from today (domain rules §3), shown as a day people read
  const end = /到 (\d{4})年(\d{1,2})月(\d{1,2})日/.exec(filingLine).slice(1).map(Number)
  const endIso = `${end[0]}-${String(end[1]).padStart(2, '0')}-${String(end[2]).padStart(2, '0')}`
  expect(endIso >= rules.addDays(rules.addMonths(today, 6), -1)).toBe(true)
  expect(home.textOf('#card-status')).toMatch(new RegExp(`：${rules.CARD_STATUS.normal}。$`))
  expect(home.textOf('#unread')).toBe(`未读消息：${home.data.unread} 条`)

  // 长辈版 shows the same first task, alone.
  await home.tap('#elder-toggle')
  expect(home.textOf('#task-title')).toBe('做养老金资格认证')
  await home.tap('#task-go')
  expect(mp.lastNavigation().url).toBe('/pages/pension/index')
})
