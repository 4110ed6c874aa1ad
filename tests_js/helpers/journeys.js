/** Steps several journeys share, done through the pages as a person would. */
const mp = require('./mp')
const fx = require('./fixtures')

/**
 * A person on their own phone: WeChat login (phone binding skipped), then real-name
 * binding with the SMS code. Returns the phone (device), left current.
 */
async function signIn(person, deviceName = `${person.name}的手机`) {
  const device = mp.newDevice(deviceName)
  const codesBefore = (await fx.smsTo(person.phone)).filter(m => m.params && m.params.code).length
  const login = await mp.open('pages/login/index')
  await login.tap('#wechat-login')
  if (login.data.step === 'phone') await login.tap('#skip-phone')
  const realname = await mp.open('pages/realname/index')
  await realname.input('#id-number', person.idNumber)
  await realname.input('#name', person.name)
  await realname.tap('#request-code')
  if (realname.data.step !== 'code') throw new Error(`real-name code refused: ${JSON.stringify(realname.data.notice)}`)
  const code = await fx.smsCode(person.phone, { after: codesBefore })
  await realname.input('#sms-code', code)
  await realname.tap('#confirm')
  if (realname.data.step !== 'done') throw new Error(`real-name binding refused: ${JSON.stringify(realname.data.notice)}`)
  login.close()
  realname.close()
  return device
}

module.exports = { signIn }
