/**
 * Journey: cross-region medical filing (异地就医备案) — pick a category, the fields it
 * needs, read and sign the personal commitment (承诺书), see the certificate with its QR
 * code, try to change it, cancel it.
 *
 * Expected values from domain rules §3: a filing takes effect as soon as it is made;
 * temporary filings are valid for at least 6 months; and §6: ID numbers are masked.
 */
const mp = require('./helpers/mp')
const fx = require('./helpers/fixtures')
const rules = require('./helpers/rules')
const qr = require('./helpers/qr')
const { signIn } = require('./helpers/journeys')
const { state, request } = require('./helpers/http')
const { PROVINCES } = require('../miniapp_stub/data/regions')

function provinceIndex(code) {
  return PROVINCES.findIndex(p => p[0] === code)
}

function cityIndex(province, code) {
  return PROVINCES[provinceIndex(province)][2].findIndex(c => c[0] === code)
}

test('a temporary trip filed with the commitment letter, its certificate, a change and the cancellation', async () => {
  const person = await fx.newPerson({ name: '刘志刚' })
  const phone = await signIn(person)
  const filing = await mp.open('pages/filing/index')
  expect(filing.data.filings).toEqual([])

  await filing.tap('#new-filing')
  await filing.tap('.cat-temporary_trip')
  expect(filing.data.step).toBe('details')
  expect(filing.data.fields).toEqual([]) // a temporary trip needs only the place and the day

  // Leaving out the destination is caught on the phone, in words that say what to do.
  await filing.tap('#details-done')
  expect(filing.data.notice.text).toBe('请选择要去看病的省和市。')

  // 广东省广州市 (440000 / 440100), from today.
  await filing.change('#province-picker', String(provinceIndex('440000')))
  await filing.change('#city-picker', String(cityIndex('440000', '440100')))
  const today = rules.todayInShanghai()
  await filing.change('#start-picker', today)
  await filing.tap('#details-done')
  expect(filing.data.step).toBe('commitment')
  expect(filing.text()).toContain('个人承诺书')
  // The letter shown is the one the server serves, and its version is what gets signed.
  const guide = (await request('GET', `${state().baseUrl}/v1/medical/filing-guide`)).json
  for (const paragraph of guide.commitment.paragraphs) expect(filing.text()).toContain(paragraph)

  // The commitment must be signed before submitting.
  await filing.tap('#submit-signed')
  expect(filing.data.notice.text).toContain('我已阅读并承诺')
  await filing.tap('#sign')
  await filing.tap('#submit-signed')
  const created = phone.requests.find(r => r.method === 'POST' && r.url.endsWith('/v1/medical/filings'))
  expect(created.status).toBe(201)
  expect(created.headers['Idempotency-Key']).toMatch(/^[\x21-\x7e]{8,128}$/)
  expect(JSON.parse(created.body)).toEqual({
    person_id: person.personId, category: 'temporary_trip',
    destination: { province_code: '440000', city_code: '440100' }, start_date: today,
    commitment: { accepted: true, version: guide.commitment.version },
  })
  const to = mp.lastNavigation().url
  expect(to).toMatch(/^\/pages\/filing-detail\/index\?id=F\w+&created=1$/)
  const filingId = /id=(F\w+)/.exec(to)[1]

  // The certificate: in force at once, at least six months, the ID number masked, and a
  // QR code that scans to the certificate's check code.
  const detail = await mp.open('pages/filing-detail/index', { id: filingId, created: '1' })
  expect(detail.data.filing.status).toBe('effective')
  expect(detail.textOf('#filing-status')).toBe('状态：已生效')
  expect(detail.data.filing.destination.name).toBe('广东省广州市')
  expect(detail.data.filing.end_date >= rules.addDays(rules.addMonths(today, 6), -1)).toBe(true)
  const row = name => (detail.data.rows.find(r => r.name === name) || {}).value
  expect(row('身份证号')).toBe(rules.maskedIdNumber(person.idNumber))
  expect(row('就医地')).toBe('广东省广州市')
  expect(row('备案编号')).toBe(filingId)
  expect(detail.data.checkCode).toBeTruthy()
  expect(qr.scan(phone.canvases['cert-qr'])).toBe(detail.data.checkCode)

  // A change to Haikou: POST …/change (wx.request has no PATCH) with the ETag read.
  await detail.tap('#change')
  await detail.change('#change-province-picker', String(provinceIndex('460000')))
  await detail.change('#change-city-picker', String(cityIndex('460000', '460100')))
  await detail.tap('#submit-change')
  const changed = phone.requests.find(r => /\/change$/.test(r.url))
  expect(changed.method).toBe('POST')
  expect(changed.headers['If-Match']).toBe('"v1"')
  expect(changed.status).toBe(200)
  expect(detail.data.notice.text).toBe('备案已变更。')
  expect(detail.data.filing.destination.name).toBe('海南省海口市')
  expect(phone.requests.some(r => r.method === 'PATCH')).toBe(false)

  // Back on the certificate: cancelling (after the confirmation dialog) sends the new ETag.
  expect(detail.data.screen).toBe('certificate')
  await detail.tap('#cancel')
  expect(phone.modals[phone.modals.length - 1].title).toBe('取消备案')
  const cancel = phone.requests.find(r => /\/cancel$/.test(r.url))
  expect(cancel.headers['If-Match']).toBe('"v2"')  // the version after the change
  expect(cancel.status).toBe(200)
  expect(detail.data.filing.status).toBe('cancelled')
  expect(detail.textOf('#filing-status')).toBe('状态：已取消')
  expect(detail.find('#cancel')).toBeNull()
})

