/**
 * 长辈版 (elder mode): switched on at home, applied on every page; on every screen of
 * every page the text is at least 24px (18 pt), headings at least 40px (30 pt),
 * line-height 1.3, contrast at least 4.5:1, touch targets at least 60 × 60 px, and a
 * 朗读 button follows every instruction; the button degrades gracefully without the
 * speech plugin. What the check measures, and what jsdom cannot: helpers/elder.js.
 */
const mp = require('./helpers/mp')
const fx = require('./helpers/fixtures')
const rules = require('./helpers/rules')
const { audit } = require('./helpers/elder')
const { signIn } = require('./helpers/journeys')
const api = require('../miniapp_stub/api/client')

const PAGES = [
  'pages/home/index', 'pages/login/index', 'pages/realname/index', 'pages/pension/index',
  'pages/home-visit/index', 'pages/family/index', 'pages/filing/index', 'pages/filing-detail/index',
  'pages/card/index', 'pages/inbox/index',
]

const PASS = {
  passed: true, message: '认证成功，感谢您的配合。', validThrough: '2027年11月21日', next: '下次请在 2027年11月21日 或之前再认证，到时会提醒您。',
}
const FAIL = { passed: false, message: '与登记照片比对未通过。请正对屏幕、光线充足时再试。', attemptsLeft: 3, next: '今天还可以再试 3 次。' }
const ERROR = { text: '操作太频繁，请1 分钟后再试。', kind: 'error', login: true }
// The 告知书 as the server serves it (its first lines).
const NOTICE = ['为了确认您本人健在、可以继续领取养老金，认证时要比对您的脸和登记的照片。', '用途：只用于养老金领取资格认证。']
// The 承诺书 as the filing guide serves it: the title, then the paragraphs.
const LETTER = ['个人承诺书', '本人承诺：所填写的异地居住、工作或外出情况真实。', '本人会在情况变化时及时变更或取消备案。']
// A referral as the filing guide serves it (the page's shape): its three fields.
const REFERRAL = {
  value: 'referral', name: '异地转诊', who: '本地医院开了转诊证明，要到外地医院看病', longTerm: false, commitment: false,
  fields: [
    { name: 'hospital', label: '就医的医院', placeholder: '例如：广州市第一人民医院', required: true },
    { name: 'referring_hospital', label: '开转诊证明的医院', placeholder: '本地转出的医院', required: true },
    { name: 'transfer_reference', label: '转诊证明编号（没有可以先不填，备案会等工作人员审核）', placeholder: '转诊单上的编号', required: false },
  ],
}
const ECODE = { code: 'not-a-real-code', expiresIn: 60, remaining: 42, expired: false, needsSms: false, autoRefresh: true }

/** The screens of each page: data set on the page as its own handlers would set it. */
const SCREENS = {
  'pages/home/index': [{ screen: 'task' }, { screen: 'services' }, { notice: ERROR }],
  'pages/login/index': [{ step: 'start' }, { step: 'phone' }, { step: 'done' }, { notice: ERROR }],
  'pages/realname/index': [{ step: 'form' }, { step: 'code', sentMessage: '如身份证号和姓名与参保登记一致，验证码已发送到参保登记的手机号。' }, { step: 'done' }],
  'pages/pension/index': [
    { step: 'status' }, { step: 'other' }, { step: 'consent', noticeTitle: '人脸识别告知书', noticeLines: NOTICE, noticeText: NOTICE.join('') },
    { step: 'needs-consent' }, { step: 'refused' },
    { step: 'ready' }, { step: 'verifying' }, { step: 'result', result: PASS }, { step: 'result', result: FAIL },
  ],
  'pages/home-visit/index': [{ step: 'form', dates: ['2030-01-02'] }, { step: 'done', booking: { booking_id: 'V1', statusName: '已提交' } }],
  'pages/family/index': [{ screen: 'list' }, { screen: 'invite' }, { screen: 'invite', 'form.by': 'id' }],
  'pages/filing/index': [
    { step: 'list' }, { step: 'category', categories: [REFERRAL] },
    { step: 'details', category: REFERRAL, fields: REFERRAL.fields, provinceIndex: 18, cityNames: ['广州市'], cityIndex: 0 },
    { step: 'commitment', signed: true, commitmentLines: LETTER, commitmentText: LETTER.join('') },
  ],
  'pages/filing-detail/index': [{ screen: 'certificate' }, { screen: 'change' }],
  'pages/card/index': [
    { screen: 'status' }, { screen: 'ecode-sms' }, { screen: 'ecode', ecode: ECODE },
    { screen: 'ecode', ecode: Object.assign({}, ECODE, { remaining: 0, expired: true, needsSms: true, autoRefresh: false }) },
  ],
  'pages/inbox/index': [{
    messages: [{ message_id: 'm1', kind: 'cert_done', text: '您已完成养老金领取资格认证。', when: '2026年11月22日 10:00', read: false }],
    unread: 1,
  }],
}

