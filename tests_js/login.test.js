/**
 * Journey: log in with WeChat (wx.login → POST /v1/auth/wechat/login), bind the phone with
 * the getPhoneNumber button, then bind the real name with the SMS code that the Aliyun
 * stand-in received.
 */
const mp = require('./helpers/mp')
const fx = require('./helpers/fixtures')
const rules = require('./helpers/rules')
const { state, request } = require('./helpers/http')

test('login, phone binding and real-name binding, with refusals that say what to do next', async () => {
  const person = await fx.newPerson({ name: '李秀英' })
  const phone = mp.newDevice('李秀英的手机')

  // WeChat turns this user away once (40226, a high-risk account): the page says what to do.
  await request('POST', `${state().wechatUrl}/_control/plan`, { json: { api: 'jscode2session', errcode: 40226 } })
  const login = await mp.open('pages/login/index')
  await login.tap('#wechat-login')
  expect(login.data.notice.kind).toBe('error')
  expect(login.data.notice.text).toMatch(/请|拨打/)
  expect(login.data.step).toBe('start')

  // The second try goes through: a new account, with no phone yet.
  await login.tap('#wechat-login')
  expect(login.data.notice).toBeNull()
  expect(login.data.step).toBe('phone')
  const loginCall = phone.requests.find(r => r.url.endsWith('/v1/auth/wechat/login') && r.status === 200)
  expect(JSON.parse(loginCall.body).code).toBeTruthy()
  expect(loginCall.headers.Authorization).toBeUndefined()

  // The getPhoneNumber button hands the page a one-time code from WeChat.
  const minted = await request('POST', `${state().wechatUrl}/_control/phone_code`, { json: { phone: person.phone } })
  await login.event('#bind-phone', 'getphonenumber', { code: minted.json.code, errMsg: 'getPhoneNumber:ok' })
  const bound = phone.requests.find(r => r.url.endsWith('/v1/auth/wechat/phone'))
  expect(bound.status).toBe(200)
  expect(bound.headers.Authorization).toMatch(/^Bearer .+/)
  expect(login.data.account.phone).toBe(rules.maskedPhone(person.phone))
  expect(login.data.account.verified).toBe(false)
  expect(mp.lastNavigation()).toEqual({ type: 'redirectTo', url: '/pages/realname/index' })

  // Real-name binding: a typing mistake in the ID number is caught on the phone.
  const realname = await mp.open('pages/realname/index')
  const typo = person.idNumber.slice(0, 17) + (person.idNumber[17] === '1' ? '2' : '1')
  await realname.input('#id-number', typo)
  await realname.input('#name', person.name)
  await realname.tap('#request-code')
  expect(realname.data.step).toBe('form')
  expect(realname.data.notice.text).toContain('身份证号码不正确')

  await realname.input('#id-number', person.idNumber)
  await realname.tap('#request-code')
  expect(realname.data.step).toBe('code')
  expect(realname.textOf('#sent-message')).toContain('验证码')

  // A wrong code is refused in plain words; the right one (from the SMS stand-in) binds.
  const code = await fx.smsCode(person.phone)
  await realname.input('#sms-code', code === '000000' ? '111111' : '000000')
  await realname.tap('#confirm')
  expect(realname.data.step).toBe('code')
  expect(realname.data.notice.text).toMatch(/验证码.*请/)
  await realname.input('#sms-code', code)
  await realname.tap('#confirm')
  expect(realname.data.step).toBe('done')
  expect(realname.data.notice.kind).toBe('ok')

  // The account is now the person's: the home page shows their own status, not a login task.
  const home = await mp.open('pages/home/index')
  expect(home.data.verified).toBe(true)
  expect(home.data.person.person_id).toBe(person.personId)
  expect(home.data.person.id_number).toBe(rules.maskedIdNumber(person.idNumber))
  expect(home.data.tasks.map(t => t.id)).not.toContain('realname')
})