test('a referral needs the hospitals; a long-term filing needs the commitment; the list shows both', async () => {
  const person = await fx.newPerson({ name: '周建华' })
  const phone = await signIn(person)
  let filing = await mp.open('pages/filing/index')
  await filing.tap('#new-filing')
  await filing.tap('.cat-referral')
  expect(filing.data.fields.map(f => f.name)).toEqual(['hospital', 'referring_hospital', 'transfer_reference'])
  await filing.change('#province-picker', String(provinceIndex('110000')))
  expect(filing.data.cityIndex).toBe(0) // Beijing has one city-level division
  await filing.tap('#details-done')
  expect(filing.data.notice.text).toBe('请填写：就医的医院。')
  await filing.input('.field-hospital', '北京协和医院')
  await filing.input('.field-referring_hospital', '内蒙古医科大学附属医院')
  await filing.input('.field-transfer_reference', 'ZZ-2026-0001')
  await filing.tap('#details-done') // no commitment for a referral: submitted at once
  const referral = phone.requests.find(r => r.method === 'POST' && r.url.endsWith('/v1/medical/filings'))
  expect(referral.status).toBe(201)
  expect(JSON.parse(referral.body).commitment).toBeUndefined()

  filing.close()
  filing = await mp.open('pages/filing/index')
  await filing.tap('#new-filing')
  await filing.tap('.cat-long_term_resident')
  await filing.change('#province-picker', String(provinceIndex('460000')))
  await filing.change('#city-picker', String(cityIndex('460000', '460200')))
  await filing.tap('#details-done')
  expect(filing.data.step).toBe('commitment')
  await filing.tap('#sign')
  await filing.tap('#submit-signed')
  filing.close()

  filing = await mp.open('pages/filing/index')
  const shown = filing.data.filings.map(f => `${f.category_name}:${f.statusName}:${f.long_term}`).sort()
  expect(shown).toEqual(['异地转诊:已生效:false', '异地长期居住:已生效:true']) // both in force at once (§3)
  expect(filing.data.filings.find(f => f.category === 'referral').destination.city_code).toBe('110100')
  expect(filing.data.filings.find(f => f.long_term).destination.name).toBe('海南省三亚市')
  const longTerm = filing.data.filings.find(f => f.long_term)
  expect(longTerm.until).toBe('长期有效') // valid until changed or cancelled (§3)
})