let person
let phone
let filingId

beforeAll(async () => {
  person = await fx.newPerson({ name: '韩凤英' })
  const relative = await fx.newPerson({ name: '韩磊', personType: 'employee', born: '19850301' })
  await signIn(relative)
  phone = await signIn(person)
  await fx.feedCard(person)
  await fx.activateCard(person)
  // Something on every page: a filing, an invitation to a relative.
  const created = await api.filings.create({
    person_id: person.personId, category: 'temporary_trip',
    destination: { province_code: '440000', city_code: '440100' }, start_date: rules.todayInShanghai(),
    commitment: { accepted: true, version: '2026-01' },
  }, `elder-${Date.now()}`)
  filingId = created.data.filing_id
  await api.family.invite({ phone: relative.phone, permissions: ['pension_cert', 'card'] }, `elder-fam-${Date.now()}`)
})

async function openWithData(route) {
  return mp.open(route, route === 'pages/filing-detail/index' ? { id: filingId } : {})
}

test('the switch on the home page turns 长辈版 on for every page, and it stays on', async () => {
  mp.use(phone)
  const home = await mp.open('pages/home/index')
  expect(home.data.elder).toBe(false)
  expect(home.textOf('#elder-toggle')).toBe('长辈版（大字）')
  await home.tap('#elder-toggle')
  expect(home.data.elder).toBe(true)
  expect(home.dom.querySelector('[class*="elder"]')).not.toBeNull()
  expect(home.textOf('#elder-toggle')).toBe('切换到标准版')
  home.close()
  for (const route of PAGES) {
    const page = await openWithData(route)
    expect([route, page.data.elder]).toEqual([route, true])
    expect(page.dom.firstElementChild.getAttribute('class')).toMatch(/--elder\b/)
    page.close()
  }
  // The app launched again on the same phone reads it back.
  phone.app.globalData.elder = false
  phone.app.onLaunch()
  expect(phone.app.globalData.elder).toBe(true)
})

test.each(PAGES)('%s meets the 长辈版 numbers on every screen', async route => {
  mp.use(phone)
  require('../miniapp_stub/utils/elder').set(true)
  const page = await openWithData(route)
  const report = []
  let texts = 0
  let targets = 0
  for (const screen of [{}].concat(SCREENS[route])) {
    page.instance.setData(screen)
    await mp.settle(page)
    const result = audit(page.dom)
    texts += result.texts
    targets += result.targets
    for (const problem of result.problems) report.push(`${JSON.stringify(screen).slice(0, 60)}: ${problem}`)
  }
  if (process.env.ELDER_DEBUG) console.log(route, { texts, targets })
  expect(report).toEqual([])
  expect(texts).toBeGreaterThan(3) // the check saw the page's words …
  expect(targets).toBeGreaterThan(0) // … and its buttons
})

test('the standard layout is smaller: the same check finds it short of 长辈版', async () => {
  mp.use(phone)
  require('../miniapp_stub/utils/elder').set(false)
  const page = await mp.open('pages/pension/index')
  const { problems } = audit(page.dom)
  expect(problems.some(p => /font-size 16 < 24px/.test(p))).toBe(true)
  expect(problems.some(p => /touch target height 44 < 60px/.test(p))).toBe(true)
})

test('one task per screen at home in 长辈版', async () => {
  mp.use(phone)
  require('../miniapp_stub/utils/elder').set(true)
  const home = await mp.open('pages/home/index')
  expect(home.data.tasks.length).toBeGreaterThan(0)
  expect(home.findAll('#task-card')).toHaveLength(1)
  expect(home.find('#summary')).toBeNull()
  if (home.data.tasks.length > 1) {
    const first = home.textOf('#task-title')
    await home.tap('#next-task')
    expect(home.textOf('#task-title')).not.toBe(first)
  }
})

test('朗读: without the speech plugin the words are shown large instead; with it, they are spoken', async () => {
  mp.use(phone)
  require('../miniapp_stub/utils/elder').set(true)
  const pension = await mp.open('pages/pension/index')
  const before = phone.modals.length
  const speak = () => pension.must('#speak-status').querySelector('.speak').dispatchEvent('tap')
  speak()
  await mp.settle(pension)
  const shown = phone.modals[before]
  expect(shown.title).toBe('请看这段话')
  expect(shown.content).toBe('认证就是用手机刷一下脸，证明本人健在。大约一分钟。')

  const spoken = []
  global.requirePlugin = name => (name === 'WechatSI' ? {
    textToSpeech({ content, success }) {
      spoken.push(content)
      success({ filename: 'https://example.invalid/tts.mp3' })
    },
  } : null)
  try {
    speak()
    await mp.settle(pension)
    expect(spoken).toEqual(['认证就是用手机刷一下脸，证明本人健在。大约一分钟。'])
    expect(phone.modals.length).toBe(before + 1) // no dialog this time
  } finally {
    delete global.requirePlugin
  }
})
